"""``verify`` against stand-in servers: the measurement against a pace set by the clock, and every fault case (stall,
garbage, endless stream, redirect, 401) ending within its deadline as one line and exit 2; keys sent only when given,
never across a redirect, never printed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tests.engine.standin import Behaviour, standin

INVENTORY = str(Path(__file__).parent.parent / "examples" / "workstation.json")


def _verify(cli, url: str, *extra: str, env: dict[str, str | None] | None = None):  # type: ignore[no-untyped-def]
    return cli(["verify", "--url", url, "--inventory", INVENTORY, *extra], env=env)


def test_a_stream_at_40_tokens_a_second_after_300_ms_is_measured_within_15_percent(cli) -> None:  # type: ignore[no-untyped-def]
    with standin(Behaviour("paced", first_token_s=0.3, tokens_per_s=40.0)) as url:
        result = _verify(cli, url, "--json", "--tokens", "64")
    assert result.code == 0, result.err
    document = result.json()
    measured = document["measured"]
    assert measured["tokens"] == 64
    assert 40 * 0.85 <= measured["decode_tokens_per_s"] <= 40 * 1.15
    assert 0.25 <= measured["first_token_s"] <= 0.6
    assert document["engine"] == "vllm"
    assert document["schema"] == "vram-advisor/verify/v1"
    assert document["stored"] is None  # an --inventory: not this machine's measurement to keep


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("stall", "no answer within"),
        ("garbage", "not HTTP"),
        ("endless", "streams forever"),
        ("redirect", "redirects (HTTP 302)"),
        ("401", "asks for credentials (HTTP 401)"),
        ("stall-stream", "stalled"),
        ("garbage-stream", "not JSON events"),
        ("trickle-models", "no whole answer within 2 s"),
        ("trickle-stream", "no whole answer within 3 s"),
        ("chunk-overflow", "not HTTP"),
        ("deep-json", "not JSON"),
    ],
)
def test_a_hostile_server_ends_in_one_line_and_exit_2_within_its_deadline(cli, mode: str, words: str) -> None:  # type: ignore[no-untyped-def]
    with standin(Behaviour(mode)) as url:
        started = time.monotonic()
        result = _verify(cli, url, "--timeout", "1", "--deadline", "3", "--tokens", "32")
        elapsed = time.monotonic() - started
    assert result.code == 2, (result.out, result.err)
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vram-advisor: error: "), result.err
    assert words in lines[0]
    assert "Traceback" not in result.err
    assert elapsed < 3 + 2 * 1 + 2  # the deadline, the two waits before the stream, and slack for a slow machine


def test_an_inventory_carrying_measured_speeds_is_estimated_without_them(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import full_inventory

    data = full_inventory(1)
    assert data["measured"]  # a probe --json of a machine verify measured before
    path = tmp_path / "node.json"
    path.write_text(json.dumps(data))
    with standin(Behaviour("paced", first_token_s=0.0, tokens_per_s=1000.0)) as url:
        result = cli(["verify", "--url", url, "--inventory", str(path), "--as", "deepseek-v4-flash:q2", "--json"])
    assert result.code == 0, result.err
    estimate = result.json()["estimate"]
    assert estimate is not None and estimate["decode_tokens_per_s"]["measured_here"] is None


def test_a_token_count_the_stream_does_not_bear_out_is_not_believed(cli) -> None:  # type: ignore[no-untyped-def]
    with standin(Behaviour("lying-usage")) as url:
        result = _verify(cli, url, "--json", "--tokens", "32")
    assert result.code == 0, result.err
    assert result.json()["measured"]["tokens"] == 8  # the chunks with text, not the 10**9 claimed


def test_only_a_loopback_address_is_this_machine() -> None:
    from vram_advisor.engine.http import parse_url

    assert parse_url("http://127.0.0.1:8080").local and parse_url("http://[::1]:8080/v1").local
    assert parse_url("http://localhost:8080").local
    assert not parse_url("http://127.evil.example:8080").local
    assert not parse_url("http://10.0.0.7:8080").local


def test_a_key_that_is_not_printable_ascii_is_refused_unshown(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(["verify", "--url", "http://127.0.0.1:9", "--api-key", "sk-abc\nInjected: 1"])
    assert result.code == 2 and "sk-abc" not in result.err and "(not shown)" in result.err


def test_an_endless_stream_is_cut_by_its_size_or_chunk_bound_well_before_the_deadline(cli) -> None:  # type: ignore[no-untyped-def]
    with standin(Behaviour("endless")) as url:
        result = _verify(cli, url, "--tokens", "32", "--deadline", "60")
    assert result.code == 2
    assert "more than 80 chunks" in result.err


def test_no_redirect_is_followed_so_no_key_reaches_another_origin(cli) -> None:  # type: ignore[no-untyped-def]
    elsewhere = Behaviour("paced")
    with standin(elsewhere) as other, standin(Behaviour("redirect", location=f"{other}/v1/models")) as url:
        result = _verify(cli, url, "--api-key", "sk-secret-key-123")
    assert result.code == 2
    assert elsewhere.requests == []  # the other origin heard nothing, key or no key
    assert "sk-secret-key-123" not in result.out + result.err


def test_a_key_is_sent_only_when_given_and_never_from_openai_api_key(cli) -> None:  # type: ignore[no-untyped-def]
    behaviour = Behaviour("paced", first_token_s=0.0, tokens_per_s=1000.0)
    with standin(behaviour) as url:
        plain = _verify(cli, url, env={"OPENAI_API_KEY": "sk-openai-should-never-go"})
        assert plain.code == 0, plain.err
        assert all("authorization" not in headers for _m, _p, headers in behaviour.requests)
        behaviour.requests.clear()
        keyed = _verify(cli, url, env={"VRAM_ADVISOR_API_KEY": "sk-given-456"})
    assert keyed.code == 0, keyed.err
    assert behaviour.requests and all(
        h.get("authorization") == "Bearer sk-given-456" for _m, _p, h in behaviour.requests
    )
    assert "sk-given-456" not in keyed.out + keyed.err
    assert "sk-openai-should-never-go" not in plain.out + plain.err


def test_a_refused_key_says_so_without_printing_it(cli) -> None:  # type: ignore[no-untyped-def]
    with standin(Behaviour("401")) as url:
        result = _verify(cli, url, "--api-key", "sk-wrong-789")
    assert result.code == 2
    assert "refused the key" in result.err
    assert "sk-wrong-789" not in result.err


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/", "file:///etc/passwd", "http://user:pw@127.0.0.1:8080", "127.0.0.1:8080", "http://"],
)
def test_only_plain_http_and_https_urls_are_measured(cli, url: str) -> None:  # type: ignore[no-untyped-def]
    result = _verify(cli, url)
    assert result.code == 2
    assert result.err.startswith("vram-advisor: error: --url")
    assert "pw@" not in result.err


def test_text_from_the_server_is_escaped_before_it_is_printed(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from tests.engine import standin as module

    hostile = {"object": "list", "data": [{"id": "evil\x1b[2J\x1b]0;owned\x07" + "x" * 5000, "owned_by": "vllm"}]}
    monkeypatch.setattr(module, "MODELS", hostile)
    with standin(Behaviour("paced", first_token_s=0.0, tokens_per_s=1000.0)) as url:
        result = _verify(cli, url)
    assert result.code == 0, result.err
    assert "\x1b" not in result.out and "\x07" not in result.out
    assert "x" * 300 not in result.out  # cut, not echoed whole


def test_forget_clears_the_store(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "calibration.json"
    store.write_text(json.dumps({"schema": "vram-advisor/calibration/v1", "points": []}))
    result = cli(["verify", "--forget"], env={"VRAM_ADVISOR_CALIBRATION": str(store)})
    assert result.code == 0
    assert not store.exists()
    again = cli(["verify", "--forget"], env={"VRAM_ADVISOR_CALIBRATION": str(store)})
    assert again.code == 0 and "nothing to clear" in again.err


@pytest.mark.parametrize(
    "args",
    [["--tokens", "0"], ["--tokens", "1e9"], ["--timeout", "-1"], ["--deadline", "nan"], ["--as", "nope:q4"]],
)
def test_bad_options_are_one_line_and_exit_2(cli, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    result = cli(["verify", "--url", "http://127.0.0.1:9", *args])
    assert result.code == 2
    assert len(result.err.strip().splitlines()) == 1
