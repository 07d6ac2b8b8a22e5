"""The tailer on real files: rotation while a writer appends, truncation, odd lines."""

from __future__ import annotations

import contextlib
import gc
import gzip
import json
import os
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog

from calmopsd.sense.logs.tailer import CHUNK, MAX_FILES, SourceTailer


class Lines:
    """Collects what the tailer hands on."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def __call__(self, buf: bytes, end: int) -> None:
        self.lines.extend(buf[:end].split(b"\n")[:-1])


def tailer(*patterns: Path, start_at_end: bool = False, max_line: int = 4096) -> SourceTailer:
    return SourceTailer(
        "web", patterns, max_line_length=max_line, max_read=1 << 30, start_at_end=start_at_end
    )


def write(path: Path, text: str, mode: str = "a") -> None:
    with path.open(mode) as f:
        f.write(text)


def run_writer(path: Path, count: int, rotate: str, rotate_at: int) -> threading.Thread:
    """A writer appending numbered lines; the rotation happens in its thread."""

    def writing() -> None:
        f = path.open("a", buffering=1)
        for i in range(count):
            if i == rotate_at:
                if rotate == "rename":
                    f.close()
                    path.rename(path.with_name(path.name + ".1"))
                    f = path.open("a", buffering=1)
                else:  # copytruncate, as logrotate does it (the writer keeps its fd, O_APPEND)
                    f.flush()
                    path.with_name(path.name + ".1").write_bytes(path.read_bytes())
                    os.truncate(path, 0)
            f.write(f"line {i}\n")
            if i % 200 == 0:
                time.sleep(0.001)
        f.close()

    thread = threading.Thread(target=writing)
    thread.start()
    return thread


@pytest.mark.parametrize("rotate", ["rename", "copytruncate"])
def test_rotation_while_a_writer_appends_loses_and_repeats_nothing(
    tmp_path: Path, rotate: str
) -> None:
    log = tmp_path / "access.log"
    log.touch()
    follow, got = tailer(log), Lines()
    follow.poll(got)
    writer = run_writer(log, 20_000, rotate, 10_000)
    deadline = time.monotonic() + 20
    while writer.is_alive() and time.monotonic() < deadline:
        follow.poll(got)
        time.sleep(0.002)
    writer.join()
    for _ in range(3):
        follow.poll(got)
    # The rotation runs between two writes here, so every line is in some file
    # (with a real copytruncate, lines written between copy and truncate are lost
    # from both files: that race is logrotate's, not the reader's).
    assert sorted(int(line.split()[1]) for line in got.lines) == list(range(20_000))


def test_a_copytruncate_with_the_copy_in_view_reads_the_lines_before_the_truncation(
    tmp_path: Path,
) -> None:
    log = tmp_path / "app.log"
    write(log, "a\nb\n")
    follow, got = tailer(log), Lines()
    follow.poll(got)
    write(log, "c\nd\n")  # not read yet when the rotation happens
    (tmp_path / "app.log.1").write_bytes(log.read_bytes())
    os.truncate(log, 0)
    write(log, "e\n")
    follow.poll(got)
    assert sorted(got.lines) == [b"a", b"b", b"c", b"d", b"e"]


def test_truncation_in_place_reads_the_file_again_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, "one\ntwo\nthree\n")
    follow, got = tailer(log), Lines()
    follow.poll(got)
    write(log, "four\n", mode="w")
    follow.poll(got)
    assert got.lines == [b"one", b"two", b"three", b"four"]
    assert follow.truncations == 1


def test_a_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, "whole\nhal")
    follow, got = tailer(log), Lines()
    follow.poll(got)
    assert got.lines == [b"whole"]
    write(log, "f\n")
    follow.poll(got)
    assert got.lines == [b"whole", b"half"]


def test_a_10_mb_line_is_skipped_in_bounded_memory_and_counted_once(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, "before\n" + "x" * (10 * 1024 * 1024) + "\nafter\n")
    follow, got = tailer(log, max_line=65536), Lines()
    follow.chunk = 1 << 20  # 1 MiB reads: the line spans ten of them
    follow.poll(got)
    assert got.lines == [b"before", b"after"]
    assert follow.long_lines == 1


def test_a_deleted_and_recreated_file_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, "old\n")
    follow, got = tailer(log), Lines()
    follow.poll(got)
    log.unlink()
    follow.poll(got)
    write(log, "new\n")
    follow.poll(got)
    assert got.lines == [b"old", b"new"]


def test_globs_pick_up_new_files_and_skip_compressed_ones(tmp_path: Path) -> None:
    follow, got = tailer(tmp_path / "*.log*"), Lines()
    write(tmp_path / "a.log", "a1\n")
    follow.poll(got)
    write(tmp_path / "b.log", "b1\n")
    with gzip.open(tmp_path / "a.log.2.gz", "wt") as f:
        f.write("zipped\n")
    follow.poll(got)
    assert sorted(got.lines) == [b"a1", b"b1"]


def test_a_symlinked_path_is_its_target_read_once(tmp_path: Path) -> None:
    target = tmp_path / "real.log"
    write(target, "one\n")
    (tmp_path / "link.log").symlink_to(target)
    (tmp_path / "dangling.log").symlink_to(tmp_path / "missing")
    follow, got = tailer(tmp_path / "*.log"), Lines()
    follow.poll(got)
    assert got.lines == [b"one"]


def test_a_new_source_starts_at_the_end_of_the_last_whole_line(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, "old\nold too\npart")
    follow, got = tailer(log, start_at_end=True), Lines()
    follow.poll(got)
    write(log, "ial\nnew\n")
    follow.poll(got)
    assert got.lines == [b"partial", b"new"]


def numbered(start: int, stop: int) -> str:
    return "".join(f"line {i}\n" for i in range(start, stop))


@pytest.mark.parametrize("polled_while", ["copy_half_written", "copy_written_not_truncated"])
def test_a_copytruncate_polled_midway_counts_every_line_once(
    tmp_path: Path, polled_while: str
) -> None:
    log, copy = tmp_path / "app.log", tmp_path / "app.log.1"
    write(log, numbered(0, 1000))
    follow, got = tailer(log), Lines()
    follow.poll(got)
    write(log, numbered(1000, 1100))  # not read yet when the copy begins
    whole = log.read_bytes()
    half = len(whole) // 2 if polled_while == "copy_half_written" else len(whole)
    copy.write_bytes(whole[:half])
    follow.poll(got)
    copy.write_bytes(whole)
    os.truncate(log, 0)
    write(log, numbered(1100, 1150))
    follow.poll(got)
    follow.poll(got)
    assert sorted(int(line.split()[1]) for line in got.lines) == list(range(1150))


def test_a_glob_matching_70_files_follows_64_and_says_so_once(tmp_path: Path) -> None:
    for i in range(70):
        write(tmp_path / f"app{i:02d}.log", f"file {i}\n")
    follow, got = tailer(tmp_path / "*.log"), Lines()
    with structlog.testing.capture_logs() as events:
        follow.poll(got)
        follow.poll(got)
    assert len(follow.files) == MAX_FILES == 64
    assert sorted(got.lines) == sorted(f"file {i}".encode() for i in range(64))
    too_many = [e for e in events if e["event"] == "logs.too_many_files"]
    assert [(e["count"], e["limit"]) for e in too_many] == [(70, 64)]
    follow.close()


def in_a_child(work: Callable[[], object]) -> Any:
    """Run work in a forked child and hand back its result (through JSON).

    The child has one thread, so nothing else can take a file descriptor while
    work counts on exactly how many are free (pytest's process has other threads),
    and no garbage collection: a finalizer of some object inherited from the parent
    must not close or open a descriptor meanwhile.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        gc.disable()
        status = 0
        try:
            result: object = work()
        except BaseException as exc:
            result, status = f"{type(exc).__name__}: {exc}", 1
        with os.fdopen(write_end, "w") as out:
            json.dump(result, out)
        os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as got:
        result = json.load(got)
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0, result
    return result


def test_files_that_cannot_be_opened_are_said_once_each(tmp_path: Path) -> None:
    paths = [str(tmp_path / f"app{i:02d}.log") for i in range(20)]
    for i, path in enumerate(paths):
        write(Path(path), f"file {i}\n")

    def starved() -> dict[str, Any]:
        follow, got = tailer(tmp_path / "*.log"), Lines()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        before = {fd.name for fd in Path("/proc/self/fd").iterdir()}
        highest = max(int(fd) for fd in before)
        fillers: list[int] = []
        with structlog.testing.capture_logs() as events:
            # Root opens any file: running out of descriptors is the failure left to provoke.
            # Every free descriptor is taken but eight.
            resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1, hard))
            try:
                with contextlib.suppress(OSError):
                    while True:
                        fillers.append(os.open(os.devnull, os.O_RDONLY))
                for fd in fillers[-8:]:
                    os.close(fd)
                del fillers[-8:]
                follow.poll(got)
                follow.poll(got)
            finally:
                for fd in fillers:
                    os.close(fd)
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        held = sorted(f.path for f in follow.files.values())
        # Whatever else took a descriptor meanwhile, named in case the counts disagree.
        mine = {f.fd for f in follow.files.values()}
        others: dict[str, str] = {}
        for entry in list(Path("/proc/self/fd").iterdir()):
            if entry.name not in before and int(entry.name) not in mine:
                with contextlib.suppress(OSError):  # the listing's own descriptor is gone
                    others[entry.name] = str(entry.readlink())
        follow.poll(got)
        follow.close()
        failed = [e["path"] for e in events if e["event"] == "logs.open_failed"]
        return {
            "held": held,
            "failed": failed,
            "lines": [line.decode() for line in got.lines],
            "others": others,
        }

    result = in_a_child(starved)
    held, failed = result["held"], result["failed"]
    # Eight descriptors were free: the first files in order take them (fewer only if
    # the interpreter itself took some meanwhile), and every other file is said once.
    assert 1 <= len(held) <= 8, result
    assert held == paths[: len(held)], result
    assert sorted(failed) == sorted(set(failed)) == paths[len(held) :], result
    # Once descriptors are back, every file is read.
    assert sorted(result["lines"]) == sorted(f"file {i}" for i in range(20))


def test_a_backlog_is_handed_on_one_chunk_at_a_time_whatever_its_size(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    line = b'127.0.0.1 - - [02/Mar/2026:14:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "t"\n'
    count = 6 * CHUNK // len(line)  # six chunks' worth, read in one round
    log.write_bytes(line * count)
    sizes: list[int] = []
    lines = 0

    def consume(buf: bytes, end: int) -> None:
        nonlocal lines
        sizes.append(len(buf))
        lines += buf.count(b"\n", 0, end)

    follow = tailer(log, max_line=65536)
    follow.poll(consume)
    follow.close()
    # The reader holds one chunk at a time (issue 16: a 1 GiB backlog caught up in flat
    # memory), and every line still arrives once.
    assert max(sizes) <= CHUNK
    assert len(sizes) >= 6
    assert lines == count
