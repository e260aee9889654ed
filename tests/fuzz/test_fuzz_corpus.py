"""Replays tests/fuzz/corpus/: every input that ever broke a reader (the input-side cases of issue 13 first), each
through the reader it broke, with the answer it must get now. A file added to the corpus must be listed in
``EXPECTED`` (the test says so), so nothing there goes unreplayed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from inputs_kit import assert_clean, inventory, line, run

from hubserver import FakeFile, FakeHub, dense_repo, serve_recorded_hub

CORPUS = Path(__file__).parent / "corpus"
REPO = "fuzz/dense"

#: Corpus file -> (exit code, a phrase stderr must hold; "" for none).
EXPECTED: dict[str, tuple[int, str]] = {
    "stream-brace-lines-16000.ndjson": (2, "stopped reading: 10000 inputs in a row"),
    "stream-stray-brace-before-inventory.ndjson": (0, "incomplete JSON object"),
    "stream-junk-lines.txt": (2, "no inventory could be planned"),
    "stream-invalid-utf8.ndjson": (2, "not UTF-8 text"),
    "inventory-5000-digit-integer.json": (2, "a number of"),
    "inventory-invalid-utf8.json": (2, "not UTF-8 text"),
    "inventory-nan-ram.json": (2, "ram.total_bytes: NaN is not a number JSON allows"),
    "profile-nested-100k.json": (0, "ignoring user profile"),
    "profile-huge-number.json": (0, "ignoring user profile"),
    "hub-info-nested-100k.json": (2, "nested more than 64 levels deep"),
    "hub-info-sha-escapes.json": (0, ""),  # the escaped sha is not a commit: not used, not shown
    "hub-index-total-size-infinity.json": (2, "total_size: Infinity is not a number JSON allows"),
    "hub-config-lone-surrogate-model-type.json": (2, "lone surrogate"),
    "hub-config-4300-digit-layers.json": (2, "a number of 4300 characters"),
    "hub-config-negative-layers.json": (2, "num_hidden_layers: -61 is not a count"),
    "hub-raw-redirect-loop.json": (2, "redirected more than 10 times"),
    "hub-raw-error-message-escapes.json": (2, "HTTP 500 Internal Server Error"),  # the server's text: never shown
    "secret-token-file.txt": (2, "not an inventory"),
    "secret-environ.bin": (2, "not an inventory"),
    "option-ray-timeout-nan.json": (2, "--ray-timeout nan"),
    "option-read-timeout-inf.json": (2, "--read-timeout inf"),
    "option-model-dir-escapes.json": (0, ""),
    # issue 19: one bounded integer parser, fleet first, cut-off objects (k8s-*/slurm-*: tests/fuzz/test_fuzz_inputs.py)
    "option-gpus-5000-digits.json": (2, "--gpus '9999999999999999999999999999999999999999'... (5,005 characters)"),
    "option-gpus-4000-digit-count-echo.json": (2, "a number of 4,000 digits is more than any count or size"),
    "option-ram-5000-digits.json": (2, "--ram: '9999999999999999999999999999999999999999'... (5,002 characters)"),
    "option-ram-1e999.json": (2, "--ram: '1e999GB' is not a size"),
    "k8s-label-5000-digits.json": (0, "labels['nvidia.com/gpu.count']: a number of 5,000 digits is out of range"),
    "slurm-gres-5000-digits.json": (0, "the GPU count: a number of 5,000 digits is out of range"),
    "stream-truncated-pretty-then-node.ndjson": (0, "incomplete JSON object (a new object starts at line"),
    "stream-truncated-compact-then-pretty-node.ndjson": (0, "<stdin>:1: incomplete JSON object"),
    "stream-valid-node-then-junk.ndjson": (0, "stopped reading: 10000 inputs in a row"),
    "stream-truncated-compact-same-line-then-node.ndjson": (0, "<stdin>:1: incomplete JSON object (a new"),
    "slurm-real-memory-5000-digits.json": (0, "(huge-memory): real_memory: a number of 5000 characters (at most 100)"),
    "slurm-cores-nan.json": (0, "(nan-cores): cores: NaN is not a number JSON allows"),
    "k8s-kubelet-port-5000-digits.json": (0, "(huge-port): status.daemonEndpoints.kubeletEndpoint.Port: a number"),
    # issue 19: no secret printed, a malformed HF_ENDPOINT or an empty HOME is one line (env-*: tests/fuzz/test_fuzz_hub.py)
    "hub-raw-error-body-echoes-bearer.json": (2, "answered HTTP 401 Unauthorized"),
    "env-hf-endpoint-userinfo-token.json": (0, ""),
    "env-hf-endpoint-query-token.json": (2, "/?<redacted> answered HTTP 404 Not Found"),
    "env-hf-endpoint-ipv6-unclosed.json": (2, "HF_ENDPOINT 'http://[::1': not a URL"),
    "env-hf-endpoint-port-99999.json": (2, "Port out of range 0-65535"),
    "env-hf-endpoint-control-char.json": (2, "no spaces or control characters"),
    "env-home-empty-import.json": (2, "no safe user config folder: HOME is empty"),
    # issue 19: one line each to the real `vram-advisor mcp` (mcp-*: tests/fuzz/test_fuzz_mcp.py); the number is
    # the JSON-RPC error code of the reply, 0 for a tool result that is a clean tool error
    "mcp-id-object.json": (-32600, "the id is an object"),
    "mcp-id-null.json": (-32600, "the id is null"),
    "mcp-5000-digit-id.json": (-32600, "id is a number of 5000 digits (at most 4300)"),
    "mcp-5000-digit-integer-argument.json": (-32602, "params.arguments.context is a number of 5000 digits"),
    "mcp-gpus-5000-digit-count.json": (0, ""),
    # issue 19: raw requests to the real `serve` agent (http-*: tests/fuzz/test_fuzz_http.py); the number is the
    # HTTP status of the answer, 0 for a connection closed without one (the header deadline)
    "http-absolute-form-other-host.bin": (421, "is not allowed"),
    "http-conflicting-content-length.bin": (400, "conflicting Content-Length"),
    "http-nul-in-header.bin": (400, "malformed header line"),
    "http-slowloris-partial-head.bin": (0, ""),
}


def test_every_corpus_file_is_replayed() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(EXPECTED)


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    for hub in serve_recorded_hub(monkeypatch, tmp_path):
        hub.repos[REPO] = dense_repo(REPO)
        yield hub


def _check(name: str, code: int, err: str, out: str) -> None:
    expected_code, phrase = EXPECTED[name]
    assert code == expected_code, err
    assert phrase in err, err
    assert "\x1b" not in err + out and "CORPUSSECRET" not in err + out


def _name(prefix: str) -> list[str]:
    return sorted(name for name in EXPECTED if name.startswith(prefix))


@pytest.mark.parametrize("name", _name("stream-"))
def test_streams(name: str) -> None:
    outcome = run(["cluster", "--json", "-"], stdin=(CORPUS / name).read_bytes())
    assert_clean(outcome, one_input=False)
    _check(name, outcome.code, outcome.err, outcome.out)
    if outcome.code == 0:
        assert [n["hostname"] for n in json.loads(outcome.out)["nodes"]] == ["corpus-node"]


@pytest.mark.parametrize("name", _name("inventory-"))
def test_inventories(name: str) -> None:
    path = CORPUS / name
    for args, stdin in (
        (["check", "--json", "--inventory", str(path)], b""),
        (["check", "--json", "--inventory", "-"], path.read_bytes()),
        (["cluster", "--json", str(path)], b""),
    ):
        outcome = run(args, stdin=stdin)
        assert_clean(outcome)
        _check(name, outcome.code, outcome.err, outcome.out)


@pytest.mark.parametrize("name", _name("profile-"))
def test_user_profiles(name: str, tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / name).write_bytes((CORPUS / name).read_bytes())
    inventory_path = tmp_path / "inventory.json"
    inventory_path.write_bytes(line(inventory()))
    env = {"VRAM_ADVISOR_PROFILES": str(folder)}
    outcome = run(["check", "--json", "--inventory", str(inventory_path)], env=env)
    assert_clean(outcome)
    _check(name, outcome.code, outcome.err, outcome.out)
    assert_clean(run(["models", "--json"], env=env))


@pytest.mark.parametrize("name", _name("hub-"))
def test_hub_answers(name: str, fake_hub: FakeHub, tmp_path: Path) -> None:
    body = (CORPUS / name).read_bytes()
    api = f"/api/models/{REPO}"
    if name.startswith("hub-info-"):
        for path in (api, f"{api}/revision/main"):
            fake_hub.raw[path] = (200, {"Content-Type": "application/json"}, body)
    elif name.startswith("hub-raw-"):
        spec = json.loads(body)
        for path in (api, f"{api}/revision/main"):
            fake_hub.raw[path] = (spec["status"], spec["headers"], spec["body"].encode())
    else:
        file = "config.json" if name.startswith("hub-config-") else "model.safetensors.index.json"
        repo = fake_hub.repos[REPO]
        repo.files = [f if f.path != file else FakeFile(file, body) for f in repo.files]
    profiles = tmp_path / "profiles"
    outcome = run(["models", "import", REPO, "--id", "corpus"], env={"VRAM_ADVISOR_PROFILES": str(profiles)})
    assert_clean(outcome)
    _check(name, outcome.code, outcome.err, outcome.out)
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("name", _name("secret-"))
def test_files_that_are_not_inventories_never_leak(name: str, tmp_path: Path) -> None:
    folder = tmp_path / "inventories"
    folder.mkdir()
    (folder / "n1.json").write_bytes(line(inventory("n1")))
    (folder / "n2.json").symlink_to(CORPUS / name)
    outcome = run(["cluster", "--json", str(folder)])
    assert outcome.code == 0 and "outside this folder" in outcome.err
    assert "CORPUSSECRET" not in outcome.out + outcome.err
    outcome = run(["cluster", "--json", "--follow-symlinks", str(folder)])
    assert outcome.code == 0 and "CORPUSSECRET" not in outcome.out + outcome.err
    outcome = run(["cluster", "--json", str(CORPUS / name)])
    assert_clean(outcome)
    _check(name, outcome.code, outcome.err, outcome.out)


@pytest.mark.parametrize("name", _name("option-"))
def test_option_strings(name: str, tmp_path: Path) -> None:
    args = json.loads((CORPUS / name).read_text())
    if args[0] == "check":
        inventory_path = tmp_path / "inventory.json"
        inventory_path.write_bytes(line(inventory()))
        args += ["--inventory", str(inventory_path)]
    outcome = run(args)
    assert_clean(outcome)
    _check(name, outcome.code, outcome.err, outcome.out)
