"""Fuzzing Hub answers through the loopback Hub (tests/hubserver.py): huggingface_hub's own client runs unchanged,
only the answers are hostile (API listings, config.json, the safetensors index, headers, redirects). Properties:
``models import`` and ``check --repo`` end with exit 0, 1 or 2, one line for 2, no terminal escape on stderr, and no
temporary file left in the profile folder."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from inputs_kit import FAST, Outcome, assert_clean, dumps_loose, hostile_texts, inventory, json_values, line, run

from hubserver import DENSE_CONFIG, FakeFile, FakeHub, dense_repo, serve_recorded_hub

REPO = "fuzz/dense"


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    for hub in serve_recorded_hub(monkeypatch, tmp_path):
        hub.repos[REPO] = dense_repo(REPO)
        yield hub


def _clean_hub_outcome(outcome: Outcome, profiles: Path) -> None:
    assert_clean(outcome)
    assert "\x1b" not in outcome.err and "\x07" not in outcome.err
    assert not list(profiles.glob("*.tmp")) and not list(profiles.glob(".*.tmp"))


def _answer(hub: FakeHub, path: str) -> Any:
    with urllib.request.urlopen(hub.url + path) as reply:  # the fake Hub's own answer, to mutate
        return json.loads(reply.read())


def _mutated(draw: st.DrawFn, data: Any) -> bytes:
    data = json.loads(json.dumps(data))
    holder = data
    if isinstance(data.get("siblings"), list) and data["siblings"] and draw(st.booleans()):
        holder = data["siblings"][0]
    holder[draw(st.sampled_from([*sorted(holder), "extra"]))] = draw(json_values)
    return dumps_loose(data)


answers = st.one_of(hostile_texts, json_values.map(dumps_loose), st.binary(max_size=100))


@FAST
@given(data=st.data(), which=st.sampled_from(["info", "config", "index"]))
def test_a_hostile_hub_answer_is_one_line(fake_hub: FakeHub, tmp_path: Path, data: st.DataObject, which: str) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir(exist_ok=True)
    repo = dense_repo(REPO)
    fake_hub.repos[REPO] = repo
    fake_hub.raw.clear()
    if which == "info":
        real = _answer(fake_hub, f"/api/models/{REPO}")
        body = data.draw(st.one_of(answers, st.composite(lambda draw: _mutated(draw, real))()))
        fake_hub.raw[f"/api/models/{REPO}"] = (200, {"Content-Type": "application/json"}, body)
        fake_hub.raw[f"/api/models/{REPO}/revision/main"] = (200, {"Content-Type": "application/json"}, body)
    else:
        name = "config.json" if which == "config" else "model.safetensors.index.json"
        original = DENSE_CONFIG if which == "config" else {"metadata": {"total_size": 1}, "weight_map": {}}
        body = data.draw(st.one_of(answers, st.composite(lambda draw: _mutated(draw, original))()))
        repo.files = [f if f.path != name else FakeFile(name, body) for f in repo.files]
    outcome = run(["models", "import", REPO, "--json", "--id", "fuzzed"], env={"VRAM_ADVISOR_PROFILES": str(profiles)})
    _clean_hub_outcome(outcome, profiles)
    if which == "info":
        inventory_path = tmp_path / "inventory.json"
        inventory_path.write_bytes(line(inventory()))
        outcome = run(["check", "--json", "--repo", REPO, "--inventory", str(inventory_path)])
        _clean_hub_outcome(outcome, profiles)


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (302, {"Location": f"/api/models/{REPO}"}, b"", "redirected more than 10 times"),
        # the server's own text is never printed (it may echo the token): the status and its standard phrase
        (500, {"X-Error-Message": "\x1b[31mred\x07"}, b"{}", "HTTP 500 Internal Server Error"),
        (200, {"Content-Type": "application/json"}, b"[" * 100_000, "nested more than 64 levels deep"),
        (200, {"Content-Type": "application/json"}, b'{"sha": "\\ud800"}', "lone surrogate"),
        (200, {"Content-Type": "application/json"}, b'{"siblings": [], "x": ' + b"9" * 4300 + b"}", "characters"),
    ],
)
def test_hostile_answers_of_the_issue(
    fake_hub: FakeHub, tmp_path: Path, status: int, headers: dict[str, str], body: bytes, expected: str
) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    fake_hub.raw[f"/api/models/{REPO}"] = (status, headers, body)
    fake_hub.raw[f"/api/models/{REPO}/revision/main"] = (status, headers, body)
    outcome = run(["models", "import", REPO, "--id", "fuzzed"], env={"VRAM_ADVISOR_PROFILES": str(profiles)})
    _clean_hub_outcome(outcome, profiles)
    assert outcome.code == 2 and expected in outcome.err, outcome.err


def test_a_huge_answer_is_refused_without_holding_it(fake_hub: FakeHub, tmp_path: Path) -> None:
    from vram_advisor.hub import transport

    body = b'{"siblings": [' + b'{"rfilename": "x"},' * (transport.MAX_ANSWER_BYTES // 18) + b"{}]}"
    fake_hub.raw[f"/api/models/{REPO}"] = (200, {"Content-Type": "application/json"}, body)
    fake_hub.raw[f"/api/models/{REPO}/revision/main"] = (200, {"Content-Type": "application/json"}, body)
    outcome = run(["models", "import", REPO, "--id", "fuzzed"], env={"VRAM_ADVISOR_PROFILES": str(tmp_path)})
    assert outcome.code == 2 and "larger than 64 MiB" in outcome.err, outcome.err


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("num_hidden_layers", -61, "num_hidden_layers: -61 is not a count"),
        ("num_hidden_layers", 10**4299, "a number of 4300 characters"),
        ("model_type", "\ud800", "lone surrogate"),
    ],
)
def test_hostile_configs_of_the_issue(fake_hub: FakeHub, tmp_path: Path, field: str, value: Any, expected: str) -> None:
    repo = fake_hub.repos[REPO]
    config = dict(DENSE_CONFIG, **{field: value})
    repo.files = [
        f if f.path != "config.json" else FakeFile("config.json", json.dumps(config).encode()) for f in repo.files
    ]
    outcome = run(["models", "import", REPO, "--id", "fuzzed"], env={"VRAM_ADVISOR_PROFILES": str(tmp_path)})
    _clean_hub_outcome(outcome, tmp_path)
    assert outcome.code == 2 and expected in outcome.err, outcome.err


def test_an_infinite_total_size_is_one_line(fake_hub: FakeHub, tmp_path: Path) -> None:
    repo = fake_hub.repos[REPO]
    index = b'{"metadata": {"total_size": Infinity}, "weight_map": {}}'
    name = "model.safetensors.index.json"
    repo.files = [f if f.path != name else FakeFile(name, index) for f in repo.files]
    outcome = run(["models", "import", REPO, "--id", "fuzzed"], env={"VRAM_ADVISOR_PROFILES": str(tmp_path)})
    _clean_hub_outcome(outcome, tmp_path)
    assert outcome.code == 2 and "total_size: Infinity is not a number JSON allows" in outcome.err, outcome.err


def test_a_full_disk_leaves_no_temporary_file(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: FullDisk(real_fdopen(fd, *a, **k)))
    profiles = tmp_path / "profiles"
    outcome = run(["models", "import", REPO, "--id", "fuzzed"], env={"VRAM_ADVISOR_PROFILES": str(profiles)})
    assert outcome.code == 2 and "No space left on device" in outcome.err, outcome.err
    assert list(profiles.iterdir()) == []


def _corpus_env_cases() -> list[str]:
    from test_fuzz_corpus import EXPECTED

    return sorted(name for name in EXPECTED if name.startswith("env-"))


@pytest.mark.parametrize("name", _corpus_env_cases())
def test_corpus_environments(name: str, fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The corpus's ``env-*`` cases (tests/fuzz/corpus): a hostile environment (``HF_ENDPOINT``, ``HOME``) for one
    command, ``{hub}`` standing for the loopback Hub's host:port; listed in ``test_fuzz_corpus.EXPECTED``."""
    from test_fuzz_corpus import CORPUS, _check

    case = json.loads((CORPUS / name).read_text())
    env = {key: None if value is None else value.replace("{hub}", fake_hub.url.removeprefix("http://"))
           for key, value in case["env"].items()}  # fmt: skip
    env.setdefault("VRAM_ADVISOR_PROFILES", str(tmp_path / "profiles"))
    args = list(case["args"])
    if args[0] == "check":
        inventory_path = tmp_path / "inventory.json"
        inventory_path.write_bytes(line(inventory()))
        args += ["--inventory", str(inventory_path)]
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)  # a profile written relative to an empty HOME would land here
    outcome = run(args, env=env)
    assert_clean(outcome)
    _check(name, outcome.code, outcome.err, outcome.out)
    assert list(work.iterdir()) == []
    written = tmp_path / "profiles"
    for path in written.glob("*") if written.is_dir() else ():
        assert "CORPUSSECRET" not in path.read_text(errors="replace")
