"""Reading many inventories from a stream: NDJSON, pretty objects one after another, garbage, limits, and the
worker process giving the same answer as one process."""

from __future__ import annotations

import io
import json

import pytest

from conftest import gpu, inventory_dict
from vram_advisor.fleet import inputs as cluster_io
from vram_advisor.fleet import stream as jsonstream
from vram_advisor.fleet.inputs import NodeInput, Skipped, stream_inputs
from vram_advisor.fleet.stream import Document, documents

LIMIT = 4096
#: The line and object limit for the mixed streams below (small, so that an oversized object stays small).
STREAM_LIMIT = 65536


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


def test_each_line_that_is_not_json_is_reported_on_its_own():
    text = (
        json.dumps(node("a"))
        + "\nsrun: error: node9: task 3: Exited with exit code 1\nsrun: Terminating job step 77.0\n"
        + json.dumps(node("b"))
        + "\n"
    )
    result = summary(read(text))
    assert result[0] == ("<stdin>:1", "a")
    # each named by its line and what it is, never by its content (the stream may carry a secret)
    assert result[1] == ("<stdin>:2", "skip: not an inventory (expected a JSON object; a line of 51 characters)")
    assert result[2][0] == "<stdin>:3" and "Terminating" not in result[2][1]
    assert result[3] == ("<stdin>:4", "b")


def test_srun_label_prefixes_are_cut_off_and_each_object_is_its_own_line():
    # the QA case: srun --label output of objects that are not inventories, one line each
    result = read('0: {"a":1}\n1: {"b":2}\n2: {"c":3}\n')
    assert [(item.source, item.data, item.host) for item in result] == [
        ("<stdin>:1", {"a": 1}, None),
        ("<stdin>:2", {"b": 2}, None),
        ("<stdin>:3", {"c": 3}, None),
    ]
    # more than ten tasks: srun right-aligns the task number
    text = "".join(f"{i:>2}: {json.dumps(node(f'n{i}'))}\n" for i in (0, 7, 12))
    assert summary(read(text)) == [("<stdin>:1", "n0"), ("<stdin>:2", "n7"), ("<stdin>:3", "n12")]


def test_pdsh_host_prefixes_are_cut_off_and_name_the_host():
    nameless = node("x")
    del nameless["hostname"]
    text = f"gpu-07: {json.dumps(nameless)}\ngpu-08.cluster.example: {json.dumps(node('named'))}\ngpu-07: \n"
    result = read(text)
    assert [(item.source, item.host) for item in result] == [
        ("<stdin>:1", "gpu-07"),
        ("<stdin>:2", "gpu-08.cluster.example"),
    ]
    items = list(stream_inputs(io.BytesIO(text.encode()), "<stdin>"))
    assert [item.facts.hostname for item in items] == ["gpu-07", "named"]  # the inventory's own name wins


def test_a_prefix_before_text_that_is_not_json_is_part_of_a_bad_line():
    result = summary(read("srun: error: gpu-09: task 2: Exited with exit code 1\ngpu-09: {not json\n"))
    assert result[0][0] == "<stdin>:1" and "not an inventory" in result[0][1] and "srun" not in result[0][1]
    assert result[1][0] == "<stdin>:2" and "not valid JSON" in result[1][1]


def test_pretty_objects_prefixed_on_every_line_are_gathered_per_prefix():
    # pdsh (or srun --label) prefixes every line of a pretty object, and two nodes' lines may interleave
    a = [f"gpu-a: {line}" for line in json.dumps(node("a"), indent=2).splitlines()]
    b = [f"gpu-b: {line}" for line in json.dumps(node("b", gpus=2), indent=2).splitlines()]
    lines = [line for pair in zip(a, b, strict=False) for line in pair] + b[len(a) :]
    lines.insert(5, "srun: a line of noise in between")
    result = summary(read("\n".join(lines) + "\n"))
    documents_read = [(source, host) for source, host in result if not host.startswith("skip")]
    assert [host for _, host in documents_read] == ["a", "b"]
    a_last = 2 * len(a)  # a's lines are the odd ones, one more after the noise line
    assert documents_read[0][0] == f"<stdin>:1-{a_last}"
    assert documents_read[1][0] == f"<stdin>:2-{len(lines)}"
    assert [source for source, host in result if host.startswith("skip")] == ["<stdin>:6"]


