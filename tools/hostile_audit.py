"""The hostile-input audit: several hundred inputs an attacker or an unlucky operator would give, run through the real
``vram-advisor`` (a subprocess each), with a table of how they ended.

Every reader is covered: inventories (``check --inventory``), cluster streams (``cluster -``), Kubernetes and Slurm
node lists, user profiles, command-line options, the environment (``HF_ENDPOINT``, ``HOME``, ``COLUMNS``,
``PYTHONIOENCODING``), output streams that are closed or full, Hub answers (a local server on 127.0.0.1 that answers
each case its own way), the MCP server's stdin and the HTTP agent's sockets.

Each case is judged on what every answer must have:

* it ends (within ``--timeout`` seconds): else **never ends**;
* exit 0, 1 or 2: else **exit 3** (or another code), and no ``Traceback`` or ``Exception ignored`` on stderr;
* where the case says which exit codes are right, one of those: else **wrong answer**;
* no planted secret (``hf_AUDIT...``) in stdout or stderr: else **secret printed**;
* a refused value is not echoed whole (no stderr line over 400 characters): else **long echo**;
* for fleets, every valid node given is planned: else **lost nodes**.

Usage: ``python tools/hostile_audit.py [--jobs N] [--timeout S] [--only FAMILY] [--json]``. Exit 0 when no case
failed a must, 1 otherwise. Run it from a checkout with the package installed (``pip install -e .``).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = json.loads((ROOT / "examples" / "gpu-node-07.json").read_text())
SECRET = "hf_AUDITsecretTOKEN0123456789abcdef"
SECRETS = (SECRET, "hunter2AUDIT")
BIG = "9" * 5000


@dataclass
class Case:
    family: str
    name: str
    args: list[str]
    stdin: bytes | None = None
    env: dict[str, str | None] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    expect: tuple[int, ...] | None = None
    nodes: int | None = None  # valid nodes in the input: all must be planned (cluster --json)
    stdout: str = "pipe"  # pipe | full | closed
    stderr: str = "pipe"
    stdin_mode: str = "pipe"  # pipe | closed


@dataclass
class Result:
    case: Case
    code: int | None
    seconds: float
    problems: list[str]
    err_tail: str


# --------------------------------------------------------------------------------------------------- the cases


def inventory(**changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(EXAMPLE))
    data.update(changes)
    return data


def dumps(data: Any) -> bytes:
    return json.dumps(data, allow_nan=True).encode()


def set_path(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(data))
    holder = copy
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return copy


class Raw:
    """A JSON value written as-is (numbers JSON cannot hold in Python: 5000 digits, NaN)."""

    def __init__(self, text: str) -> None:
        self.text = text


HOSTILE_VALUES: list[tuple[str, Any]] = [
    ("5000-digit", Raw(BIG)),
    ("negative", -1),
    ("huge", 2**80),
    ("float", 1.5),
    ("nan", Raw("NaN")),
    ("infinity", Raw("Infinity")),
    ("string", "12"),
    ("escapes", "\x1b[2J\x07"),
    ("surrogate", Raw('"\\ud800"')),
    ("null", None),
    ("list", [1, 2]),
    ("object", {"a": 1}),
    ("bool", True),
    ("1e308", Raw("1e308")),
    ("-0", Raw("-0")),
]
INVENTORY_FIELDS: list[tuple[Any, ...]] = [
    ("hostname",),
    ("gpus",),
    ("gpus", 0, "memory_total_bytes"),
    ("gpus", 0, "memory_reserved_bytes"),
    ("gpus", 0, "memory_free_bytes"),
    ("gpus", 0, "name"),
    ("gpus", 0, "index"),
    ("gpus", 0, "vendor"),
    ("gpus", 0, "visible"),
    ("ram",),
    ("ram", "total_bytes"),
    ("ram", "available_bytes"),
    ("ram", "limit_bytes"),
    ("disks",),
    ("cpu", "logical_count"),
    ("schema",),
]


def with_raw(data: Any, path: tuple[Any, ...], value: Any) -> bytes:
    if not isinstance(value, Raw):
        return dumps(set_path(data, path, value))
    marker = "@@RAW@@"
    text = json.dumps(set_path(data, path, marker))
    return text.replace(json.dumps(marker), value.text).encode()


def inventory_cases() -> Iterator[Case]:
    for path in INVENTORY_FIELDS:
        for label, value in HOSTILE_VALUES:
            raw = with_raw(EXAMPLE, path, value)
            yield Case(
                "inventory",
                f"{'.'.join(map(str, path))}={label}",
                ["check", "--inventory", "{dir}/inv.json", "--json"],
                files={"inv.json": raw},
            )
    blobs: dict[str, bytes] = {
        "empty": b"",
        "whitespace": b" \n\t ",
        "binary": bytes(range(256)) * 4,
        "invalid-utf8": b'{"schema": "\xff\xfe"}',
        "bom": b"\xef\xbb\xbf" + dumps(EXAMPLE),
        "nested-100k": b"[" * 100_000 + b"]" * 100_000,
        "nested-objects-10k": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        "over-4MiB": dumps(inventory(hostname="h" * (4 * 1024 * 1024 + 10))),
        "4MiB-whitespace": dumps(EXAMPLE) + b" " * (4 * 1024 * 1024 + 10),
        "two-objects": dumps(EXAMPLE) + dumps(EXAMPLE),
        "truncated": dumps(EXAMPLE)[:200],
        "a-list": b"[" + dumps(EXAMPLE) + b"]",
        "a-number": BIG.encode(),
        "nul-bytes": b"\x00" * 1000,
        "1000-gpus": dumps(inventory(gpus=[EXAMPLE["gpus"][0]] * 1000)),
        "100k-gpus": dumps(inventory(gpus=[EXAMPLE["gpus"][0]] * 100_000)),
        "duplicate-keys": b'{"schema": "x", "schema": "vram-advisor/inventory/v1"}',
        "future-schema": dumps(inventory(schema="vram-advisor/inventory/v99")),
        "crlf": dumps(EXAMPLE).replace(b",", b",\r\n"),
        "yaml": b"schema: vram-advisor/inventory/v1\nhostname: x\n",
    }
    for label, raw in blobs.items():
        yield Case("inventory", label, ["check", "--inventory", "{dir}/inv.json", "--json"], files={"inv.json": raw})
        yield Case("inventory", f"{label} (stdin)", ["check", "--inventory", "-", "--json"], stdin=raw)
    for label, target in [
        ("directory", "{dir}"),
        ("missing", "{dir}/nope.json"),
        ("dev-zero", "/dev/zero"),
        ("dev-urandom", "/dev/urandom"),
        ("dev-null", "/dev/null"),
        ("proc-self-environ", "/proc/self/environ"),
        ("etc-shadow", "/etc/shadow"),
    ]:
        yield Case("inventory", label, ["check", "--inventory", target, "--json", "--read-timeout", "2"], expect=(2,))


def node_line(hostname: str) -> bytes:
    return dumps(inventory(hostname=hostname)) + b"\n"


def stream_cases() -> Iterator[Case]:
    valid = node_line("good-1")
    junk: dict[str, bytes] = {
        "junk-100k-lines": b"not json at all\n" * 100_000,
        "brace-lines-20k": b"{\n" * 20_000,
        "invalid-utf8-lines": b"\xff\xfe\xfd\n" * 5000,
        "nul-lines": b"\x00" * 100_000 + b"\n",
        "one-10MB-line": b"x" * (10 * 1024 * 1024) + b"\n",
        "numbers-5000-digits": (BIG + "\n").encode() * 50,
        "nested-lines": b"[" * 100_000 + b"\n",
        "escapes": b"\x1b[2J\x1b]0;pwned\x07\n" * 1000,
        "empty-objects": b"{}\n" * 20_000,
        "wrong-schema-objects": b'{"schema":"other"}\n' * 20_000,
    }
    for label, noise in junk.items():
        yield Case(
            "stream", f"valid node then {label}", ["cluster", "-", "--json"], stdin=valid + noise, nodes=1, expect=(0,)
        )
        yield Case(
            "stream",
            f"{label} then valid node",
            ["cluster", "-", "--json"],
            stdin=noise + valid,
            nodes=None,
            expect=(0, 2),
        )
        yield Case("stream", f"{label} alone", ["cluster", "-", "--json"], stdin=noise, expect=(2,))
    pretty = json.dumps(inventory(hostname="good-2"), indent=2).encode()
    compact = dumps(inventory(hostname="good-2"))
    truncations = {
        "truncated pretty then node": pretty[: len(pretty) // 2] + b"\n" + node_line("good-3"),
        "truncated compact then node": compact[: len(compact) // 2] + b"\n" + node_line("good-3"),
        "truncated compact no newline then node": compact[: len(compact) // 2] + node_line("good-3"),
        "stray brace then node": b"{\n" + node_line("good-3"),
        "stray quote then node": b'"\n' + node_line("good-3"),
    }
    for label, raw in truncations.items():
        yield Case("stream", label, ["cluster", "-", "--json"], stdin=raw, nodes=1, expect=(0,))
    many = b"".join(node_line(f"n{i}") for i in range(200))
    yield Case(
        "stream",
        "200 nodes with junk between",
        ["cluster", "-", "--json"],
        stdin=many.replace(b"\n", b"\njunk\n"),
        nodes=200,
        expect=(0,),
    )
    yield Case(
        "stream",
        "200 nodes pretty",
        ["cluster", "-", "--json"],
        stdin=b"".join(json.dumps(inventory(hostname=f"p{i}"), indent=2).encode() for i in range(200)),
        nodes=200,
        expect=(0,),
    )
    for path in INVENTORY_FIELDS[:10]:
        for label, value in HOSTILE_VALUES[:8]:
            bad = with_raw(EXAMPLE, path, value)
            yield Case(
                "stream",
                f"bad node {'.'.join(map(str, path))}={label} among valid",
                ["cluster", "-", "--json"],
                stdin=node_line("a") + bad + b"\n" + node_line("b"),
                nodes=2,
                expect=(0,),
            )


def k8s_node(name: str, labels: dict[str, str], capacity: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "status": {
            "capacity": capacity or {"memory": "1056589608Ki", "nvidia.com/gpu": "8"},
            "allocatable": capacity or {"memory": "1056589608Ki", "nvidia.com/gpu": "8"},
        },
    }


GOOD_LABELS = {
    "nvidia.com/gpu.count": "8",
    "nvidia.com/gpu.memory": "81559",
    "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
}


def k8s_cases() -> Iterator[Case]:
    values = [BIG, "-8", "8.5", "1e9", "", " 8", "８", "0x10", "nan", "9" * 40, "\x1b[2J", "8" * 4000, "-0", "inf"]
    for key in ("nvidia.com/gpu.count", "nvidia.com/gpu.memory"):
        for value in values:
            doc = {
                "kind": "List",
                "items": [k8s_node("good", GOOD_LABELS), k8s_node("bad", {**GOOD_LABELS, key: value})],
            }
            yield Case(
                "k8s",
                f"{key}={value[:12]!r}",
                ["cluster", "--from-k8s", "{dir}/nodes.json", "--json"],
                files={"nodes.json": dumps(doc)},
                nodes=1,
                expect=(0,),
            )
    for value in ("1Ki", BIG + "Ki", "-5Gi", "1e99", "lots", "9" * 40 + "Ei"):
        doc = {
            "kind": "List",
            "items": [
                k8s_node("good", GOOD_LABELS),
                k8s_node("bad", GOOD_LABELS, {"memory": value, "nvidia.com/gpu": "8"}),
            ],
        }
        yield Case(
            "k8s",
            f"memory={value[:12]!r}",
            ["cluster", "--from-k8s", "{dir}/nodes.json", "--json"],
            files={"nodes.json": dumps(doc)},
            nodes=1,
            expect=(0,),
        )
    for label, raw in {
        "empty": b"",
        "list": b"[]",
        "nested": b"[" * 100_000,
        "no-items": b"{}",
        "items-not-list": b'{"items": 5}',
        "item-not-object": b'{"items": [5, "x", null]}',
    }.items():
        yield Case(
            "k8s",
            label,
            ["cluster", "--from-k8s", "{dir}/nodes.json", "--json"],
            files={"nodes.json": raw},
            expect=(2,),
        )


def slurm_cases() -> Iterator[Case]:
    base = json.loads((ROOT / "tests" / "fixtures" / "cluster" / "slurm-nodes.json").read_text())
    first = base["nodes"][0]
    fields = [
        ("gres", f"gpu:h100:{BIG}"),
        ("gres", "gpu:h100:-1"),
        ("gres", "gpu:" + "9" * 40),
        ("gres", "\x1b[2J"),
        ("gres", 5),
        ("real_memory", Raw(BIG)),
        ("real_memory", -5),
        ("real_memory", "lots"),
        ("real_memory", Raw("NaN")),
        ("hostname", "\x1b[2J"),
        ("name", None),
        ("cores", Raw(BIG)),
    ]
    for key, value in fields:
        bad = dict(first)
        label = value.text[:12] if isinstance(value, Raw) else repr(value)[:12]
        marker = "@@RAW@@"
        bad[key] = marker if isinstance(value, Raw) else value
        bad["hostname"] = bad.get("hostname") if key == "hostname" else "bad-node"
        bad["name"] = bad.get("name") if key == "name" else "bad-node"
        text = json.dumps({"nodes": [first, bad]})
        if isinstance(value, Raw):
            text = text.replace(json.dumps(marker), value.text)
        yield Case(
            "slurm",
            f"{key}={label}",
            ["cluster", "--from-slurm", "{dir}/nodes.json", "--json"],
            files={"nodes.json": text.encode()},
            nodes=1,
            expect=(0,),
        )
    for label, raw in {
        "empty": b"",
        "text": b"NodeName=a Gres=gpu:8\n",
        "nested": b"[" * 100_000,
        "nodes-not-list": b'{"nodes": 1}',
    }.items():
        yield Case(
            "slurm",
            label,
            ["cluster", "--from-slurm", "{dir}/nodes.json", "--json"],
            files={"nodes.json": raw},
            expect=(2,),
        )


WHATIF = ["--ram", "256GB"]


def option_cases() -> Iterator[Case]:
    gpus = [
        f"{BIG}xH100",
        f"{'9' * 4000}xH100",
        "0xH100",
        "-1xH100",
        "1xH100-" + BIG + "GB",
        "1x",
        "x",
        "",
        " ",
        "1xH100," * 5000,
        "1e9xH100",
        "nanxH100",
        "1xH100:wired=" + BIG + "GB",
        "1x\x1b[2J",
        "1xRTX4090-" + "9" * 40 + "GB",
        "9999xH100",
    ]
    for spec in gpus:
        yield Case("options", f"--gpus {spec[:16]!r}", ["check", "--gpus", spec, *WHATIF, "--json"], expect=(2,))
    rams = [BIG + "GB", "-1GB", "0GB", "1e999GB", "nanGB", "infGB", "GB", "9" * 40 + "TB", "1.5.5GB", "12QB", "\x1b[2J"]
    for ram in rams:
        yield Case("options", f"--ram {ram[:16]!r}", ["check", "--gpus", "1xH100", "--ram", ram, "--json"], expect=(2,))
    contexts = [BIG, "-1", "0", "1e999", "nan", "2M" + "9" * 30, "32k" * 100, "\x1b[2J"]
    for context in contexts:
        yield Case(
            "options",
            f"--context {context[:16]!r}",
            ["check", "--gpus", "1xH100", *WHATIF, "--context", context, "--json"],
            expect=(2,),
        )
    for option, value in [
        ("--ram-bw", BIG + "GB/s"),
        ("--ram-bw", "-5GB/s"),
        ("--disk-bw", "nanGB/s"),
        ("--disk-bw", BIG),
        ("--require", "x" * 5000),
        ("--require", "deepseek-v4-flash:" + BIG),
        ("--require", ":"),
        ("--model", "\x1b[2J"),
        ("--model", "x" * 5000),
        ("--release", BIG),
        ("--kv-dtype", "fp4"),
        ("--sizes", "huge"),
        ("--model-dir", ""),
        ("--model-dir", "/" + "a" * 5000),
    ]:
        yield Case(
            "options",
            f"{option} {value[:16]!r}",
            ["check", "--gpus", "1xH100", *WHATIF, option, value, "--json"],
            expect=(0, 1, 2),
        )
    for option, value in [
        ("--ray-timeout", "nan"),
        ("--ray-timeout", "inf"),
        ("--ray-timeout", BIG),
        ("--read-timeout", "-1"),
        ("--read-timeout", BIG),
    ]:
        yield Case("options", f"cluster {option} {value[:12]!r}", ["cluster", option, value, "{dir}"], expect=(2,))
    for value in (BIG, "-1", "nan", "99999"):
        yield Case("options", f"serve --port {value[:12]!r}", ["serve", "--port", value], expect=(2,))
    yield Case("options", "ray unreachable", ["cluster", "--ray", "127.0.0.1:1", "--ray-timeout", "2"], expect=(2,))


def environment_cases() -> Iterator[Case]:
    endpoints = [
        "http://[::1",
        "http://127.0.0.1:99999",
        "ftp://x",
        "http://",
        "http:// space",
        "http://a\x1b[2J",
        "",
        "not a url",
        f"http://user:{SECRET}@127.0.0.1:1",
        f"http://127.0.0.1:1/?token={SECRET}",
        "http://" + "a" * 5000,
    ]
    for endpoint in endpoints:
        yield Case(
            "environment",
            f"HF_ENDPOINT={endpoint[:16]!r} import",
            ["models", "import", "org/m"],
            env={"HF_ENDPOINT": endpoint, "HF_TOKEN": SECRET},
            expect=(2,),
        )
        yield Case(
            "environment",
            f"HF_ENDPOINT={endpoint[:16]!r} --repo",
            ["check", "--gpus", "1xH100", *WHATIF, "--repo", "org/m", "--json"],
            env={"HF_ENDPOINT": endpoint, "HF_TOKEN": SECRET},
            expect=(2,),
        )
    for home in ("", "/", "relative/home", "/nonexistent/home"):
        yield Case(
            "environment",
            f"HOME={home!r} import",
            ["models", "import", "org/m"],
            env={"HOME": home, "XDG_CONFIG_HOME": None, "HF_ENDPOINT": "http://127.0.0.1:1"},
            expect=(2,),
        )
        yield Case(
            "environment",
            f"HOME={home!r} check",
            ["check", "--gpus", "1xH100", *WHATIF, "--json"],
            env={"HOME": home, "XDG_CONFIG_HOME": None},
            expect=(0,),
        )
    for columns in ("99999999", "0", "-5", "abc", BIG, "1"):
        yield Case(
            "environment",
            f"COLUMNS={columns[:12]} --details",
            ["check", "--gpus", "8xH100", "--ram", "1TB", "--details"],
            env={"COLUMNS": columns},
            expect=(0,),
        )
    for encoding in ("ascii", "latin-1", "utf-16", "cp1252"):
        yield Case(
            "environment",
            f"PYTHONIOENCODING={encoding}",
            ["check", "--gpus", "8xH100", "--ram", "1TB", "--details"],
            env={"PYTHONIOENCODING": encoding},
            expect=(0,),
        )
        yield Case(
            "environment",
            f"PYTHONIOENCODING={encoding} bad input",
            ["check", "--gpus", "\u2603xH100"],
            env={"PYTHONIOENCODING": encoding},
            expect=(2,),
        )
    for variable in (
        "VRAM_ADVISOR_READ_TIMEOUT",
        "HF_HUB_ETAG_TIMEOUT",
        "HF_HUB_DOWNLOAD_TIMEOUT",
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "HF_HOME",
        "CUDA_VISIBLE_DEVICES",
    ):
        for value in (BIG, "nan", "\x1b[2J", "-1"):
            yield Case(
                "environment", f"{variable}={value[:12]!r}", ["check", "--json"], env={variable: value}, expect=(0, 2)
            )


def stream_mode_cases() -> Iterator[Case]:
    runs = {
        "success": (["check", "--gpus", "8xH100", "--ram", "1TB"], 0),
        "success json": (["check", "--gpus", "8xH100", "--ram", "1TB", "--json"], 0),
        "require fits": (["check", "--inventory", "{dir}/inv.json", "--require", "deepseek-v4-flash:q4"], 0),
        "require does not fit": (
            ["check", "--gpus", "1xRTX4090", "--ram", "32GB", "--require", "deepseek-v4-pro:fp8"],
            1,
        ),
        "bad input": (["check", "--gpus", "nonsense"], 2),
        "bad option": (["check", "--no-such-option"], 2),
        "probe json": (["probe", "--json"], 0),
        "models": (["models"], 0),
    }
    for label, (args, code) in runs.items():
        for stdout, stderr, stdin in [
            ("pipe", "full", "pipe"),
            ("pipe", "closed", "pipe"),
            ("full", "pipe", "pipe"),
            ("closed", "pipe", "pipe"),
            ("full", "full", "pipe"),
            ("closed", "closed", "pipe"),
            ("pipe", "pipe", "closed"),
        ]:
            want = (code,) if stdout == "pipe" else (2,) if code == 0 else (code, 2)
            yield Case(
                "streams",
                f"{label}: stdout {stdout}, stderr {stderr}, stdin {stdin}",
                args,
                files={"inv.json": dumps(EXAMPLE)},
                stdout=stdout,
                stderr=stderr,
                stdin_mode=stdin,
                expect=want,
            )
    yield Case("streams", "cluster - with stdin closed", ["cluster", "-"], stdin_mode="closed", expect=(2,))
    yield Case(
        "streams", "--inventory - with stdin closed", ["check", "--inventory", "-"], stdin_mode="closed", expect=(2,)
    )


def profile_cases() -> Iterator[Case]:
    blobs = {
        "empty": b"",
        "junk": b"junk",
        "nested": b"[" * 100_000,
        "big-number": b'{"schema": ' + BIG.encode() + b"}",
        "over-4MiB": b'{"x": "' + b"a" * (4 * 1024 * 1024 + 10) + b'"}',
        "escapes": b'{"schema": "\x1b[2J"}',
        "surrogate": b'{"schema": "\\ud800"}',
        "invalid-utf8": b"\xff" * 100,
    }
    for label, raw in blobs.items():
        yield Case(
            "profiles",
            label,
            ["check", "--gpus", "1xH100", *WHATIF, "--json"],
            env={"XDG_CONFIG_HOME": "{dir}/config"},
            files={"config/vram-advisor/profiles/bad.json": raw},
            expect=(0,),
        )
        yield Case(
            "profiles",
            f"{label} (models)",
            ["models", "--json"],
            env={"XDG_CONFIG_HOME": "{dir}/config"},
            files={"config/vram-advisor/profiles/bad.json": raw},
            expect=(0,),
        )


# --------------------------------------------------------------------------------------------------- the Hub


HUB_ANSWERS: dict[str, tuple[int, dict[str, str], bytes]] = {
    "401 echoes bearer": (
        401,
        {"Content-Type": "application/json"},
        json.dumps({"error": f"Invalid credentials in Authorization header: Bearer {SECRET}"}).encode(),
    ),
    "403 echoes token": (403, {"Content-Type": "text/plain"}, f"forbidden for token {SECRET}".encode()),
    "404 echoes token": (
        404,
        {"Content-Type": "application/json", "X-Error-Message": f"Repository not found ({SECRET})"},
        json.dumps({"error": f"not found {SECRET}"}).encode(),
    ),
    "500 echoes password": (500, {"Content-Type": "text/html"}, b"<h1>500</h1> password=hunter2AUDIT"),
    "502 html": (502, {"Content-Type": "text/html"}, b"<html>" + b"x" * 100_000 + b"</html>"),
    "200 not json": (200, {"Content-Type": "application/json"}, b"not json"),
    "200 nested": (200, {"Content-Type": "application/json"}, b"[" * 100_000),
    "200 5000-digit": (200, {"Content-Type": "application/json"}, b'{"sha": ' + BIG.encode() + b"}"),
    "200 nan": (200, {"Content-Type": "application/json"}, b'{"sha": NaN}'),
    "200 escapes": (
        200,
        {"Content-Type": "application/json"},
        json.dumps({"id": "\x1b[2J", "sha": "\x1b[31m"}).encode(),
    ),
    "200 invalid utf8": (200, {"Content-Type": "application/json"}, b'{"id": "\xff\xfe"}'),
    "200 gzip bomb": (
        200,
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        gzip.compress(b" " * (200 * 1024 * 1024)),
    ),
    "200 empty": (200, {"Content-Type": "application/json"}, b""),
    "200 wrong length": (200, {"Content-Type": "application/json", "Content-Length": "100000"}, b"{}"),
    "301 loop": (301, {"Location": "/loop"}, b""),
    "429 retry-after huge": (429, {"Retry-After": BIG}, b"slow down"),
    "200 list": (200, {"Content-Type": "application/json"}, b"[]"),
}


class _HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, head: bool) -> None:
        key = self.path.split("/")[1] if self.path.count("/") > 1 else ""
        names = list(HUB_ANSWERS)
        if key.startswith("case") and key[4:].isdigit() and int(key[4:]) < len(names):
            status, headers, body = HUB_ANSWERS[names[int(key[4:])]]
        else:
            status, headers, body = 301, {"Location": "/loop"}, b""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            with contextlib.suppress(OSError):
                self.wfile.write(body)


def hub_cases(port: int) -> Iterator[Case]:
    for number, label in enumerate(HUB_ANSWERS):
        env: dict[str, str | None] = {
            "HF_ENDPOINT": f"http://127.0.0.1:{port}/case{number}",
            "HF_TOKEN": SECRET,
            "HF_HUB_ETAG_TIMEOUT": "5",
            "HF_HUB_DOWNLOAD_TIMEOUT": "5",
        }
        yield Case("hub", f"{label}: import", ["models", "import", "org/m"], env=env, expect=(2,))
        yield Case("hub", f"{label}: import --json", ["models", "import", "org/m", "--json"], env=env, expect=(2,))
        yield Case(
            "hub", f"{label}: --repo", ["check", "--gpus", "1xH100", *WHATIF, "--repo", "org/m"], env=env, expect=(2,)
        )
        yield Case(
            "hub",
            f"{label}: --require --repo",
            ["check", "--gpus", "1xH100", *WHATIF, "--repo", "org/m", "--require", "deepseek-v4-flash:q4", "--json"],
            env=env,
            expect=(2,),
        )


# --------------------------------------------------------------------------------------------------- running


def _prepare(case: Case, folder: Path) -> tuple[list[str], dict[str, str]]:
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    args = [arg.replace("{dir}", str(folder)) for arg in case.args]
    env = dict(os.environ)
    env.setdefault("HOME", str(folder / "home"))
    env["HOME"] = str(folder / "home")
    env["XDG_CONFIG_HOME"] = str(folder / "home" / ".config")
    env["HF_HOME"] = str(folder / "hf")
    env["HF_HUB_OFFLINE"] = "0"
    env.pop("VRAM_ADVISOR_DEBUG", None)
    for key, value in case.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value.replace("{dir}", str(folder))
    return args, env


def run_case(case: Case, timeout: float) -> Result:
    with tempfile.TemporaryDirectory(prefix="audit-") as temp:
        folder = Path(temp)
        (folder / "home").mkdir()
        args, env = _prepare(case, folder)
        closed = [fd for fd, mode in ((0, case.stdin_mode), (1, case.stdout), (2, case.stderr)) if mode == "closed"]

        def close_fds() -> None:
            for fd in closed:
                os.close(fd)

        out_path, err_path = folder / "stdout", folder / "stderr"
        with contextlib.ExitStack() as files:
            out_file = files.enter_context(open(out_path, "wb"))
            err_file = files.enter_context(open(err_path, "wb"))
            stdout: Any = files.enter_context(open("/dev/full", "wb")) if case.stdout == "full" else out_file
            stderr: Any = files.enter_context(open("/dev/full", "wb")) if case.stderr == "full" else err_file
            stdin: Any = subprocess.PIPE if case.stdin is not None else subprocess.DEVNULL
            start = time.monotonic()
            process = subprocess.Popen(
                [sys.executable, "-m", "vram_advisor", *args],
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                env=env,
                cwd=folder,
                preexec_fn=close_fds if closed else None,
            )
            feeder = None
            if case.stdin is not None:
                data = case.stdin

                def feed() -> None:
                    try:
                        assert process.stdin is not None
                        process.stdin.write(data)
                        process.stdin.close()
                    except OSError:
                        pass

                feeder = threading.Thread(target=feed, daemon=True)
                feeder.start()
            try:
                code: int | None = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                code = None
            seconds = time.monotonic() - start
        out = out_path.read_bytes().decode("utf-8", "replace")
        err = err_path.read_bytes().decode("utf-8", "replace")
    return Result(case, code, seconds, judge(case, code, out, err), err.strip()[-300:])


def safe_run(case: Case, timeout: float) -> Result:
    """``run_case``, with a failure of this harness (not of the program) shown as one."""
    try:
        return run_case(case, timeout)
    except Exception as exc:
        return Result(case, None, 0.0, [f"harness error ({exc.__class__.__name__}: {exc})"], "")


#: A piece of up to 8 characters repeated: a hostile value echoed whole is a run of 60 characters or more of it
#: (``9999...``, ``1xH100,1xH100,...``); the 40 characters a refusal may quote are not.
REPEATED = re.compile(r"(.{1,8}?)\1+")
ECHO_LIMIT = 60


def echoed(text: str) -> bool:
    return any(len(match.group(0)) >= ECHO_LIMIT for match in REPEATED.finditer(text))


def judge(case: Case, code: int | None, out: str, err: str) -> list[str]:
    problems: list[str] = []
    if code is None:
        return ["never ends"]
    if code not in (0, 1, 2):
        problems.append("exit 3" if code == 3 else f"exit {code}")
    if "Traceback" in err or "Exception ignored" in err or "internal error" in err:
        problems.append("traceback")
    if case.expect is not None and code in (0, 1, 2) and code not in case.expect:
        problems.append("wrong answer")
    if any(secret in out or secret in err for secret in SECRETS):
        problems.append("secret printed")
    if echoed(err):
        problems.append("long echo")
    if code == 2 and case.stderr == "pipe" and not err.strip():
        problems.append("silent exit 2")
    if case.nodes is not None and case.stdout == "pipe":
        planned = _planned_nodes(out)
        if planned is None or planned < case.nodes:
            problems.append("lost nodes")
    return problems


def _planned_nodes(out: str) -> int | None:
    try:
        document = json.loads(out)
    except ValueError:
        return None
    nodes = document.get("nodes") if isinstance(document, dict) else None
    return len(nodes) if isinstance(nodes, list) else None


# --------------------------------------------------------------------------------------------------- serve, MCP


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _exchange(port: int, request: bytes, wait: float = 5.0) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(request)
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    return line.split(" ")[1] if line.count(" ") >= 1 else "closed"


SERVE_REQUESTS: dict[str, tuple[bytes, set[str]]] = {
    "plain": (b"GET /inventory HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {"200"}),
    "absolute-form evil": (b"GET http://evil.example/check HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {"400", "421"}),
    "absolute-form evil host": (
        b"GET http://evil.example/inventory HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        {"400", "421"},
    ),
    "bad host": (b"GET /inventory HTTP/1.1\r\nHost: evil.example\r\n\r\n", {"421"}),
    "no host": (b"GET /inventory HTTP/1.1\r\n\r\n", {"400", "421"}),
    "two content-lengths": (
        b"GET /inventory HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}",
        {"400"},
    ),
    "nul in header": (b"GET /inventory HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\x00b\r\n\r\n", {"400"}),
    "huge header": (
        b"GET /inventory HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: " + b"a" * 100_000 + b"\r\n\r\n",
        {"400", "431", "closed"},
    ),
    "huge target": (
        b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        {"400", "414", "431", "closed"},
    ),
    "huge body": (
        b"GET /inventory HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 999999999999\r\n\r\n{}",
        {"413", "400"},
    ),
    "5000-digit length": (
        b"GET /inventory HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + BIG.encode() + b"\r\n\r\n",
        {"400", "413"},
    ),
    "bad method": (b"BREW /inventory HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {"405", "400", "501"}),
    "http/0.9": (b"GET /inventory\r\n\r\n", {"400", "505", "closed"}),
    "gpus 5000 digits": (b"GET /check?gpus=" + BIG.encode() + b"xH100 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {"400"}),
    "query escapes": (b"GET /check?gpus=%1b%5b2J HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {"400"}),
    "chunked junk": (
        b"GET /inventory HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        {"400", "413"},
    ),
}


def serve_results(timeout: float) -> list[Result]:
    port = _free_port()
    folder = Path(tempfile.mkdtemp(prefix="audit-serve-"))
    (folder / "inv.json").write_bytes(dumps(EXAMPLE))
    process = subprocess.Popen(
        [sys.executable, "-m", "vram_advisor", "serve", "--port", str(port), "--inventory", str(folder / "inv.json")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    results: list[Result] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        for label, (request, allowed) in SERVE_REQUESTS.items():
            case = Case("serve", label, ["serve"])
            start = time.monotonic()
            try:
                status = _exchange(port, request)
                problems = [] if status in allowed else [f"wrong answer ({status})"]
            except OSError as exc:
                status, problems = "error", [f"wrong answer ({exc.__class__.__name__})"]
            results.append(Result(case, 0, time.monotonic() - start, problems, status))
        # slow clients must not starve a normal one
        holders = []
        for _ in range(300):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=2)
                sock.sendall(b"GET /inventory HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                holders.append(sock)
            except OSError:
                break
        answered = 0
        for _ in range(20):
            try:
                if _exchange(port, SERVE_REQUESTS["plain"][0], wait=2) == "200":
                    answered += 1
            except OSError:
                pass
        for sock in holders:
            sock.close()
        case = Case("serve", f"normal client beside {len(holders)} half-open connections", ["serve"])
        results.append(
            Result(case, 0, 0.0, [] if answered >= 19 else [f"wrong answer ({answered}/20)"], f"{answered}/20")
        )
    finally:
        process.terminate()
        try:
            _, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        text = err.decode("utf-8", "replace")
        code = process.returncode
        case = Case("serve", "serve stops cleanly on SIGTERM", ["serve"])
        problems = ["traceback"] if "Traceback" in text or "Exception ignored" in text else []
        results.append(Result(case, code if code in (0, 2, -15, 143) else 3, 0.0, problems, text[-300:]))
    return results


MCP_LINES: dict[str, tuple[bytes, int | None]] = {
    "id object": (b'{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}', -32600),
    "id null": (b'{"jsonrpc":"2.0","id":null,"method":"tools/list"}', -32600),
    "id list": (b'{"jsonrpc":"2.0","id":[1],"method":"tools/list"}', -32600),
    "id float": (b'{"jsonrpc":"2.0","id":1.5,"method":"tools/list"}', None),
    "id 5000 digits": (b'{"jsonrpc":"2.0","id":' + BIG.encode() + b',"method":"tools/list"}', -32600),
    "argument 5000-digit integer": (
        b'{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"check","arguments":{"context":'
        + BIG.encode()
        + b"}}}",
        None,
    ),
    "gpus 5000 digits": (
        b'{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"check","arguments":{"gpus":"'
        + BIG.encode()
        + b'xH100"}}}',
        None,
    ),
    "not json": (b"hello", -32700),
    "invalid utf8": (b"\xff\xfe", -32700),
    "lone surrogate": (
        b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"check","arguments":{"gpus":"\\ud800"}}}',
        None,
    ),
    "nested": (b"[" * 100_000, -32700),
    "huge line": (b'{"jsonrpc":"2.0","id":8,"method":"' + b"a" * (2 * 1024 * 1024) + b'"}', None),
    "unknown method": (b'{"jsonrpc":"2.0","id":9,"method":"nope"}', -32601),
    "unknown tool": (b'{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"rm","arguments":{}}}', None),
    "arguments not object": (
        b'{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"check","arguments":5}}',
        None,
    ),
    "nan argument": (
        b'{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"check","arguments":{"context":NaN}}}',
        None,
    ),
}
_INIT = b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"audit","version":"1"}}}\n{"jsonrpc":"2.0","method":"notifications/initialized"}\n'


def _mcp_session(folder: Path, lines: bytes, timeout: float) -> tuple[bytes, bytes, int]:
    """The MCP server given ``lines``, its stdin kept open (as a client's is) until it has answered a request other
    than ``initialize`` or ``timeout`` passes; then stdin is closed and the server must end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "vram_advisor", "mcp", "--inventory", str(folder / "inv.json")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(lines)
    process.stdin.flush()
    answered = threading.Event()
    collected: list[bytes] = []

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            collected.append(raw)
            if not raw.startswith(b'{"jsonrpc":"2.0","id":0,'):
                answered.set()
        answered.set()

    errors: list[bytes] = []
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    error_reader = threading.Thread(target=lambda: errors.append(process.stderr.read() if process.stderr else b""))
    error_reader.start()
    answered.wait(timeout)
    process.stdin.close()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    reader.join(timeout)
    error_reader.join(timeout)
    return b"".join(collected), b"".join(errors), process.returncode


def mcp_results(timeout: float) -> list[Result]:
    folder = Path(tempfile.mkdtemp(prefix="audit-mcp-"))
    (folder / "inv.json").write_bytes(dumps(EXAMPLE))
    results = []
    for label, (line, code) in MCP_LINES.items():
        case = Case("mcp", label, ["mcp"])
        start = time.monotonic()
        try:
            stdout, stderr, returncode = _mcp_session(folder, _INIT + line + b"\n", timeout)
        except subprocess.TimeoutExpired:
            results.append(Result(case, None, timeout, ["never ends"], ""))
            continue
        replies = []
        for raw in stdout.splitlines():
            try:
                replies.append(json.loads(raw))
            except ValueError:
                replies.append({"unparsable": raw[:80].decode("latin-1")})
        problems = []
        answers = [reply for reply in replies if reply.get("id") != 0]
        if not answers:
            problems.append("wrong answer (no reply)")
        elif code is not None and not any(reply.get("error", {}).get("code") == code for reply in answers):
            problems.append(f"wrong answer ({[reply.get('error', {}).get('code') for reply in answers]})")
        err = stderr.decode("utf-8", "replace")
        if "Traceback" in err:
            problems.append("traceback")
        if any(len(raw) > 4000 and b'"error"' in raw for raw in stdout.splitlines()):
            problems.append("long echo")
        results.append(Result(case, returncode, time.monotonic() - start, problems, err[-300:]))
    return results


# --------------------------------------------------------------------------------------------------- report


def all_cases(hub_port: int) -> list[Case]:
    makers: list[Callable[[], Iterator[Case]]] = [
        inventory_cases,
        stream_cases,
        k8s_cases,
        slurm_cases,
        option_cases,
        environment_cases,
        stream_mode_cases,
        profile_cases,
        lambda: hub_cases(hub_port),
    ]
    return [case for maker in makers for case in maker()]


COLUMNS_SHOWN = (
    "never ends",
    "exit 3",
    "traceback",
    "wrong answer",
    "secret printed",
    "long echo",
    "lost nodes",
    "silent exit 2",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=max(2, os.cpu_count() or 2))
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument(
        "--only",
        default=None,
        help="one family: inventory, stream, k8s, slurm, options, environment, streams, profiles, hub, serve, mcp",
    )
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HubHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cases = [case for case in all_cases(server.server_address[1]) if options.only in (None, case.family)]
    start = time.monotonic()
    with ThreadPoolExecutor(options.jobs) as pool:
        results = list(pool.map(lambda case: safe_run(case, options.timeout), cases))
    if options.only in (None, "serve"):
        results += serve_results(options.timeout)
    if options.only in (None, "mcp"):
        results += mcp_results(options.timeout)
    server.shutdown()
    elapsed = time.monotonic() - start
    families = sorted({result.case.family for result in results}, key=[r.case.family for r in results].index)
    table: dict[str, Counter[str]] = {family: Counter() for family in families}
    for result in results:
        counts = table[result.case.family]
        counts["cases"] += 1
        if result.code in (0, 1, 2) and "never ends" not in result.problems:
            counts[f"exit {result.code}"] += 1
        for problem in result.problems:
            counts[problem.split(" (")[0]] += 1
    if options.json:
        print(
            json.dumps(
                {
                    "cases": len(results),
                    "seconds": round(elapsed, 1),
                    "families": table,
                    "failures": [
                        {
                            "family": r.case.family,
                            "case": r.case.name,
                            "code": r.code,
                            "problems": r.problems,
                            "stderr": r.err_tail,
                        }
                        for r in results
                        if r.problems
                    ],
                },
                indent=2,
            )
        )
    else:
        header = ["family", "cases", "exit 0", "exit 1", "exit 2", *COLUMNS_SHOWN]
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        total: Counter[str] = Counter()
        for family, counts in table.items():
            total.update(counts)
            print("| " + " | ".join([family, *(str(counts[name]) for name in header[1:])]) + " |")
        print("| " + " | ".join(["**all**", *(f"**{total[name]}**" for name in header[1:])]) + " |")
        print(f"\n{len(results)} cases in {elapsed:.0f} s")
        for result in results:
            if result.problems:
                print(
                    f"- {result.case.family}: {result.case.name}: {', '.join(result.problems)} (exit {result.code}): {result.err_tail[-200:]!r}"
                )
    return 1 if any(result.problems for result in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
