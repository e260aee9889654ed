"""A fake Hugging Face Hub: a real ``http.server`` on 127.0.0.1, in a thread, answering like the Hub's API.

Tests point ``HF_ENDPOINT`` at ``FakeHub.url`` so that huggingface_hub's own client code runs unchanged against it:
``model_info`` (``/api/models/{repo}[/revision/{rev}]?blobs=true``), ``list_repo_tree``
(``/api/models/{repo}/tree/{rev}[/{path}]``) and ``hf_hub_download`` / ``get_hf_file_metadata``
(``HEAD``/``GET /{repo}/resolve/{rev}/{path}``).

The answers follow the Hub's wire format as huggingface_hub parses it (``hf_api.ModelInfo``/``RepoSibling``/
``RepoFile``, ``file_download.get_hf_file_metadata``, ``utils._http.hf_raise_for_status``): siblings with ``blobId``,
``size`` and ``lfs.sha256``; tree entries with ``oid``, ``size`` and ``lfs.oid``; ``X-Repo-Commit``, ``ETag`` and, for
LFS files, ``X-Linked-Etag``/``X-Linked-Size`` on resolve; errors as ``X-Error-Code`` (``RepoNotFound``,
``GatedRepo``, ``RevisionNotFound``, ``EntryNotFound``) with the status codes the Hub uses: 401 for a missing or
private repo asked without a token (404 with one), 401 ``GatedRepo`` for a gated file, 404 for a bad revision or file.
The repos' figures are public: config values from the official config.json files (huggingface/transformers
``configuration_deepseek_v4.py``, ``configuration_deepseek_v3.py``), sizes from vLLM's load logs (vllm-project/vllm
#40802), the Hub listings and the unsloth docs.

Weights are never served (a ``GET`` of an LFS file answers 500), and every request is recorded in ``requests``, so a
test can assert that nothing but metadata was fetched.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

VALID_TOKEN = "hf_fake_valid_token_for_tests"
GIB = 1024**3


@dataclass
class FakeFile:
    """A file of a fake repo: small files carry their content, large (LFS) ones only a size."""

    path: str
    content: bytes | None = None
    size: int | None = None
    lfs: bool = False

    @property
    def length(self) -> int:
        return len(self.content) if self.content is not None else int(self.size or 0)

    @property
    def blob_id(self) -> str:
        return hashlib.sha1(f"blob:{self.path}:{self.length}".encode()).hexdigest()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(f"lfs:{self.path}:{self.length}".encode()).hexdigest()

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.blob_id


@dataclass
class FakeRepo:
    repo_id: str
    files: list[FakeFile]
    sha: str = ""
    gated: str | bool = False
    private: bool = False
    slow_s: float = 0.0
    sizes_in_info: bool = True
    refs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.sha:
            self.sha = hashlib.sha1(self.repo_id.encode()).hexdigest()
        self.refs.setdefault("main", self.sha)

    def commit_of(self, revision: str) -> str | None:
        if revision in (self.sha, *self.refs.values()):
            return revision
        return self.refs.get(revision)

    def file(self, path: str) -> FakeFile | None:
        return next((f for f in self.files if f.path == path), None)


# ------------------------------------------------------------------------------------------ the server


class FakeHub:
    """``with FakeHub(repos) as hub:`` serves ``repos`` at ``hub.url`` until the block ends."""

    def __init__(self, repos: list[FakeRepo]) -> None:
        self.repos = {repo.repo_id: repo for repo in repos}
        self.requests: list[tuple[str, str, bool]] = []
        #: Raw answers by URL path (``/api/models/org/name``): (status, headers, body), served as they are, before
        #: any repo is looked at; for hostile answers (tests/fuzz).
        self.raw: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=lambda: self._server.serve_forever(poll_interval=0.05), name="fake-hub", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # releases the slow answers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def paths(self, method: str | None = None) -> list[str]:
        return [path for m, path, _auth in self.requests if method is None or m == method]

    def weights_fetched(self) -> list[str]:
        """GETs of LFS files (weights): must stay empty."""
        out = []
        for method, path, _auth in self.requests:
            match = _RESOLVE.match(urlsplit(path).path)
            if method == "GET" and match:
                repo = self.repos.get(unquote(match["repo"]))
                found = repo.file(unquote(match["path"])) if repo else None
                if found is not None and found.lfs:
                    out.append(path)
        return out


_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?/?$")
_TREE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?$")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            return

        def do_GET(self) -> None:
            self._route("GET")

        def do_HEAD(self) -> None:
            self._route("HEAD")

        # ---------------------------------------------------------------------------------- routing

        def _authorized(self) -> bool:
            return self.headers.get("authorization", "") == f"Bearer {VALID_TOKEN}"

        def _route(self, method: str) -> None:
            hub.requests.append((method, self.path, bool(self.headers.get("authorization"))))
            url = urlsplit(self.path)
            path = url.path
            if path in hub.raw:
                status, headers, body = hub.raw[path]
                self._send(status, body, headers)
                return
            for pattern, handler in ((_TREE, self._tree), (_INFO, self._info), (_RESOLVE, self._resolve)):
                match = pattern.match(path)
                if match:
                    repo = hub.repos.get(unquote(match["repo"]))
                    if repo is None or (repo.private and not self._authorized()):
                        status = 404 if self._authorized() else 401
                        self._error(status, "RepoNotFound", "Repository not found")
                        return
                    if repo.slow_s:
                        hub._stop.wait(repo.slow_s)
                    handler(method, repo, match, parse_qs(url.query))
                    return
            self._error(404, None, "Not Found")

        # --------------------------------------------------------------------------------- answers

        def _info(self, method: str, repo: FakeRepo, match: re.Match[str], query: dict[str, list[str]]) -> None:
            commit = repo.commit_of(unquote(match["rev"] or "main"))
            if commit is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {match['rev']}")
                return
            blobs = query.get("blobs", ["false"])[0].lower() == "true" and repo.sizes_in_info
            siblings = []
            for f in repo.files:
                sibling: dict[str, Any] = {"rfilename": f.path}
                if blobs:
                    sibling.update({"blobId": f.blob_id, "size": f.length})
                    if f.lfs:
                        sibling["lfs"] = {"sha256": f.sha256, "size": f.length, "pointerSize": 134}
                siblings.append(sibling)
            org = repo.repo_id.split("/")[0]
            self._json(
                200,
                {
                    "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
                    "id": repo.repo_id,
                    "modelId": repo.repo_id,
                    "author": org,
                    "sha": commit,
                    "lastModified": "2026-04-24T09:30:00.000Z",
                    "createdAt": "2026-04-24T08:00:00.000Z",
                    "private": repo.private,
                    "disabled": False,
                    "gated": repo.gated,
                    "downloads": 12345,
                    "likes": 678,
                    "tags": ["transformers", "safetensors", "text-generation"],
                    "pipeline_tag": "text-generation",
                    "library_name": "transformers",
                    "siblings": siblings,
                    "spaces": [],
                    "usedStorage": sum(f.length for f in repo.files),
                },
                commit,
            )

        def _tree(self, method: str, repo: FakeRepo, match: re.Match[str], query: dict[str, list[str]]) -> None:
            commit = repo.commit_of(unquote(match["rev"]))
            if commit is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {match['rev']}")
                return
            base = unquote(match["path"] or "").strip("/")
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            entries: dict[str, dict[str, Any]] = {}
            for f in repo.files:
                if base and not f.path.startswith(base + "/"):
                    continue
                rest = f.path[len(base) + 1 :] if base else f.path
                parts = rest.split("/")
                for depth in range(1, len(parts)):
                    folder = "/".join(([base] if base else []) + parts[:depth])
                    if recursive or depth == 1:
                        entries.setdefault(folder, {"type": "directory", "oid": "0" * 40, "size": 0, "path": folder})
                if recursive or len(parts) == 1:
                    entry: dict[str, Any] = {"type": "file", "oid": f.blob_id, "size": f.length, "path": f.path}
                    if f.lfs:
                        entry["lfs"] = {"oid": f.sha256, "size": f.length, "pointerSize": 134}
                    entries[f.path] = entry
            self._json(200, list(entries.values()), commit)

        def _resolve(self, method: str, repo: FakeRepo, match: re.Match[str], query: dict[str, list[str]]) -> None:
            commit = repo.commit_of(unquote(match["rev"]))
            if commit is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {match['rev']}")
                return
            if repo.gated and not self._authorized():
                self._error(
                    401,
                    "GatedRepo",
                    f"Access to model {repo.repo_id} is restricted. You must have access to it and be authenticated "
                    "to access it. Please log in.",
                )
                return
            found = repo.file(unquote(match["path"]))
            if found is None:
                self._error(404, "EntryNotFound", f'{match["path"]} does not exist on "{commit}"', commit)
                return
            headers = {"X-Repo-Commit": commit, "ETag": f'"{found.blob_id}"', "Accept-Ranges": "bytes"}
            if found.lfs:
                headers.update({"X-Linked-Etag": f'"{found.sha256}"', "X-Linked-Size": str(found.length)})
                if method == "GET":
                    self._error(500, None, "the fake Hub serves no weights")
                    return
            body = found.content if found.content is not None else b""
            self._send(200, body if method == "GET" else b"", headers, length=found.length)

        # -------------------------------------------------------------------------------------- I/O

        def _json(self, status: int, data: Any, commit: str | None = None) -> None:
            body = json.dumps(data).encode()
            headers = {"Content-Type": "application/json; charset=utf-8"}
            if commit:
                headers["X-Repo-Commit"] = commit
            self._send(status, body, headers)

        def _error(self, status: int, code: str | None, message: str, commit: str | None = None) -> None:
            headers = {"Content-Type": "application/json; charset=utf-8", "X-Error-Message": message}
            if code:
                headers["X-Error-Code"] = code
            if commit:
                headers["X-Repo-Commit"] = commit
            self._send(status, json.dumps({"error": message}).encode(), headers)

        def _send(self, status: int, body: bytes, headers: dict[str, str], length: int | None = None) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body) if length is None or self.command == "GET" else length))
            try:
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

    return Handler


# ------------------------------------------------------------------------------------- recorded repos


def _json_file(path: str, data: Any) -> FakeFile:
    return FakeFile(path, json.dumps(data, indent=2).encode())


#: deepseek-ai/DeepSeek-V4-Flash config.json, the official one (https://huggingface.co/deepseek-ai/DeepSeek-V4-Flash).
V4_FLASH_CONFIG: dict[str, Any] = {
    "architectures": ["DeepseekV4ForCausalLM"],
    "model_type": "deepseek_v4",
    "num_hidden_layers": 43,
    "hidden_size": 4096,
    "num_attention_heads": 64,
    "num_key_value_heads": 1,
    "head_dim": 512,
    "qk_rope_head_dim": 64,
    "q_lora_rank": 1024,
    "o_lora_rank": 1024,
    "o_groups": 8,
    "n_routed_experts": 256,
    "num_experts_per_tok": 6,
    "n_shared_experts": 1,
    "moe_intermediate_size": 2048,
    "num_hash_layers": 3,
    "scoring_func": "sqrtsoftplus",
    "topk_method": "noaux_tc",
    "routed_scaling_factor": 1.5,
    "swiglu_limit": 10.0,
    "sliding_window": 128,
    "compress_ratios": [0, 0] + [4, 128] * 20 + [4] + [0],
    "index_n_heads": 64,
    "index_head_dim": 128,
    "index_topk": 512,
    "hc_mult": 4,
    "max_position_embeddings": 1048576,
    "rope_theta": 10000,
    "num_nextn_predict_layers": 1,
    "vocab_size": 129280,
    "tie_word_embeddings": False,
    "expert_dtype": "fp4",
    "quantization_config": {
        "quant_method": "fp8",
        "fmt": "e4m3",
        "activation_scheme": "dynamic",
        "weight_block_size": [128, 128],
        "scale_fmt": "ue8m0",
    },
    "torch_dtype": "bfloat16",
}

#: DeepSeek-V3 (MLA) config values (huggingface/transformers ``configuration_deepseek_v3.py``).
V3_CONFIG: dict[str, Any] = {
    "architectures": ["DeepseekV3ForCausalLM"],
    "model_type": "deepseek_v3",
    "num_hidden_layers": 61,
    "hidden_size": 7168,
    "num_attention_heads": 128,
    "num_key_value_heads": 128,
    "kv_lora_rank": 512,
    "qk_rope_head_dim": 64,
    "qk_nope_head_dim": 128,
    "v_head_dim": 128,
    "n_routed_experts": 256,
    "num_experts_per_tok": 8,
    "n_shared_experts": 1,
    "moe_intermediate_size": 2048,
    "max_position_embeddings": 163840,
    "quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]},
    "torch_dtype": "bfloat16",
}

#: A dense grouped-query model in BF16 (Qwen3-32B's geometry), used for the gated repo.
DENSE_CONFIG: dict[str, Any] = {
    "architectures": ["Qwen3ForCausalLM"],
    "model_type": "qwen3",
    "num_hidden_layers": 64,
    "hidden_size": 5120,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40960,
    "torch_dtype": "bfloat16",
}

#: V4-Flash: 46 shards, 148.66 GiB on disk (vLLM's log, vllm-project/vllm#40802 and #40821); the index's total_size is
#: the tensors' bytes (the table's 159.61 GB; no published copy of the index was found), a little less than the files
#: with their headers.
V4_FLASH_TOTAL_SIZE = 159_610_000_000
V4_FLASH_SHARD_BYTES = round(148.66 * GIB) // 46
#: DeepSeek-V3 safetensors artifact bytes (deepseek-ai/DeepSeek-V3 on the Hugging Face Hub at commit afb92e1f).
V3_TOTAL_SIZE = 688_586_727_753
#: UD-Q2_K_XL of V4-Flash sized like antirez's 2-bit GGUF (80.8 GiB, HF antirez/deepseek-v4-gguf), in two shards.
GGUF_Q2_SHARDS = (50_000_000_000, round(80.8 * GIB) - 50_000_000_000)
#: UD-Q4_K_XL: about 155 GB (unsloth.ai/docs/models/deepseek-v4: Q8_K_XL 162 GB is "only 7 GB larger"), in four
#: shards.
GGUF_Q4_SHARDS = (40_000_000_000, 40_000_000_000, 40_000_000_000, 35_000_000_000)


def _index(total: int, shards: int) -> dict[str, Any]:
    return {
        "metadata": {"total_size": total},
        "weight_map": {
            "model.embed_tokens.weight": f"model-00001-of-{shards:05d}.safetensors",
            "model.norm.weight": f"model-{shards:05d}-of-{shards:05d}.safetensors",
        },
    }


def v4_flash_repo(repo_id: str = "deepseek-ai/DeepSeek-V4-Flash", **extra: Any) -> FakeRepo:
    shards = [
        FakeFile(f"model-{i:05d}-of-00046.safetensors", size=V4_FLASH_SHARD_BYTES, lfs=True) for i in range(1, 47)
    ]
    files = [
        FakeFile(".gitattributes", b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"),
        FakeFile("README.md", b"# DeepSeek-V4-Flash\n"),
        _json_file("config.json", V4_FLASH_CONFIG),
        _json_file("model.safetensors.index.json", _index(V4_FLASH_TOTAL_SIZE, 46)),
        *shards,
    ]
    return FakeRepo(repo_id, files, **extra)


def v3_repo() -> FakeRepo:
    shards = [FakeFile(f"model-{i:05d}-of-00163.safetensors", size=V3_TOTAL_SIZE // 163, lfs=True) for i in (1, 2)]
    files = [
        _json_file("config.json", V3_CONFIG),
        _json_file("model.safetensors.index.json", _index(V3_TOTAL_SIZE, 163)),
        *shards,
    ]
    return FakeRepo("deepseek-ai/DeepSeek-V3", files)


def gguf_repo(repo_id: str = "unsloth/DeepSeek-V4-Flash-GGUF", **extra: Any) -> FakeRepo:
    files = [
        FakeFile(".gitattributes", b"*.gguf filter=lfs diff=lfs merge=lfs -text\n"),
        FakeFile("README.md", b"# DeepSeek-V4-Flash GGUF\n"),
        *(
            FakeFile(f"UD-Q2_K_XL/DeepSeek-V4-Flash-UD-Q2_K_XL-{i:05d}-of-00002.gguf", size=size, lfs=True)
            for i, size in enumerate(GGUF_Q2_SHARDS, start=1)
        ),
        *(
            FakeFile(f"UD-Q4_K_XL/DeepSeek-V4-Flash-UD-Q4_K_XL-{i:05d}-of-00004.gguf", size=size, lfs=True)
            for i, size in enumerate(GGUF_Q4_SHARDS, start=1)
        ),
    ]
    return FakeRepo(repo_id, files, **extra)


def tiny_repo() -> FakeRepo:
    """Small real files, so that a test can really download one into the cache with huggingface_hub."""
    files = [
        FakeFile("README.md", b"tiny\n"),
        FakeFile("Q4_K_M/tiny-Q4_K_M-00001-of-00002.gguf", b"G" * 4096),
        FakeFile("Q4_K_M/tiny-Q4_K_M-00002-of-00002.gguf", b"H" * 2048),
    ]
    return FakeRepo("tiny/Tiny-GGUF", files)


def dense_repo(repo_id: str, **extra: Any) -> FakeRepo:
    total = 65_535_000_000  # 32.8B parameters at 2 bytes
    files = [
        _json_file("config.json", DENSE_CONFIG),
        _json_file("model.safetensors.index.json", _index(total, 17)),
        *(FakeFile(f"model-{i:05d}-of-00017.safetensors", size=total // 17, lfs=True) for i in range(1, 18)),
    ]
    return FakeRepo(repo_id, files, **extra)


def recorded_repos() -> list[FakeRepo]:
    """Every repo the tests use."""
    return [
        v4_flash_repo(),
        v4_flash_repo("deepseek-ai/DeepSeek-V4-Flash-0731", refs={"v1.0": hashlib.sha1(b"0731-v1").hexdigest()}),
        v3_repo(),
        gguf_repo(),
        gguf_repo("mirror/DeepSeek-V4-Flash-GGUF", sizes_in_info=False),
        tiny_repo(),
        dense_repo("acme/Gated-32B", gated="manual"),
        dense_repo("acme/Private-32B", private=True),
        dense_repo("acme/Slow-32B", slow_s=30.0),
    ]


#: Sockets that hold the ports of ``closed_port_url`` for the rest of the test run.
_REFUSING: list[Any] = []


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens: connecting is refused, and stays refused.

    The port is held by a socket bound without ``listen()`` and kept open until the test process exits: the
    kernel refuses connections to it, and no other socket can bind it meanwhile (neither side sets
    ``SO_REUSEADDR``/``SO_REUSEPORT``), as one could if it were bound, closed and then reused.
    """
    import atexit
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    _REFUSING.append(sock)
    atexit.register(sock.close)
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


# ----------------------------------------------------------------------------------------------- fixture


def serve_recorded_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[FakeHub]:
    """For a ``fake_hub`` fixture (``yield from serve_recorded_hub(monkeypatch, tmp_path)``): the recorded repos served on 127.0.0.1, with HF_ENDPOINT pointing there, an empty HF cache under tmp, no token
    (neither HF_TOKEN nor the developer's token file) and HF_HUB_OFFLINE unset (conftest sets it for every test)."""
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_XET_CHUNK_CACHE_SIZE_BYTES", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token-file"))
    # the library froze HF_HUB_OFFLINE when it was first imported (perhaps under conftest's HF_HUB_OFFLINE=1): make it
    # agree with the environment above for the tests that call huggingface_hub directly (hub.py syncs it itself)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("VRAM_ADVISOR_HUB_TIMEOUT", "5")
    with FakeHub(recorded_repos()) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        yield hub
