"""The recorded history (history.py) replayed through the shipped rules and a candidate,
with answers worked out by hand from its table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from backtest.history import Recorded, at

from calmopsd.backtest.grouping import Source, flapped_hold
from calmopsd.backtest.noise import Noise
from calmopsd.backtest.report import Report
from calmopsd.backtest.run import History, backtest, load_history, window_back
from calmopsd.config import Config
from calmopsd.config.incidents import IncidentsConfig
from calmopsd.model import Resolution
from calmopsd.record.database import Database, connect, database_path
from calmopsd.respond.decide.breach import flapped_hold as agents_flapped_hold


@pytest.fixture(scope="module")
def history(store: tuple[Path, Recorded]) -> Iterator[History]:
    path = database_path(store[0])
    database = Database(path, connect(path, query_only=True))
    window = window_back(database, timedelta(days=30))
    assert window is not None
    yield load_history(database, window)
    database.close()


def opened(report: Report, rule: str) -> list[tuple[int, str, float]]:
    return [
        (m.real.id, m.would.opened_at.strftime("%d %H:%M"), m.later_s)
        for r in report.rules
        if r.rule == rule
        for m in r.matched
    ]


def test_the_shipped_rules_open_what_the_agent_opened_and_later_where_only_roll_ups_are_left(
    history: History, store: tuple[Path, Recorded]
) -> None:
    report = backtest(history, Config())
    ids = store[1]
    assert opened(report, "memory_used") == [
        (ids.rolled, "02 10:15", 780.0),  # for: 3 counts buckets: 10:05, 10:10, 10:15
        (ids.blip, "03 09:02", 0.0),
        (ids.long, "03 14:02", 0.0),
    ]
    assert opened(report, "disk_used") == [(ids.disk, "04 12:10", 0.0)]
    assert [m.would.source for r in report.rules for m in r.matched] == [
        Source.ROLLUP,
        Source.RAW,
        Source.RAW,
        Source.RAW,
    ]
    assert report.missed_ids() == {ids.check}  # no http snapshot holds it
    assert report.removed_ids() == set()
    assert [w for r in report.rules for w in r.new] == []
    assert report.manual == 1


def test_it_says_which_period_came_from_roll_ups(history: History) -> None:
    periods = {
        (p.sampler, p.source): (p.first, p.last, p.count)
        for p in backtest(history, Config()).periods
    }
    assert periods[("memory", Source.ROLLUP)] == (at(0, "00:05"), at(1, "00:00"), 288)
    assert periods[("memory", Source.RAW)] == (at(1, "00:00"), at(2, "23:55"), 2 * (540 + 180))
    assert periods[("disk", Source.RAW)] == (at(1, "00:00"), at(2, "23:55"), 576)


def test_the_replayed_incidents_end_as_the_real_ones_did(history: History) -> None:
    report = backtest(history, Config())
    (memory,) = [r for r in report.rules if r.rule == "memory_used"]
    assert [(w.ended_at, w.ending) for w in memory.opened] == [
        (at(0, "11:00"), Resolution.RECOVERED),  # the bucket ending 10:45 is the first clear
        (at(1, "09:18"), Resolution.RECOVERED),
        (at(1, "16:15"), Resolution.RECOVERED),
    ]


def test_a_longer_for_removes_the_blip_and_opens_the_rest_later(
    history: History, store: tuple[Path, Recorded]
) -> None:
    candidate = Config.model_validate({"rule_defaults": {"memory": {"for": 5}}})
    report = backtest(history, candidate)
    ids = store[1]
    assert opened(report, "memory_used") == [
        (ids.rolled, "02 10:25", 1380.0),
        (ids.long, "03 14:04", 120.0),
    ]
    (memory,) = [r for r in report.rules if r.rule == "memory_used"]
    assert [(u.real.id, u.noise) for u in memory.removed] == [(ids.blip, Noise.RECOVERED_QUICKLY)]
    assert memory.missed == ()
    assert report.missed_ids() == {ids.check}


def test_a_threshold_above_every_breach_misses_them_all(
    history: History, store: tuple[Path, Recorded]
) -> None:
    candidate = Config.model_validate({"thresholds": {"memory_percent": 95}})
    report = backtest(history, candidate)
    ids = store[1]
    assert report.missed_ids() == {ids.rolled, ids.long, ids.check}
    assert report.removed_ids() == {ids.blip}


def test_time_comes_from_the_snapshots(history: History) -> None:
    assert history.window.until == at(2, "23:55")
    assert history.window.since == at(2, "23:55") - timedelta(days=30)


def test_the_flap_hold_grows_as_the_agents_does() -> None:
    settings = IncidentsConfig()
    for flaps in range(5):
        base = timedelta(minutes=15)
        assert flapped_hold(base, flaps, settings) == agents_flapped_hold(base, flaps, settings)
