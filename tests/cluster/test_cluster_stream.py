"""Reading many inventories from a stream: NDJSON, pretty objects one after another, garbage, limits, and the
worker process giving the same answer as one process."""

from __future__ import annotations

import io
import json

import pytest

from conftest import gpu, inventory_dict
from vram_advisor import cluster_io, jsonstream
from vram_advisor.cluster_io import NodeInput, Skipped, stream_inputs
from vram_advisor.jsonstream import Document, documents

LIMIT = 4096


def node(hostname: str, gpus: int = 1) -> dict:
    return inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480) for _ in range(gpus)], hostname=hostname)


def read(text: str | bytes, limit: int = LIMIT) -> list:
    stream = io.BytesIO(text.encode() if isinstance(text, str) else text)
    return list(documents(stream, "<stdin>", limit))


def summary(items: list) -> list[tuple[str, str]]:
    """(source, hostname or 'skip: reason') for each item."""
    out = []
    for item in items:
        if isinstance(item, Skipped):
            out.append((item.source, "skip: " + item.reason))
        elif isinstance(item, Document):
            out.append((item.source, item.data.get("hostname", "?")))
        else:
            out.append((item.source, item.facts.hostname))
    return out


def test_ndjson_lines_each_give_one_document():
    text = "".join(json.dumps(node(f"n{i}")) + "\n" for i in range(3))
    assert summary(read(text)) == [("<stdin>:1", "n0"), ("<stdin>:2", "n1"), ("<stdin>:3", "n2")]


def test_pretty_objects_one_after_another_as_srun_prints_them():
    first, second = json.dumps(node("a"), indent=2), json.dumps(node("b"), indent=2)
    lines = first.count("\n") + 1
    result = summary(read(first + "\n" + second + "\n"))
    assert result == [(f"<stdin>:1-{lines}", "a"), (f"<stdin>:{lines + 1}-{2 * lines}", "b")]


def test_garbage_lines_are_reported_once_per_run_and_skipped():
    text = (
        json.dumps(node("a"))
        + "\nsrun: error: node9: task 3: Exited with exit code 1\nsrun: Terminating job step 77.0\n"
        + json.dumps(node("b"))
        + "\n"
    )
    result = summary(read(text))
    assert result[0] == ("<stdin>:1", "a")
    assert result[1][0] == "<stdin>:2-3" and "not an inventory" in result[1][1] and "srun: error" in result[1][1]
    assert result[2] == ("<stdin>:4", "b")


def test_a_broken_line_names_line_and_column_and_the_next_line_is_still_read():
    result = summary(read('{"schema": 1, x}\n' + json.dumps(node("b")) + "\n"))
    assert result[0][0] == "<stdin>:1" and "not valid JSON" in result[0][1] and "column" in result[0][1]
    assert result[1] == ("<stdin>:2", "b")


def test_a_cut_off_pretty_object_is_reported_and_the_next_object_read():
    cut = json.dumps(node("a"), indent=2).splitlines()[:6]
    text = "\n".join(cut) + "\n" + json.dumps(node("b")) + "\n"
    result = summary(read(text))
    assert result[0] == ("<stdin>:1-6", "skip: incomplete JSON object (a new object starts at line 7)")
    assert result[1] == ("<stdin>:7", "b")


def test_a_cut_off_object_at_the_end_is_reported():
    result = summary(read('{"schema": "vram-advisor/inventory/v1",\n  "gpus": ['))
    assert result == [("<stdin>:1-2", "skip: incomplete JSON object at the end of the input (cut off?)")]


def test_several_objects_on_one_line_and_trailing_text():
    a, b = json.dumps(node("a")), json.dumps(node("b"))
    result = summary(read(f"{a} {b}\n{a} trailing words\n"))
    assert result[:2] == [("<stdin>:1", "a"), ("<stdin>:1", "b")]
    assert result[2] == ("<stdin>:2", "a")
    assert result[3][0] == "<stdin>:2" and "unexpected text after the JSON object" in result[3][1]


def test_braces_inside_strings_do_not_confuse_a_multi_line_object():
    data = node("a")
    data["gpus"][0]["name"] = "weird } { name"
    data["notes"] = ["{", "}}", 'quote \\" }']
    result = read(json.dumps(data, indent=2) + "\n")
    assert len(result) == 1 and result[0].data == data


def test_lines_longer_than_the_limit_are_refused_unread():
    huge = json.dumps(node("x" * (LIMIT * 2)))
    result = summary(read(huge + "\n" + json.dumps(node("b")) + "\n"))
    assert result[0] == ("<stdin>:1", "skip: line longer than 4096 bytes, not read")
    assert result[1] == ("<stdin>:2", "b")


def test_an_object_larger_than_the_limit_over_many_lines_is_refused():
    data = node("a")
    data["notes"] = [f"note {i:05d}" for i in range(800)]
    result = summary(read(json.dumps(data, indent=2) + "\n" + json.dumps(node("b")) + "\n"))
    assert "larger than 4096 bytes" in result[0][1]
    assert result[-1][1] == "b"


