"""No planted secret is ever printed (issue: credentials in HF_ENDPOINT, a token in its query string, a mirror that
echoes ``Authorization: Bearer hf_...`` in its error answers).

Secrets are planted in ``HF_ENDPOINT`` (userinfo and query string), in ``HF_TOKEN`` (one shaped like a Hugging Face
token, one a mirror's own shape that no pattern knows) and in the fake Hub's error answers (tests/hubserver.py: the
body, ``X-Error-Message`` and the headers echo the request's Authorization header and every secret). Every command
that talks to the Hub, and ``doctor``, runs with and without ``--json``; stdout and stderr, including what the
libraries write to the real file descriptors (``capfd``: huggingface_hub logs through its own stderr handler), must
hold none of the secrets. Failures are exit 2 with one line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import gpu, inventory_dict
from hubserver import FakeHub, dense_repo, serve_recorded_hub
from vram_advisor.core import redact

REPO = "acme/Echo-32B"
USERINFO_SECRET = "hf_UserinfoSecret0123456789"
QUERY_SECRET = "hf_QuerySecret0123456789abc"
TOKENS = ("hf_TokenSecret0123456789abcdefgh", "mirrortok-Z9x8c7v6b5n4m3")
SECRETS = (USERINFO_SECRET, QUERY_SECRET, "PlainPassw0rdInUserinfo", *TOKENS)


def _echo(token: str) -> tuple[dict[str, str], bytes]:
    """What a careless mirror answers on an error: the request's credentials, everywhere it can put them."""
    echoed = f"Authorization: Bearer {token}; token={token}; " + " ".join(SECRETS)
    headers = {
        "Content-Type": "application/json",
        "X-Error-Message": echoed,
        "WWW-Authenticate": f'Bearer realm="{token}"',
    }
    return headers, json.dumps({"error": echoed, "token": token, "authorization": f"Bearer {token}"}).encode()


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    for hub in serve_recorded_hub(monkeypatch, tmp_path):
        hub.repos[REPO] = dense_repo(REPO)
        yield hub


def _endpoints(url: str) -> dict[str, str]:
    host = url.removeprefix("http://")
    return {
        "userinfo": f"http://vram:{USERINFO_SECRET}@{host}",
        "userinfo-plain": f"http://PlainPassw0rdInUserinfo@{host}",
        "query": f"{url}/?token={QUERY_SECRET}",
        "plain": url,
    }


def _commands(inventory: str) -> list[list[str]]:
    check = ["check", "--inventory", inventory]
    out = [
        ["models", "import", REPO, "--id", "echo"],
        [*check, "--repo", REPO],
        [*check, "--require", "deepseek-v4-flash:q4", "--repo", REPO],
        ["doctor"],
    ]
    return out + [[*args, "--json"] for args in out]


def _assert_no_secret(text: str, args: list[str]) -> None:
    for secret in SECRETS:
        assert secret not in text, (args, text)
    assert "Bearer hf_" not in text and "Bearer mirrortok" not in text, (args, text)


@pytest.mark.parametrize("endpoint", ["userinfo", "userinfo-plain", "query", "plain"])
@pytest.mark.parametrize("status", [401, 403, 404, 500])
@pytest.mark.parametrize("where", ["info", "resolve"])
def test_no_planted_secret_is_printed(cli, fake_hub, tmp_path, capfd, endpoint, status, where):  # type: ignore[no-untyped-def]
    token = TOKENS[len(endpoint) % 2]  # both shapes of token, across the endpoints
    headers, body = _echo(token)
    api = f"/api/models/{REPO}"
    paths = [api, f"{api}/revision/main"] if where == "info" else [f"/{REPO}/resolve/main/config.json"]
    for path in paths:
        fake_hub.raw[path] = (status, headers, body)
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559)])))
    env = {
        "HF_ENDPOINT": _endpoints(fake_hub.url)[endpoint],
        "HF_TOKEN": token,
        "VRAM_ADVISOR_PROFILES": str(tmp_path / "profiles"),
        "VRAM_ADVISOR_HUB_TIMEOUT": "1",  # huggingface_hub retries a 500 with backoff: the deadline ends it
    }
    capfd.readouterr()
    for args in _commands(str(inventory)):
        result = cli(args, env=env)
        assert result.code in (0, 1, 2), (args, result)
        assert "Traceback" not in result.err and "internal error" not in result.err, result.err
        if result.code == 2:
            assert result.err.count("\n") == 1 and result.err.startswith("vram-advisor: error: "), result.err
        captured = capfd.readouterr()
        _assert_no_secret(result.out + result.err + captured.out + captured.err, args)
        if args[0] == "models" and where == "info" and endpoint != "query":  # (a query string breaks the routes)
            assert f"answered HTTP {status} " in result.err, result.err  # the status and its standard phrase stay
    assert not (tmp_path / "profiles" / "echo.json").exists()


