"""``probe --measure``: the RAM copy measurement on a fake memory (a copy that advances a fake clock, so the
arithmetic, the thread count, the rounds and the time bound are exact), the disk read, and the real CLI's output and
its exit-2 paths (a folder without /proc as the machine's root, a failing copy, implausible figures)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from fake_machine import GIB, machine, nvme_disk

import vram_advisor.probe
from vram_advisor.inventory import model as inv
from vram_advisor.probe import diskread, measure

MIB = 1024**2


class FakeMemory:
    """A memory that copies at ``rate`` bytes per second (read + written) in all, whatever the thread count: each
    copy of ``n`` bytes advances the clock by ``2 n / rate``, one copy at a time."""

    def __init__(self, rate: float, fail_after: int | None = None) -> None:
        self.rate = rate
        self.now = 100.0
        self.copies = 0
        self.threads: set[int] = set()
        self.fail_after = fail_after
        self.lock = threading.Lock()

    def clock(self) -> float:
        with self.lock:
            return self.now

    def copy(self, dst: int, src: int, size: int) -> None:
        assert dst and src and dst != src
        with self.lock:
            self.copies += 1
            self.threads.add(threading.get_ident())
            if self.fail_after is not None and self.copies > self.fail_after:
                raise OSError(14, "Bad address")
            self.now += 2 * size / self.rate


def run(
    memory: FakeMemory, threads: int = 4, buffer: int = MIB, budget: float = measure.BUDGET_S
) -> inv.BandwidthReading:
    plan = measure.RamPlan(threads=threads, buffer_bytes=buffer)
    return measure.measure_ram(plan, copy=memory.copy, clock=memory.clock, budget_s=budget)


def test_the_figure_is_bytes_read_plus_written_per_second_over_every_thread():
    memory = FakeMemory(50e9)
    reading = run(memory, threads=4, buffer=MIB)
    assert reading.measured is True and reading.threads == 4
    assert reading.bytes_per_s == pytest.approx(50e9, rel=1e-6)
    assert len(memory.threads) == 4  # every thread copied, each its own buffers
    # the best round's bytes: 4 threads x its copies x 2 x 1 MiB, and its seconds at the fake rate
    assert reading.bytes is not None and reading.bytes % (2 * 4 * MIB) == 0
    assert reading.seconds == pytest.approx(reading.bytes / 50e9, abs=1e-6)
    assert reading.method == measure.METHOD


def test_rounds_grow_to_the_round_length_and_stop_at_the_most_rounds():
    memory = FakeMemory(50e9)
    reading = run(memory, threads=2, buffer=MIB)
    # one warm-up copy per thread, then a first round of one copy each, then rounds of about ROUND_S
    per_copy = 2 * 2 * MIB / 50e9  # both threads' copies, one after the other on the fake memory
    copies = min(measure.MAX_COPIES, round(measure.ROUND_S / per_copy))
    assert copies == measure.MAX_COPIES  # 1 MiB buffers are quick: the most copies a round makes
    assert reading.rounds == measure.MAX_ROUNDS
    assert memory.copies == 2 + 2 * (1 + copies * (measure.MAX_ROUNDS - 1))
    assert reading.elapsed_seconds == pytest.approx(memory.copies * 2 * MIB / 50e9, abs=1e-3)


def test_no_round_starts_that_would_end_past_the_budget():
    memory = FakeMemory(2.5e9)  # slow: a round of 80 ms is 3 copies
    reading = run(memory, threads=2, buffer=32 * MIB, budget=0.3)
    assert reading.rounds is not None and reading.rounds < measure.MAX_ROUNDS
    assert reading.elapsed_seconds is not None and reading.elapsed_seconds <= 0.3
    assert reading.bytes_per_s == pytest.approx(2.5e9, rel=1e-6)


def test_the_first_round_runs_even_when_warming_up_took_the_whole_budget():
    memory = FakeMemory(2.5e9)
    reading = run(memory, threads=1, buffer=32 * MIB, budget=0.001)
    assert reading.rounds == 1 and reading.bytes == 2 * 32 * MIB


@pytest.mark.parametrize("rate", [1.9e9, 4001e9])
def test_implausible_figures_are_refused(rate):
    with pytest.raises(measure.MeasureError, match="outside the plausible 2 to 4000 GB/s"):
        run(FakeMemory(rate))


def test_a_failing_copy_is_an_error_naming_it():
    with pytest.raises(measure.MeasureError, match="a thread failed copying"):
        run(FakeMemory(50e9, fail_after=4 + 2))  # the four warm-ups and two copies of the first round pass


def test_a_copy_failing_at_the_warm_up_is_an_error():
    with pytest.raises(measure.MeasureError, match="allocating or warming up"):
        run(FakeMemory(50e9, fail_after=0))


def test_a_clock_that_never_advances_gives_no_round():
    memory = FakeMemory(50e9)
    with pytest.raises(measure.MeasureError, match="no timed round"):
        measure.measure_ram(measure.RamPlan(2, MIB), copy=memory.copy, clock=lambda: 5.0)


def test_threads_follow_the_usable_cpus_and_stop_at_the_most():
    big = 512 * GIB
    assert measure.plan_ram(2.0, big, "").threads == 2
    assert measure.plan_ram(3.5, big, "").threads == 3  # a quota of 3.5 CPUs runs 3 threads
    assert measure.plan_ram(None, big, "").threads == 1
    assert measure.plan_ram(224.0, big, "").threads == measure.MAX_THREADS


def test_buffers_take_a_sixteenth_of_the_available_memory_within_bounds():
    assert measure.plan_ram(2.0, 16 * GIB, "").buffer_bytes == 256 * MIB  # 1 GiB over 2 threads x 2 buffers
    assert measure.plan_ram(2.0, 512 * GIB, "").buffer_bytes == GIB  # 4 GiB at most
    assert measure.plan_ram(16.0, 512 * GIB, "").buffer_bytes == 128 * MIB
    assert measure.plan_ram(16.0, 16 * GIB, "").buffer_bytes == 32 * MIB  # never below 32 MiB while memory allows
    small = measure.plan_ram(16.0, 1 * GIB, "")  # 1 GiB available: 256 MiB for 32 buffers
    assert small.buffer_bytes == 8 * MIB and 2 * 16 * small.buffer_bytes <= GIB // 4
    with pytest.raises(measure.MeasureError, match="of memory is available"):
        measure.plan_ram(16.0, 512 * MIB, "")
    with pytest.raises(measure.MeasureError, match="cannot run here: no meminfo"):
        measure.plan_ram(16.0, None, "no meminfo")


def test_the_real_copy_runs_on_real_threads():
    """The real ``ctypes.memmove`` path (no figure is asserted: that is bench/measure_bandwidth.py's job)."""
    plan = measure.RamPlan(threads=2, buffer_bytes=8 * MIB)
    try:
        reading = measure.measure_ram(plan, budget_s=0.2)
    except measure.MeasureError as exc:  # a starved CI machine may fall below 2 GB/s: then it says so
        assert "outside the plausible" in str(exc)
        return
    assert reading.threads == 2 and reading.bytes_per_s and reading.rounds


# --------------------------------------------------------------------------------------------------- disk


def test_the_largest_file_on_the_model_dirs_filesystem_is_read(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "small.bin").write_bytes(b"x" * 10)
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / "big").write_bytes(b"x" * 1000)
    (tmp_path / "snapshot.gguf").symlink_to(tmp_path / "blobs" / "big")  # the Hugging Face cache's layout
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)  # a link to a folder is not walked
    found = diskread.largest_file(str(tmp_path))
    assert found is not None and found[1] == 1000 and Path(found[0]).name in ("big", "snapshot.gguf")