def test_text_after_an_object_without_a_line_end_is_reported_at_its_own_line():
    # (cat a.json; echo garbage; cat b.json) where a.json has no trailing newline: "}garbage" is one line
    first = json.dumps(node("a"), indent=2)
    text = first + "garbage\n" + json.dumps(node("b"), indent=2) + "\n"
    lines = first.count("\n") + 1
    result = summary(read(text))
    assert result[0] == (f"<stdin>:1-{lines}", "a")
    assert result[1] == (f"<stdin>:{lines}", "skip: unexpected text after the JSON object (7 characters)")
    assert result[2][1] == "b" and len(result) == 3
    # an object glued to the start of the next pretty object is read too
    result = summary(read(first + json.dumps(node("b"), indent=2) + "\n"))
    assert [host for _, host in result] == ["a", "b"]


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


def test_an_object_larger_than_the_limit_over_many_lines_is_refused_as_one_record():
    data = node("a")
    data["notes"] = [f"note {i:05d}" for i in range(800)]
    big = json.dumps(data, indent=2)
    result = summary(read(big + "\n" + json.dumps(node("b")) + "\n"))
    lines = big.count("\n") + 1
    assert result == [
        (f"<stdin>:1-{lines}", "skip: JSON object larger than 4096 bytes, not read"),
        (f"<stdin>:{lines + 1}", "b"),
    ]


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
    assert result[2][0].endswith(f":{text.count(chr(10)) + 1}") and "a line of 7 characters" in result[2][1]


def test_a_text_stream_reads_like_a_binary_one():
    text = json.dumps(node("a")) + "\nnoise\n" + json.dumps(node("b"), indent=2) + "\n"
    as_text = list(documents(io.StringIO(text), "<stdin>", LIMIT))
    assert summary(as_text) == summary(read(text))


def test_deeply_nested_json_is_refused_without_a_crash():
    result = summary(read("{" + '"a":[' * 100000 + "\n"))
    assert len(result) == 1 and result[0][1].startswith("skip:")


# ------------------------------------------------------------------------------------ inventories from a stream