def test_a_successful_import_records_no_credential(cli, fake_hub, tmp_path):  # type: ignore[no-untyped-def]
    """An endpoint with credentials that works: the profile file and the JSON name it redacted."""
    profiles = tmp_path / "profiles"
    env = {
        "HF_ENDPOINT": _endpoints(fake_hub.url)["userinfo"],
        "HF_TOKEN": TOKENS[0],
        "VRAM_ADVISOR_PROFILES": str(profiles),
    }
    result = cli(["models", "import", REPO, "--id", "echo", "--json"], env=env)
    assert result.code == 0, result.err
    written = (profiles / "echo.json").read_text()
    _assert_no_secret(result.out + result.err + written, ["models", "import"])
    assert json.loads(result.out)["imported"]["endpoint"] == f"http://<redacted>@{fake_hub.url[7:]}"
    assert fake_hub.requests  # the credentials were used, only never shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("http://[::1", "'http://[::1'"),
        ("http://127.0.0.1:99999", "Port out of range"),
        ("ftp://x", "expected an http:// or https:// URL"),
        ("http://", "the URL names no host"),
        ("http://a b.example", "no spaces or control characters"),
        ("http://a\x01b.example", "'http://a\\x01b.example'"),
        (f"http://u:{USERINFO_SECRET}@[::1?token={QUERY_SECRET}", "'http://<redacted>@[::1?<redacted>'"),
        (f"ftp://u:{USERINFO_SECRET}@x/?token={QUERY_SECRET}", "'ftp://<redacted>@x/?<redacted>'"),
    ],
)
def test_a_malformed_endpoint_is_one_line_naming_it(cli, fake_hub, tmp_path, value, shown):  # type: ignore[no-untyped-def]
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559)])))
    env = {"HF_ENDPOINT": value, "VRAM_ADVISOR_PROFILES": str(tmp_path / "profiles")}
    before = len(fake_hub.requests)
    for args in (["models", "import", REPO], ["check", "--inventory", str(inventory), "--repo", REPO, "--json"]):
        result = cli(args, env=env)
        assert result.code == 2, result
        assert result.err.count("\n") == 1 and result.err.startswith("vram-advisor: error: HF_ENDPOINT "), result.err
        assert shown in result.err
        _assert_no_secret(result.out + result.err, args)
    assert len(fake_hub.requests) == before  # refused before any request


def test_huggingface_hub_would_fail_on_import_with_these_endpoints():
    """Why the endpoint is checked before the library is imported: it parses HF_ENDPOINT at import time."""
    import subprocess
    import sys

    for value in ("http://[::1", "http://127.0.0.1:99999"):
        done = subprocess.run(
            [sys.executable, "-c", "import huggingface_hub.utils._http"],
            env={"HF_ENDPOINT": value, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            check=False,
        )
        assert done.returncode != 0 and b"ValueError" in done.stderr


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pass@mirror.example/hub", "https://<redacted>@mirror.example/hub"),
        ("https://u:pa/ss@mirror.example", "https://<redacted>@mirror.example"),  # a password with a slash
        ("https://mirror.example/?token=abc&x=1#frag", "https://mirror.example/?<redacted>#<redacted>"),
        ("https://huggingface.co", "https://huggingface.co"),
        ("http://[::1", "http://[::1"),
        ("not a url hf_abcdefghijklmnop", "not a url <redacted>"),
    ],
)
def test_redact_url(url, shown):
    assert redact.redact_url(url) == shown


def test_free_text_loses_query_strings_and_userinfo():
    text = "GET https://u:p@h.example/api?token=hf_x&sig=1 failed; see https://h.example/docs"
    assert (
        redact.scrub_text(text) == "GET https://<redacted>@h.example/api?<redacted> failed; see https://h.example/docs"
    )


def test_doctor_shows_the_endpoint_redacted():
    shown = redact.relevant_environment({"HF_ENDPOINT": f"https://u:{USERINFO_SECRET}@m.example/?sig={QUERY_SECRET}"})
    assert shown["HF_ENDPOINT"] == "https://<redacted>@m.example/?<redacted>"
