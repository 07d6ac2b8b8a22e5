"""A stop during a long catch-up of a log backlog: noticed between chunks, progress kept,
and how far behind the reading is told as it goes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from calmopsd.clock import Clock
from calmopsd.config import load_config
from calmopsd.config.sensing import SensingConfig
from calmopsd.daemon import Daemon, Source
from calmopsd.record.database import Database, database_path
from calmopsd.record.logstate import load_log_state
from calmopsd.sense import Planned
from calmopsd.sense.logs.blocks import BlockCounter
from calmopsd.sense.logs.watcher import LogWatcher
from calmopsd.shapes import LogsValues


def no_samplers(config: SensingConfig, clock: Clock) -> list[Planned]:
    return []


def backlog(path: Path, megabytes: int) -> int:
    """About ``megabytes`` of combined-format lines two minutes old; the size written."""
    at = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    stamp = at.strftime("%d/%b/%Y:%H:%M:%S +0000")
    line = f'127.0.0.1 - - [{stamp}] "GET /item HTTP/1.1" 200 5 "-" "test"\n'.encode()
    path.write_bytes(line * (megabytes * 2**20 // len(line)))
    return path.stat().st_size


def config_for(tmp_path: Path, log: Path, max_read_mib: int) -> Path:
    config_file = tmp_path / "calmops.yaml"
    config_file.write_text(
        "state_dir: state\n"
        f"logs:\n  interval: 1h\n  start_at: beginning\n  max_read_per_round: {max_read_mib}\n"
        f"  nginx:\n    - name: web\n      paths: [{log}]\n"
    )
    return config_file


def test_a_stop_during_a_catch_up_is_noticed_between_chunks_and_keeps_what_was_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "access.log"
    size = backlog(log, 40)  # forty chunks, read in one round
    counting = threading.Event()
    original = BlockCounter.count

    def count_slowly(self: BlockCounter, *args: Any, **kwargs: Any) -> Any:
        counting.set()  # the round is reading: now the stop comes
        threading.Event().wait(0.3)  # a slow disk: each chunk takes a while
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BlockCounter, "count", count_slowly)
    config_file = config_for(tmp_path, log, 1024)
    daemon = Daemon(Source(config_file), load_config(config_file), planner=no_samplers)
    with capture_logs() as logs:
        daemon.start()
        assert counting.wait(20)
        assert daemon.stop() == 0
    events = [e["event"] for e in logs]
    assert "logs.round_cut_short" in events
    assert "daemon.stop_forced" not in events
    assert events[-1] == "daemon.stopped"

    database = Database.open(database_path(tmp_path / "state"))
    try:
        (position,) = load_log_state(database).files
    finally:
        database.close()
    # What was read is kept (up to its last whole line), the rest is left for the next start.
    assert 0 < position.offset < size
    assert log.read_bytes()[position.offset - 1 : position.offset] == b"\n"


def test_a_source_behind_says_how_far_until_it_has_caught_up(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    size = backlog(log, 5)
    config = load_config(config_for(tmp_path, log, 2))

    class Clock:
        def __init__(self) -> None:
            self.at = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)

        def now(self) -> datetime:
            return self.at

    clock = Clock()
    watcher = LogWatcher(config.logs, clock)  # type: ignore[arg-type]
    with capture_logs() as logs:
        seen = []
        for _ in range(4):  # 2 MiB a round: 5 MiB takes three
            source = LogsValues.parse(watcher.poll().values).sources["web"]
            seen.append((source.behind_bytes, source.behind_seconds))
            clock.at += timedelta(seconds=10)
    watcher.close()
    assert [b > 0 for b, _ in seen] == [True, True, False, False]
    # After the first round: all but the 2 MiB read (to its last whole line) is behind.
    assert 0 <= seen[0][0] - (size - 2 * 2**20) < 200
    assert seen[0][0] > seen[1][0]
    assert [s for _, s in seen] == [0.0, 10.0, 0.0, 0.0]
    said = [(e["event"], e.get("behind_s")) for e in logs if e["event"].startswith("logs.")]
    assert said == [("logs.behind", None), ("logs.caught_up", 20.0)]


def test_status_tells_how_far_behind_and_the_journal_line_only_whom() -> None:
    from calmopsd.model import Reading
    from calmopsd.sense.attention import saw
    from calmopsd.shapes.logs import SourceRates

    values = LogsValues(
        sources={
            "web": SourceRates(behind_bytes=3 * 2**30 // 2, behind_seconds=95.0),
            "app": SourceRates(),
        }
    ).to_values()
    reading = Reading("logs", datetime(2026, 3, 2, 14, 0, tzinfo=UTC), True, 1.0, values)
    assert saw(reading) == "log reading behind: web"
    assert saw(reading, figures=True) == "log reading behind: web 1.5 GB for 95 s"
    caught_up = Reading("logs", reading.taken_at, True, 1.0, LogsValues().to_values())
    assert saw(caught_up) is None