def test_no_model_dir_or_no_large_file_is_a_note(tmp_path):
    reading, note = diskread.measure_read(str(tmp_path / "missing"))
    assert reading is None and note is not None and "does not exist" in note
    (tmp_path / "config.json").write_text("{}")
    reading, note = diskread.measure_read(str(tmp_path))
    assert reading is None and note is not None and "no file of 64 MiB or more" in note


def test_the_read_figure_and_its_sanity_bound(tmp_path, monkeypatch):
    (tmp_path / "model.gguf").write_bytes(b"\0")
    monkeypatch.setattr(diskread, "MIN_FILE_BYTES", 1)
    monkeypatch.setattr(diskread, "_read", lambda path, direct, clock, budget: (512 * MIB, 0.25))
    reading, note = diskread.measure_read(str(tmp_path))
    assert note is None and reading is not None
    assert reading.bytes_per_s == int(512 * MIB / 0.25) and reading.measured is True
    assert reading.path == str(tmp_path / "model.gguf") and reading.bytes == 512 * MIB
    monkeypatch.setattr(diskread, "_read", lambda path, direct, clock, budget: (512 * MIB, 0.001))
    reading, note = diskread.measure_read(str(tmp_path))
    assert reading is None and note is not None and "a cache answered" in note


def test_a_filesystem_refusing_o_direct_is_a_note(tmp_path, monkeypatch):
    (tmp_path / "model.gguf").write_bytes(b"\0")
    monkeypatch.setattr(diskread, "MIN_FILE_BYTES", 1)

    def refuse(path, direct, clock, budget):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(diskread, "_read", refuse)
    reading, note = diskread.measure_read(str(tmp_path))
    assert reading is None and note is not None and "could not be read past the page cache" in note


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="O_DIRECT is Linux's")
def test_the_real_read_gives_a_figure_or_says_why_not(tmp_path, monkeypatch):
    (tmp_path / "model.gguf").write_bytes(b"\1" * (4 * MIB))
    monkeypatch.setattr(diskread, "MIN_FILE_BYTES", MIB)
    monkeypatch.setattr(diskread, "MIN_READ_BYTES", MIB)
    reading, note = diskread.measure_read(str(tmp_path))
    assert (reading is None) != (note is None)
    if reading is not None:
        assert reading.bytes == 4 * MIB  # the whole file: shorter than a read's limit
    else:
        assert note is not None and note.startswith("disk read bandwidth not measured")