def test_invalid_utf8_and_json_arrays_are_reported():
    result = summary(read(b"\xff\xfe{}\n[1, 2]\n" + json.dumps(node("b")).encode() + b"\n"))
    assert result[0] == ("<stdin>:1", "skip: not UTF-8 text (byte 1)")
    assert result[1][0] == "<stdin>:2" and "a JSON array" in result[1][1] and "jq -c" in result[1][1]
    assert result[2] == ("<stdin>:3", "b")


def test_lines_split_across_read_chunks(monkeypatch):
    monkeypatch.setattr(jsonstream, "CHUNK_BYTES", 7)
    text = json.dumps(node("a")) + "\n\n" + json.dumps(node("b"), indent=2) + "\ngarbage"
    result = summary(read(text))
    assert [r[1] for r in result[:2]] == ["a", "b"]
    assert result[2][0].endswith(f":{text.count(chr(10)) + 1}") and "garbage" in result[2][1]


def test_a_text_stream_reads_like_a_binary_one():
    text = json.dumps(node("a")) + "\nnoise\n" + json.dumps(node("b"), indent=2) + "\n"
    as_text = list(documents(io.StringIO(text), "<stdin>", LIMIT))
    assert summary(as_text) == summary(read(text))


def test_deeply_nested_json_is_refused_without_a_crash():
    result = summary(read("{" + '"a":[' * 100000 + "\n"))
    assert len(result) == 1 and result[0][1].startswith("skip:")


# ------------------------------------------------------------------------------------ inventories from a stream


def mixed_stream(nodes: int) -> bytes:
    """NDJSON with noise, a pretty object, a bad inventory and a duplicate-looking line in between."""
    parts = []
    for i in range(nodes):
        parts.append(json.dumps(node(f"n{i:04d}", gpus=1 + i % 3)))
        if i % 97 == 5:
            parts.append("srun: error: some noise")
        if i % 131 == 7:
            parts.append(json.dumps(node(f"pretty{i}"), indent=2))
        if i % 151 == 9:
            parts.append(json.dumps({"schema": "vram-advisor/inventory/v1", "gpus": [{"name": "x"}], "ram": {}}))
        if i % 173 == 11:
            parts.append(json.dumps(node(f"two{i}")) + json.dumps(node(f"three{i}")))
    return ("\n".join(parts) + "\n").encode()


def test_stream_inputs_validate_each_inventory_and_name_the_bad_field():
    data = mixed_stream(20)
    items = list(stream_inputs(io.BytesIO(data), "<stdin>", parallel=False))
    bad = [item for item in items if isinstance(item, Skipped) and "memory_total_bytes" in item.reason]
    assert bad and bad[0].reason == "gpus[0].memory_total_bytes: required field is missing"
    good = [item for item in items if isinstance(item, NodeInput)]
    assert [item.facts.hostname for item in good][:3] == ["n0000", "n0001", "n0002"]


def test_the_worker_process_gives_exactly_the_answer_of_one_process(monkeypatch):
    monkeypatch.setattr(cluster_io, "BATCH_LINES", 16)
    monkeypatch.setattr(cluster_io, "PARALLEL_AFTER_LINES", 20)
    monkeypatch.delenv(cluster_io.WORKERS_ENV, raising=False)
    data = mixed_stream(600)
    alone = list(stream_inputs(io.BytesIO(data), "<stdin>", parallel=False))
    state_workers: list[object] = []
    original = cluster_io._start_worker

    def start() -> object:
        worker = original()
        state_workers.append(worker)
        return worker

    monkeypatch.setattr(cluster_io, "_start_worker", start)
    together = list(stream_inputs(io.BytesIO(data), "<stdin>", parallel=True))
    if cluster_io._worker_wanted(True):
        assert state_workers and state_workers[0] is not None, "the worker process should have started"
    assert together == alone
    assert sum(isinstance(item, Skipped) for item in alone) > 10
    assert sum(isinstance(item, NodeInput) for item in alone) > 600


@pytest.mark.parametrize("value", ["0"])
def test_workers_can_be_switched_off(monkeypatch, value):
    monkeypatch.setenv(cluster_io.WORKERS_ENV, value)
    assert cluster_io._worker_wanted(True) is False


def test_a_byte_order_mark_and_blank_lines_are_fine():
    text = "\ufeff" + json.dumps(node("a")) + "\n\n\r\n" + json.dumps(node("b")) + "\r\n"
    assert summary(read(text)) == [("<stdin>:1", "a"), ("<stdin>:4", "b")]
    items = list(stream_inputs(io.BytesIO(text.encode()), "<stdin>", parallel=False))
    assert [(item.source, item.facts.hostname) for item in items] == [("<stdin>:1", "a"), ("<stdin>:4", "b")]