def mixed_stream(nodes: int) -> bytes:
    """NDJSON with noise, a pretty object, a bad inventory, two objects on a line, srun --label and pdsh prefixes
    (one-line and pretty objects), an oversized object and an unreadable line in between."""
    parts = []
    for i in range(nodes):
        parts.append(json.dumps(node(f"n{i:04d}", gpus=1 + i % 3)))
        if i % 53 == 3:
            parts.append(f"{i % 16:>2}: " + json.dumps(node(f"task{i}")))
        if i % 59 == 4:
            nameless = node("x")
            del nameless["hostname"]
            parts.append(f"host{i}.example: " + json.dumps(nameless))
        if i % 211 == 13:
            parts.extend(f"host{i}: {line}" for line in json.dumps(node(f"pretty-host{i}"), indent=2).splitlines())
        if i % 223 == 17:
            oversized = node(f"big{i}")
            oversized["notes"] = ["x" * 60] * (2 * STREAM_LIMIT // 60)
            parts.append(json.dumps(oversized, indent=1)[:-2])  # cut off and larger than the limit
            parts.append("\udcff not UTF-8")
        if i % 97 == 5:
            parts.append("srun: error: some noise")
        if i % 131 == 7:
            parts.append(json.dumps(node(f"pretty{i}"), indent=2))
        if i % 151 == 9:
            parts.append(json.dumps({"schema": "vram-advisor/inventory/v1", "gpus": [{"name": "x"}], "ram": {}}))
        if i % 173 == 11:
            parts.append(json.dumps(node(f"two{i}")) + json.dumps(node(f"three{i}")))
    return ("\n".join(parts) + "\n").encode("utf-8", "surrogateescape")


def test_stream_inputs_validate_each_inventory_and_name_the_bad_field():
    data = mixed_stream(20)
    items = list(stream_inputs(io.BytesIO(data), "<stdin>", STREAM_LIMIT))
    bad = [item for item in items if isinstance(item, Skipped) and "memory_total_bytes" in item.reason]
    assert bad and bad[0].reason == "gpus[0].memory_total_bytes: required field is missing"
    good = [item for item in items if isinstance(item, NodeInput)]
    assert [item.facts.hostname for item in good][:3] == ["n0000", "n0001", "n0002"]


def test_the_worker_process_gives_exactly_the_answer_of_one_process(monkeypatch):
    monkeypatch.setattr(cluster_io, "BATCH_LINES", 16)
    monkeypatch.setattr(cluster_io, "PARALLEL_AFTER_LINES", 20)
    data = mixed_stream(600)
    alone = list(stream_inputs(io.BytesIO(data), "<stdin>", STREAM_LIMIT))
    state_workers: list[object] = []
    original = cluster_io._start_worker

    def start() -> object:
        worker = original()
        state_workers.append(worker)
        return worker

    monkeypatch.setattr(cluster_io, "_start_worker", start)
    together = list(stream_inputs(io.BytesIO(data), "<stdin>", STREAM_LIMIT, worker=lambda: True))
    assert state_workers and state_workers[0] is not None, "the worker process should have started"
    assert together == alone
    assert sum(isinstance(item, Skipped) for item in alone) > 10
    assert sum(isinstance(item, NodeInput) for item in alone) > 600
    assert any(item.facts.hostname == "host4.example" for item in alone if isinstance(item, NodeInput))
    assert any(item.facts.hostname == "pretty-host13" for item in alone if isinstance(item, NodeInput))


def test_the_fast_path_gives_exactly_the_answer_of_the_line_by_line_reader(monkeypatch):
    monkeypatch.setattr(cluster_io, "BATCH_LINES", 8)
    data = mixed_stream(300)
    fast = list(stream_inputs(io.BytesIO(data), "<stdin>", STREAM_LIMIT))
    slow = list(cluster_io.node_inputs(documents(io.BytesIO(data), "<stdin>", STREAM_LIMIT)))
    assert fast == slow


def test_the_worker_policy_is_asked_once_and_only_for_a_long_stream(monkeypatch):
    monkeypatch.setattr(cluster_io, "BATCH_LINES", 16)
    monkeypatch.setattr(cluster_io, "PARALLEL_AFTER_LINES", 40)
    asked: list[int] = []

    def policy() -> bool:
        asked.append(1)
        return False

    list(stream_inputs(io.BytesIO(mixed_stream(3)), "<stdin>", STREAM_LIMIT, worker=policy))
    assert asked == []
    list(stream_inputs(io.BytesIO(mixed_stream(200)), "<stdin>", STREAM_LIMIT, worker=policy))
    assert asked == [1]


def test_the_command_decides_about_the_worker_from_the_environment_and_the_cpus(tmp_path):
    from vram_advisor.cli.cluster_cmd import worker_allowed

    assert worker_allowed({"VRAM_ADVISOR_WORKERS": "0"}) is False
    # a container limited to one CPU by its cgroup (v2 cpu.max) gets no worker, whatever the affinity says
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/cgroup").write_text("0::/\n")
    (tmp_path / "proc/self/mountinfo").write_text(
        "30 1 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw\n"
    )
    (tmp_path / "sys/fs/cgroup").mkdir(parents=True)
    (tmp_path / "sys/fs/cgroup/cpu.max").write_text("100000 100000\n")
    assert worker_allowed({}, root=tmp_path) is False
    (tmp_path / "sys/fs/cgroup/cpu.max").write_text("max 100000\n")
    import os

    assert worker_allowed({}, root=tmp_path) is (len(os.sched_getaffinity(0)) >= 2)


def test_a_byte_order_mark_and_blank_lines_are_fine():
    text = "\ufeff" + json.dumps(node("a")) + "\n\n\r\n" + json.dumps(node("b")) + "\r\n"
    assert summary(read(text)) == [("<stdin>:1", "a"), ("<stdin>:4", "b")]
    items = list(stream_inputs(io.BytesIO(text.encode()), "<stdin>"))
    assert [(item.source, item.facts.hostname) for item in items] == [("<stdin>:1", "a"), ("<stdin>:4", "b")]


# ------------------------------------------------------------------------------ cut-off objects: resynchronising


def _hosts(text: str) -> list[str]:
    return [host for _, host in summary(read(text, STREAM_LIMIT)) if not host.startswith("skip: ")]


def test_a_pretty_object_cut_after_a_member_loses_no_following_pretty_object():
    """Cut after ``"key": value,``, the gathered text expects a key; a new object opening at column 0 is still the
    next node in indented output (the pretty printer's nested objects never open at column 0)."""
    lines = json.dumps(node("a"), indent=2).splitlines()
    cut = next(i for i, line in enumerate(lines) if line.startswith("  ") and line.rstrip().endswith("["))
    text = "\n".join(lines[: cut + 1]) + "\n" + json.dumps(node("b"), indent=2) + "\n" + json.dumps(node("c"), indent=2)
    assert _hosts(text + "\n") == ["b", "c"]
    result = summary(read(text + "\n", STREAM_LIMIT))
    assert result[0] == (
        f"<stdin>:1-{cut + 1}",
        f"skip: incomplete JSON object (a new object starts at line {cut + 2})",
    )


@pytest.mark.parametrize("ending", ['"gpus": [', '"hostname": "a", ', '"schema":', '"gpus": [{"name": "x", '])
@pytest.mark.parametrize("indent", [None, 2, 0])
def test_a_compact_object_cut_off_loses_no_following_object(ending, indent):
    """An NDJSON line cut off mid-object (the node was killed), then the next node's object, compact or pretty: the
    cut line is one skipped record and the next node is read (the case mutation testing found unguarded)."""
    cut = '{"schema": "vram-advisor/inventory/v1", ' + ending if not ending.startswith('"schema"') else "{" + ending
    after = json.dumps(node("b"), indent=indent) + "\n" + json.dumps(node("c"), indent=indent) + "\n"
    result = summary(read(cut + "\n" + after, STREAM_LIMIT))
    assert [host for _, host in result if not host.startswith("skip: ")] == ["b", "c"]
    assert result[0][0] == "<stdin>:1" and result[0][1].startswith("skip: incomplete JSON object")


def test_a_compact_object_cut_after_a_comma_is_ended_by_an_inventory_line():
    """Cut after ``, `` a compact line expects a key; the next line, an inventory (its schema first), starts anew."""
    cut = json.dumps(node("a"))[:-1]
    cut = cut[: cut.rindex(", ") + 2]
    text = cut + "\n" + json.dumps(node("b")) + "\n"
    assert _hosts(text) == ["b"]
    items = list(stream_inputs(io.BytesIO(text.encode()), "<stdin>"))  # the command's reader: the same
    assert [item.facts.hostname for item in items if isinstance(item, NodeInput)] == ["b"]


def test_an_unindented_object_over_many_lines_is_still_read_whole():
    """``json.dumps(indent=0)``: nested objects open at column 0 after ``[`` and after an element's ``},``; that
    is not a new object."""
    data = node("a", gpus=3)
    assert _hosts(json.dumps(data, indent=0) + "\n" + json.dumps(node("b"), indent=0) + "\n") == ["a", "b"]


def test_cut_off_objects_lose_no_next_node_wherever_the_cut_falls():
    """Every cut point of a compact and of a pretty object, followed by two nodes: both are read."""
    b_c = {
        indent: json.dumps(node("b"), indent=indent) + "\n" + json.dumps(node("c"), indent=indent) + "\n"
        for indent in (None, 2)
    }
    for first in (json.dumps(node("a")), json.dumps(node("a"), indent=2)):
        for cut in range(1, len(first) - 1):
            for after in b_c.values():
                hosts = _hosts(first[:cut] + "\n" + after)
                assert hosts[-2:] == ["b", "c"], (first[:cut][-40:], hosts)


def test_an_unindented_object_cut_off_loses_no_following_object():
    """``json.dumps(indent=0)`` cut off: after a ``"key": value,`` line a key must come, so a line opening an object
    is the next node; after ``[`` it could be an element, but a line naming the inventory schema is always a node."""
    lines = json.dumps(node("a"), indent=0).splitlines()
    member = next(i for i, line in enumerate(lines) if line.startswith('"hostname"'))
    text = "\n".join(lines[: member + 1]) + "\n" + json.dumps(node("b"), indent=2) + "\n"
    assert _hosts(text) == ["b"]
    array = next(i for i, line in enumerate(lines) if line.endswith("["))
    text = "\n".join(lines[: array + 1]) + "\n" + json.dumps(node("b")) + "\n"
    assert _hosts(text) == ["b"]


@pytest.mark.parametrize("separators", [None, (",", ":")])
def test_an_object_cut_off_and_followed_on_the_same_line_loses_no_next_node(separators):
    """Issue 19: a node's output cut off mid-object and the next node's object on the same line (no line end in
    between), wherever the cut falls: the next nodes are read, and the cut one is one record naming where the next
    starts. Before, the whole line was "not valid JSON" and the node after the cut was lost."""
    first = json.dumps(node("a"), separators=separators)
    after = json.dumps(node("b"), separators=separators) + "\n" + json.dumps(node("c")) + "\n"
    for cut in range(1, len(first) - 1):
        result = summary(read(first[:cut] + after, STREAM_LIMIT))
        assert [host for _, host in result if not host.startswith("skip: ")] == ["b", "c"], (first[:cut][-40:], result)
        assert result[0] == (
            "<stdin>:1",
            f"skip: incomplete JSON object (a new object starts at line 1 column {cut + 1})",
        ), first[:cut][-40:]


def test_a_cut_object_on_the_same_line_through_the_command(cli):
    cut = json.dumps(node("a"), separators=(",", ":"))
    stdin = cut[: len(cut) // 2] + json.dumps(node("b"), separators=(",", ":")) + "\n"
    result = cli(["cluster", "-", "--json"], stdin=stdin)
    assert result.code == 0, result.err
    assert [n["hostname"] for n in result.json()["nodes"]] == ["b"]
    assert result.err.startswith("vram-advisor: skipped <stdin>:1: incomplete JSON object (a new object starts at line")
    items = list(stream_inputs(io.BytesIO(stdin.encode() * 3), "<stdin>"))  # the fast path, line after line: the same
    assert [item.facts.hostname for item in items if isinstance(item, NodeInput)] == ["b", "b", "b"]


def test_a_cut_object_inside_a_gathered_pretty_object_loses_no_next_node():
    """A pretty object whose lines end in another node's compact object (the cut on the line before it)."""
    lines = json.dumps(node("a"), indent=2).splitlines()
    text = "\n".join(lines[:5]) + json.dumps(node("b")) + "\n" + json.dumps(node("c"), indent=2) + "\n"
    assert _hosts(text) == ["b", "c"]


def test_cut_objects_on_one_line_are_looked_past_a_bounded_number_of_times():
    """Each look past a cut object costs a pass over the line before it, so a line of cut objects is looked past at
    most ``MAX_RESTARTS`` times (a hostile 4 MiB line stays linear); its rest is one record, the next line is read."""
    cut = json.dumps(node("a"))[:40]
    many = cut * (jsonstream.MAX_RESTARTS + 3) + json.dumps(node("b")) + "\n" + json.dumps(node("c")) + "\n"
    result = summary(read(many, STREAM_LIMIT))
    assert [host for _, host in result if not host.startswith("skip: ")] == ["c"]
    skips = [reason for source, reason in result if source == "<stdin>:1"]
    assert len(skips) == jsonstream.MAX_RESTARTS + 1
    assert skips[-1].startswith("skip: not valid JSON")
    few = cut * (jsonstream.MAX_RESTARTS - 1) + json.dumps(node("b")) + "\n"
    assert _hosts(few) == ["b"]
