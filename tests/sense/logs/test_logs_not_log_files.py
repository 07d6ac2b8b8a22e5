"""A log path that is not a log file — a FIFO, /dev/zero, a directory — is never read: the
source says what it is, and a round that could read nothing because of it is not ok.

Every poll runs on a thread with a deadline, so a regression (an open that waits for a
FIFO's writer, a read that never ends on /dev/zero) fails the test instead of hanging it.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import structlog
from logmaker import START, LogMaker, combined, logs_config, nginx_source
from support.clock import ManualClock  # type: ignore[import-not-found]

from calmopsd.model import Reading
from calmopsd.sense.logs import LogWatcher
from calmopsd.sense.logs.tailer import SourceTailer

DEADLINE_S = 10.0
T = TypeVar("T")


def within_deadline(work: Callable[[], T]) -> T:
    """``work()`` on a daemon thread; fails the test if it has not returned in time."""
    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as exc:  # handed to the test below
            failed.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(DEADLINE_S)
    assert not thread.is_alive(), f"still running after {DEADLINE_S}s: it hangs"
    if failed:
        raise failed[0]
    return done[0]


def poll_once(config: Any, minutes: int = 1) -> tuple[Reading, list[dict[str, Any]]]:
    watcher = LogWatcher(config, ManualClock(START + timedelta(minutes=minutes)))
    try:
        with structlog.testing.capture_logs() as logs:
            reading = within_deadline(watcher.poll)
    finally:
        watcher.close()
    return reading, logs


def write_requests(path: Path, count: int) -> None:
    maker = LogMaker(seed=3)
    with path.open("a") as f:
        for at in maker.times(count, start=START, spread_s=55):
            f.write(combined(maker.request(at)))


def test_a_fifo_at_a_log_path_is_said_to_be_a_fifo_and_the_reading_is_not_ok(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "access.log"
    os.mkfifo(fifo)  # no writer: an open without O_NONBLOCK would wait for ever
    config = logs_config(tmp_path, nginx=[nginx_source("web", fifo)])

    reading, logs = poll_once(config)

    assert (reading.ok, reading.error) == (False, f"{fifo} is a FIFO, not a log file")
    assert reading.values["sources"]["web"]["problems"] == [f"{fifo} is a FIFO, not a log file"]
    assert reading.values["sources"]["web"]["files"] == []
    said = [line for line in logs if line["event"] == "logs.not_a_log_file"]
    assert [(s["source"], s["path"], s["kind"]) for s in said] == [("web", str(fifo), "a FIFO")]


def test_dev_zero_at_a_log_path_is_a_character_device_not_a_log_file(tmp_path: Path) -> None:
    config = logs_config(tmp_path, nginx=[nginx_source("web", Path("/dev/zero"))])

    reading, _ = poll_once(config)

    assert (reading.ok, reading.error) == (
        False,
        "/dev/zero is a character device, not a log file",
    )
    assert reading.values["sources"]["web"]["totals"]["requests"] == 0


def test_a_symlink_to_dev_zero_is_what_it_points_at(tmp_path: Path) -> None:
    link = tmp_path / "access.log"
    link.symlink_to("/dev/zero")
    config = logs_config(tmp_path, nginx=[nginx_source("web", link)])

    reading, _ = poll_once(config)

    assert (reading.ok, reading.error) == (False, f"{link} is a character device, not a log file")


def test_it_is_said_once_not_every_round(tmp_path: Path) -> None:
    fifo = tmp_path / "access.log"
    os.mkfifo(fifo)
    config = logs_config(tmp_path, nginx=[nginx_source("web", fifo)])
    watcher = LogWatcher(config, ManualClock(START))
    try:
        with structlog.testing.capture_logs() as logs:
            readings = [within_deadline(watcher.poll) for _ in range(3)]
    finally:
        watcher.close()

    assert [r.ok for r in readings] == [False, False, False]
    assert [line["event"] for line in logs].count("logs.not_a_log_file") == 1


def test_a_fifo_in_a_glob_beside_real_logs_leaves_the_reading_ok_and_is_named(
    tmp_path: Path,
) -> None:
    log, fifo = tmp_path / "access.log", tmp_path / "pipe.log"
    write_requests(log, 40)
    os.mkfifo(fifo)
    config = logs_config(tmp_path, nginx=[nginx_source("web", tmp_path / "*.log")])

    reading, _ = poll_once(config)

    web = reading.values["sources"]["web"]
    assert (reading.ok, reading.error) == (True, None)
    assert (web["files"], web["problems"]) == ([str(log)], [f"{fifo} is a FIFO, not a log file"])
    assert web["totals"]["requests"] == 40


def test_one_source_at_a_fifo_does_not_blind_the_others(tmp_path: Path) -> None:
    log, fifo = tmp_path / "access.log", tmp_path / "app.log"
    write_requests(log, 25)
    os.mkfifo(fifo)
    config = logs_config(tmp_path, nginx=[nginx_source("web", log), nginx_source("other", fifo)])

    reading, _ = poll_once(config)

    sources = reading.values["sources"]
    assert reading.ok
    assert (sources["web"]["totals"]["requests"], sources["web"]["problems"]) == (25, [])
    assert sources["other"]["problems"] == [f"{fifo} is a FIFO, not a log file"]


def test_a_directory_at_a_log_path_is_said_to_be_one(tmp_path: Path) -> None:
    directory = tmp_path / "access.log"
    directory.mkdir()
    config = logs_config(tmp_path, nginx=[nginx_source("web", directory)])

    reading, _ = poll_once(config)

    assert reading.error == f"{directory} is a directory, not a log file"


def test_a_missing_file_is_still_a_quiet_site_not_a_failure(tmp_path: Path) -> None:
    config = logs_config(tmp_path, nginx=[nginx_source("web", tmp_path / "absent.log")])

    reading, _ = poll_once(config)

    assert (reading.ok, reading.values["sources"]["web"]["problems"]) == (True, [])


def test_a_fifo_swapped_in_after_the_look_is_not_waited_for(tmp_path: Path) -> None:
    """The path was a regular file when the round looked at it, and is a FIFO at the open."""
    path = tmp_path / "access.log"
    os.mkfifo(path)
    tailer = SourceTailer("web", [path], max_line_length=4096, max_read=1 << 20, start_at_end=False)

    opened = within_deadline(lambda: tailer._open(str(path)))

    assert opened is None
    assert tailer.problems == {str(path): f"{path} is a FIFO, not a log file"}


def test_a_file_that_becomes_a_log_file_again_is_read(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    os.mkfifo(path)
    config = logs_config(tmp_path, nginx=[nginx_source("web", path)])
    clock = ManualClock(START)
    watcher = LogWatcher(config, clock)
    try:
        first = within_deadline(watcher.poll)
        path.unlink()
        write_requests(path, 10)
        clock.advance(timedelta(minutes=1))
        second = within_deadline(watcher.poll)
    finally:
        watcher.close()

    assert (first.ok, second.ok) == (False, True)
    assert stat.S_ISREG(path.stat().st_mode)
    web = second.values["sources"]["web"]
    assert (web["problems"], web["totals"]["requests"]) == ([], 10)


def test_many_problems_are_listed_up_to_five_in_the_error(tmp_path: Path) -> None:
    fifos = [tmp_path / f"{i}.log" for i in range(7)]
    for fifo in fifos:
        os.mkfifo(fifo)
    config = logs_config(tmp_path, nginx=[nginx_source("web", tmp_path / "*.log")])

    reading, _ = poll_once(config)

    shown = "; ".join(f"{f} is a FIFO, not a log file" for f in sorted(fifos)[:5])
    assert reading.error == f"{shown}; and 2 more"
