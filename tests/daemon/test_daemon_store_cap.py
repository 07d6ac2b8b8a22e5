"""The daemon's hourly retention job holds ``retention.max_store_size`` (issue 16): a store
past the cap gives up its oldest roll-ups until it is under, and says so once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from calmopsd.config import load_config
from calmopsd.daemon import Daemon, Source
from calmopsd.record.capacity import used_bytes

CAP = 16 * 2**20
SERIES = 40
DAY_S = 86_400


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    path = tmp_path / "calmops.yaml"
    path.write_text("state_dir: state\nretention:\n  max_store_size: 16MiB\n")
    started = Daemon(Source(path), load_config(path), planner=lambda c, k: [], config_digest="d0")
    started.start()
    yield started
    started.stop()


def fill_rollups(daemon: Daemon, days: int) -> None:
    """``days`` days of 5-minute aggregates for 40 series, ending yesterday."""
    assert daemon.database is not None
    first = (int(time.time()) // DAY_S - days) * DAY_S
    with daemon.database.write() as tx:
        tx.db.conn.executemany(
            "INSERT INTO health_rollup_series (sampler, organization_id, metric) "
            "VALUES ('memory', NULL, ?)",
            [(f"metric.{i}",) for i in range(SERIES)],
        )
        tx.db.conn.executemany(
            "INSERT INTO health_rollups (series, bucket, count, min, max, avg) "
            "VALUES (?, ?, 20, ?, ?, ?)",
            (
                (s, first + b * 300, b / 7, b / 5, b / 6)
                for s in range(1, SERIES + 1)
                for b in range(days * 288)
            ),
        )


def test_the_hourly_job_brings_a_store_past_its_cap_back_under_it(daemon: Daemon) -> None:
    assert daemon.database is not None
    fill_rollups(daemon, days=40)
    before = used_bytes(daemon.database)
    assert before > CAP

    with capture_logs() as logs:
        daemon.apply_retention()

    after = used_bytes(daemon.database)
    assert after <= CAP
    reached = [e for e in logs if e["event"] == "retention.cap_reached"]
    assert [(e["cap_bytes"], e["used_bytes"], e["used_after"], e["met"]) for e in reached] == [
        (CAP, before, after, True)
    ]
    assert reached[0]["rollups_deleted"] > 0

    with capture_logs() as again:
        daemon.apply_retention()
    assert [e for e in again if e["event"] == "retention.cap_reached"] == []