# ------------------------------------------------------------------------------------------------ the CLI


@pytest.fixture
def fake_memory(monkeypatch):
    """The CLI's copy and clock on a fake memory of 80 GB/s, with small buffers."""
    memory = FakeMemory(80e9)
    monkeypatch.setattr(measure, "COPY", memory.copy)
    monkeypatch.setattr(measure, "CLOCK", memory.clock)
    monkeypatch.setattr(measure, "BUFFER_BYTES", MIB)
    monkeypatch.setattr(measure, "MIN_WORKING_SET_BYTES", MIB)
    monkeypatch.setattr(measure, "MAX_WORKING_SET_BYTES", 4 * MIB)
    monkeypatch.setattr(measure, "MIN_BUFFER_BYTES", MIB)
    return memory


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A host with 512 GiB of RAM (480 available), / on NVMe, as the probe's root."""
    base = tmp_path / "machine"
    machine(base)
    nvme_disk(base)
    monkeypatch.setattr(vram_advisor.probe, "DEFAULT_ROOT", base)
    return base


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fake root is a Linux /proc")
def test_probe_measure_json_records_the_measurement(cli, root, fake_memory, tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    (models / "weights.gguf").write_bytes(b"\0")
    monkeypatch.setattr(diskread, "MIN_FILE_BYTES", 1)
    monkeypatch.setattr(diskread, "_read", lambda path, direct, clock, budget: (256 * MIB, 0.125))
    result = cli(["probe", "--measure", "--json", "--model-dir", str(models)])
    assert result.code == 0, result.err
    document = result.json()
    bandwidth = document["ram"]["bandwidth"]
    assert bandwidth["measured"] is True and bandwidth["bytes_per_s"] == pytest.approx(80e9, rel=1e-6)
    assert bandwidth["threads"] == len(fake_memory.threads) >= 1
    assert set(bandwidth) >= {"bytes", "seconds", "rounds", "elapsed_seconds", "method"}
    disk = next(d for d in document["disks"] if d["model_dir"])
    assert disk["read_bandwidth"]["bytes_per_s"] == int(256 * MIB / 0.125)
    assert disk["read_bandwidth"]["path"] == str(models / "weights.gguf")
    # what it wrote reads back as the same inventory
    assert inv.to_dict(inv.loads(result.out)) == document


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fake root is a Linux /proc")
def test_probe_measure_human_view_prints_the_figure(cli, root, fake_memory, tmp_path):
    result = cli(["probe", "--measure", "--model-dir", str(tmp_path / "none")])
    assert result.code == 0, result.err
    assert "RAM copy: 80.0 GB/s" in result.out
    assert "disk read bandwidth not measured" in result.out


def test_probe_without_measure_measures_nothing(cli, root, fake_memory):
    result = cli(["probe", "--json"])
    assert result.code == 0, result.err
    assert result.json()["ram"]["bandwidth"] is None and fake_memory.copies == 0


def one_line_exit_2(result) -> str:
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    return result.err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_container_without_proc_is_exit_2(cli, tmp_path, monkeypatch, fake_memory, json_flag):
    empty = tmp_path / "no-proc"
    empty.mkdir()
    monkeypatch.setattr(vram_advisor.probe, "DEFAULT_ROOT", empty)
    err = one_line_exit_2(cli(["probe", "--measure", *json_flag]))
    assert "cannot run here" in err and "proc/meminfo is not readable" in err
    assert fake_memory.copies == 0  # nothing was allocated or copied


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fake root is a Linux /proc")
def test_too_little_memory_is_exit_2(cli, tmp_path, monkeypatch, fake_memory):
    base = tmp_path / "machine"
    machine(base, available_kb=1024)  # 1 MiB available
    monkeypatch.setattr(vram_advisor.probe, "DEFAULT_ROOT", base)
    err = one_line_exit_2(cli(["probe", "--measure", "--json"]))
    assert "of memory is available" in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fake root is a Linux /proc")
def test_a_failing_copy_is_exit_2(cli, root, fake_memory):
    fake_memory.fail_after = 0
    err = one_line_exit_2(cli(["probe", "--measure", "--json"]))
    assert "a thread failed allocating or warming up its buffers" in err and "Bad address" in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fake root is a Linux /proc")
def test_an_implausible_figure_is_exit_2(cli, root, fake_memory):
    fake_memory.rate = 10e12
    err = one_line_exit_2(cli(["probe", "--measure"]))
    assert "outside the plausible" in err and "not recorded" in err
