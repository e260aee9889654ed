"""``verify`` end to end against a real llama.cpp ``llama-server``, built from the ``llama-cpp-python`` sdist
(tools/build_llama_server.sh; ``.ci/run`` builds it and points ``VRAM_ADVISOR_ENGINE_DIR`` at it), serving a tiny
generated GGUF: the engine is named, the client's decode speed agrees with llama-server's own ``timings``, and the
point lands in the store and appears in the next ``check``.

Where the engine was not built these tests skip, unless ``VRAM_ADVISOR_REQUIRE_ENGINE=1`` (as in CI), where its
absence fails them. The 15% agreement is measured by ``bench/verify_agreement.py``; here it is checked loosely (2x),
since machines are noisy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.engine.server import find_engine, running_llama_server

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def engine_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    engine = find_engine()
    if engine is None:
        if os.environ.get("VRAM_ADVISOR_REQUIRE_ENGINE") == "1":
            pytest.fail("VRAM_ADVISOR_REQUIRE_ENGINE=1 but no llama-server in $VRAM_ADVISOR_ENGINE_DIR")
        pytest.skip("no llama-server built (tools/build_llama_server.sh DIR; VRAM_ADVISOR_ENGINE_DIR=DIR)")
    from tests.engine.tiny_gguf import write_tiny_gguf

    model = write_tiny_gguf(tmp_path_factory.mktemp("model") / "tiny.gguf", engine.vocab)
    with running_llama_server(engine.binary, model, ctx=2048, threads=1, alias="tiny-random-llama") as url:
        yield url


def _run(args: list[str], store: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VRAM_ADVISOR_CALIBRATION": str(store), "COLUMNS": "100"}
    return subprocess.run(
        [sys.executable, "-m", "vram_advisor", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_verify_names_llama_cpp_and_agrees_with_its_own_timings(engine_url: str, tmp_path: Path) -> None:
    store = tmp_path / "calibration.json"
    result = _run(["verify", "--url", engine_url, "--json", "--tokens", "128"], store)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["engine"] == "llama.cpp"
    assert "/props (llama-server)" in document["served"]["identified_by"]
    assert document["context_tokens"] == 2048
    measured = document["measured"]
    assert measured["tokens"] == 128 and measured["finish_reason"] == "length"
    assert measured["engine_source"] == "llama-server timings.predicted_per_second"
    assert 0.5 <= measured["client_vs_engine"] <= 2.0
    # a tiny random model is no profile option: said, measured anyway, nothing kept
    assert document["mapping"] is None and "no published download" in document["mapping_reason"]
    assert document["stored"] is None and not store.exists()


def test_the_point_is_kept_and_the_next_check_shows_it(engine_url: str, tmp_path: Path) -> None:
    store = tmp_path / "calibration.json"
    result = _run(
        [
            "verify",
            "--url",
            engine_url,
            "--json",
            "--tokens",
            "64",
            "--as",
            "deepseek-v4-flash:q2",
            "--placement",
            "cpu",
        ],
        store,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["stored"]["points"] == 1
    assert document["estimate"]["model"] == "deepseek-v4-flash" and document["estimate"]["placement"] == "cpu"
    assert document["ratio"] is not None and document["within_range"] is False  # a tiny model is far faster
    assert "ABOVE its range" in document["verdict"]
    assert stat_mode(store) == 0o600
    check = json.loads(_run(["check", "--json"], store).stdout)
    measured = check["measured"]
    assert len(measured) == 1
    assert measured[0]["decode_tokens_per_s"] == document["measured"]["decode_tokens_per_s"]
    assert (measured[0]["model"], measured[0]["quant"], measured[0]["engine"]) == (
        "deepseek-v4-flash",
        "q2",
        "llama.cpp",
    )
    probe = json.loads(_run(["probe", "--json"], store).stdout)
    assert probe["measured"][0]["served_model"] == document["model"]
    assert json.loads(_run(["check", "--json", "--no-calibration"], store).stdout)["measured"] == []


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777
