"""``cluster --ray [ADDRESS]``: run the probe once on every alive node of a Ray cluster, through Ray itself.

One task per alive node, pinned there with ``NodeAffinitySchedulingStrategy(node_id, soft=False)`` and requesting
no CPUs and no GPUs (``num_cpus=0, num_gpus=0``): it runs even on a fully booked node, and Ray gives it no GPU slice.
Ray sets CUDA_VISIBLE_DEVICES for its tasks, but the probe reads GPUs through NVML, which ignores that variable, and
this task does not apply it either: the node's every GPU is reported. Each task returns the inventory as one line of
JSON, which is then read like any other untrusted input. Results are collected with a deadline (``ray.wait``); a
node that fails or does not answer in time is reported by address and node id, and the others are still planned.

Ray is an optional extra (``pip install "ray>=2.40"``, or the ``ray`` extra from the checkout) imported only here, and vram-advisor must be
installed on the nodes (the task imports it there).

The timeout bounds the first connection too. ``ray.init`` retries a GCS that does not answer ``NUM_REDIS_GET_RETRIES``
times (20), each try waiting for the gRPC channel (``gcs_rpc_server_connect_timeout_s``, 5 s), the pubsub channel
(the same) and the cluster id (``py_gcs_connect_timeout_s``, 30 s): ten minutes and more for a wrong address
(ray-project/ray ``src/ray/common/ray_config_def.h``, ``python/ray/_private/node.py`` ``_init_gcs_client``,
``python/ray/_private/ray_constants.py``). These are read from ``RAY_<name>`` variables when Ray starts in a process,
so ``_connect`` sets them (never above Ray's defaults, never over a value the user set) for the time it connects,
and the Ray Client's (``ray://``) ``RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S`` / ``RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S``
(``python/ray/util/client/worker.py``, three tries) the same way. Ray's core logs each failed try straight to file
descriptor 2; that is held back while connecting, so a failure is the one line that says why.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from vram_advisor.core.errors import UsageError
from vram_advisor.core.extras import install_line
from vram_advisor.core.numbers import shown
from vram_advisor.fleet.inputs import Document, Skipped
from vram_advisor.inventory.model import MAX_INVENTORY_BYTES

DEFAULT_TIMEOUT_S = 120.0

Progress = Callable[[int], None]


def probe_node() -> str:
    """Runs on the node: this machine's inventory, every GPU, as one line of JSON."""
    from vram_advisor.inventory import model as inventory
    from vram_advisor.probe import collect_inventory

    return inventory.dumps(collect_inventory())


def connect_settings(timeout_s: float) -> dict[str, str]:
    """Ray's connection settings (``RAY_<name>`` variables) that make a first connection give up within about
    ``timeout_s``: each wait at most a quarter of it and at most Ray's default, and as many GCS tries as fit."""
    quarter = max(1, int(timeout_s // 4))
    channel, cluster_id = min(5, quarter), min(30, quarter)
    tries = max(1, int(timeout_s // (2 * channel + cluster_id + 1)))  # two channel waits, the id, a 1 s sleep
    return {
        "RAY_gcs_rpc_server_connect_timeout_s": str(channel),
        "RAY_py_gcs_connect_timeout_s": str(cluster_id),
        "RAY_NUM_REDIS_GET_RETRIES": str(min(20, tries)),
        "RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": str(min(5, quarter)),
        "RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S": str(min(30, quarter)),
    }


@contextlib.contextmanager
def _bounded_connection(timeout_s: float) -> Iterator[None]:
    """While Ray connects: its settings bounded by ``timeout_s`` (those the user did not set), and what its core
    writes to file descriptor 2 held back (each retry is a log line there)."""
    added = {key: value for key, value in connect_settings(timeout_s).items() if key not in os.environ}
    os.environ.update(added)
    saved_fd: int | None = None
    try:
        with tempfile.TemporaryFile() as held:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            try:
                saved_fd = os.dup(2)
                os.dup2(held.fileno(), 2)
            except OSError:  # no file descriptor 2 to borrow: Ray's lines go wherever it goes
                saved_fd = None
            try:
                yield
            finally:
                if saved_fd is not None:
                    os.dup2(saved_fd, 2)
                    os.close(saved_fd)
    finally:
        for key in added:
            os.environ.pop(key, None)


def _connect(address: str | None, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[Any, bool]:
    target = address or os.environ.get("RAY_ADDRESS") or "auto"
    with _bounded_connection(timeout_s):
        try:
            import ray
        except ImportError:
            raise UsageError(f"--ray needs Ray on this machine: {install_line('ray')}") from None
        if ray.is_initialized():
            return ray, False
        try:
            ray.init(address=target, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            raise UsageError(
                f"--ray: cannot connect to the Ray cluster at {shown(target)} within --ray-timeout {timeout_s:g} s: "
                f"{first_line[:200]}"
            ) from None
    return ray, True


def _where(node: dict[str, Any]) -> str:
    address = node.get("NodeManagerAddress") or node.get("NodeManagerHostname") or "?"
    return f"ray:{address} ({str(node.get('NodeID', '?'))[:12]})"


def _failure(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, ModuleNotFoundError) and "vram_advisor" in str(cause):
        return "vram-advisor is not installed on that node (install it there from the wheelhouse: docs/install.md)"
    text = str(cause).strip().splitlines()
    detail = text[-1] if text else ""
    return f"the probe failed there: {cause.__class__.__name__}" + (f": {detail[:200]}" if detail else "")


def scan(
    address: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    on_total: Progress | None = None,
    on_done: Progress | None = None,
    warn: Callable[[str], None] | None = None,
) -> Iterator[Document | Skipped]:
    """Probe every alive node; yield each inventory (parsed JSON, still to be validated) or why a node is missing."""
    ray, connected_here = _connect(address, timeout_s)
    try:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = ray.nodes()
        alive = [node for node in nodes if node.get("Alive")]
        if warn is not None and len(alive) < len(nodes):
            warn(f"{len(nodes) - len(alive)} node(s) in Ray's list are not alive and were not probed")
        if not alive:
            raise UsageError("--ray: the Ray cluster has no alive node")
        if on_total is not None:
            on_total(len(alive))
        task = ray.remote(num_cpus=0, num_gpus=0, max_retries=0)(probe_node)
        pending: dict[Any, dict[str, Any]] = {}
        for node in alive:
            strategy = NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)
            pending[task.options(scheduling_strategy=strategy).remote()] = node
        deadline = time.monotonic() + timeout_s
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=left)
            for ref in ready:
                node = pending.pop(ref)
                if on_done is not None:
                    on_done(1)
                yield _result(ray, ref, node)
        for ref, node in pending.items():
            ray.cancel(ref, force=True)
            yield Skipped(_where(node), f"no answer within {timeout_s:g} s (raise --ray-timeout, or is the node busy?)")
    finally:
        if connected_here:
            ray.shutdown()


def _result(ray: Any, ref: Any, node: dict[str, Any]) -> Document | Skipped:
    where = _where(node)
    try:
        text = ray.get(ref, timeout=10)
    except Exception as exc:
        return Skipped(where, _failure(exc))
    if not isinstance(text, str):
        return Skipped(where, f"the probe returned {type(text).__name__}, expected JSON text")
    if len(text) > MAX_INVENTORY_BYTES:
        return Skipped(where, f"inventory larger than {MAX_INVENTORY_BYTES // (1024 * 1024)} MiB, not read")
    try:
        return Document(where, json.loads(text))
    except (ValueError, RecursionError) as exc:
        return Skipped(where, f"the probe's answer is not valid JSON ({exc.__class__.__name__})")
