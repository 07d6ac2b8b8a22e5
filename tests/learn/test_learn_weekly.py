"""The weekly summary's figures from a recorded history (tests/learn/weeks.py), against the
ones computed by hand from it; its periods; its calm words."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.weeks import MONDAY, PLATFORM, at, recorded

from calmopsd.learn.periods import chosen, iso_week, last_week, since
from calmopsd.learn.stability import weekly_summary
from calmopsd.learn.weekly import ActionRates, Availability, Count, Flapping, Spread, spread
from calmopsd.learn.weekly_report import as_json, lines
from calmopsd.record.codec import encode_instant
from calmopsd.record.database import Database, database_path
from calmopsd.record.rollups import rollup_buckets
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import snapshots_since

W10 = iso_week("2026-W10")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Database:
    database = Database.open(database_path(Path(tmp_path_factory.mktemp("weeks"))))
    recorded(database)
    return database


def test_the_week_before_is_read_from_roll_ups_only(history: Database) -> None:
    assert snapshots_since(history, PLATFORM, sampler="http", since=at(-7, 0, 0))[0].taken_at == at(
        5, 1, 0
    )
    assert {b.start for b in rollup_buckets(history, PLATFORM, since=at(-7, 0, 0))} == {
        at(-1, 1, 0)
    }


def test_the_platform_week_is_what_a_person_counts_by_hand(history: Database) -> None:
    week = weekly_summary(history, PLATFORM, W10).this
    assert week.opened == 4  # A, B, C, D: A's reopenings are not openings; "after" is next week
    assert week.by_type_severity == (
        Count(("app", "critical"), 1), Count(("app", "warning"), 1),
        Count(("disk", "warning"), 1), Count(("memory", "warning"), 1),
    )  # fmt: skip
    assert week.detect == Spread(4, 90.0, 300.0)  # 30, 60, 120, 300 s
    assert week.resolve == Spread(3, 1800.0, 7680.0)  # B 1200, C 1800, A 7680 (2 h 8 min)
    assert week.availability == (Availability("api", 4, 3.0), Availability("web", 4, 4.0))
    assert week.actions == (
        ActionRates("clear_temp", dry_runs=1),
        ActionRates("pm2_restart", succeeded=2, failed=1, ineffective=1),
        ActionRates("rate_limit_uploads", shadowed=1),
    )
    pm2 = week.actions[1]
    assert (pm2.ran, pm2.success_rate, pm2.ineffective_rate) == (3, 2 / 3, 0.5)
    assert week.exhausted == (
        Count(("nginx_reload", "cooldown"), 1), Count(("pm2_restart", "budget_spent"), 1)
    )  # fmt: skip
    assert week.other_refusals == 1  # clear_temp: paused
    assert (week.pending_approvals, week.expired_approvals) == (1, 1)  # D's; B's
    assert week.flapping == (Flapping("disk:/", "disk_used", 2),)
    assert week.recurring == (Count(("disk:/",), 3), Count(("app:api",), 2))


def test_the_week_before_is_held_against_it(history: Database) -> None:
    summary = weekly_summary(history, PLATFORM, W10)
    before = summary.previous
    assert before.period.label == "2026-W09"
    assert before.opened == 2
    assert before.detect == Spread(2, 180.0, 240.0)
    assert before.resolve == Spread(2, 3000.0, 3600.0)
    assert before.availability == (Availability("api", 5, 4.0), Availability("web", 5, 5.0))
    assert before.availability[0].share == pytest.approx(0.8)
    assert before.pending_approvals == 1  # Q's: rejected only on W10's Tuesday
    assert [summary.recurring_before(f) for f in ("disk:/", "app:api")] == [1, 1]
    assert lines(summary)[:4] == [
        "4 incidents opened (2026-W09: 2): 1 app critical, 1 app warning, 1 disk warning, "
        "1 memory warning.",
        "Time to detect: 2 min median, 5 min p90 over 4 (2026-W09: 3 min median, 4 min p90, "
        "quicker).",
        "Time to resolve: 30 min median, 2 h 8 min p90 over 3 (2026-W09: 50 min median, "
        "1 h p90, quicker).",
        "Health checks up: api 75 % (2026-W09: 80 %, down); web 100 % (2026-W09: 100 %).",
    ]


def test_an_organization_sees_its_own_week_only(history: Database) -> None:
    summary = weekly_summary(history, Scope.organization("acme"), W10)
    week = summary.this
    assert summary.organization_id == "acme"
    assert week.opened == 2  # B and D
    assert week.detect == Spread(2, 45.0, 60.0)
    assert week.resolve == Spread(1, 1200.0, 1200.0)
    assert week.availability == ()  # the host's checks are the platform's
    assert week.actions == (ActionRates("pm2_restart", succeeded=1, failed=1, ineffective=1),)
    assert (week.exhausted, week.other_refusals) == ((), 0)
    assert (week.pending_approvals, week.expired_approvals) == (1, 1)
    assert week.flapping == ()
    assert week.recurring == (Count(("app:api",), 2),)
    assert summary.previous.opened == 1
    assert "disk:/" not in str(as_json(summary))
    assert "globex" not in str(as_json(summary))


def test_the_rest_of_the_summary_reads_calmly(history: Database) -> None:
    told = lines(weekly_summary(history, PLATFORM, W10))[4:]
    assert told == [
        "Actions: clear_temp, 1 dry run; pm2_restart ran 3 times, 2 held its check "
        "(66.67 %), 1 did not hold after (50 %); in shadow mode would have run "
        "rate_limit_uploads 1 time.",
        "Budgets: refused for a spent budget or a cooldown: nginx_reload 1 time (cooldown), "
        "pm2_restart 1 time (budget spent) (1 other refusal).",
        "Approvals: 1 waiting when it ended, 1 expired unanswered.",
        "Flapping: disk:/ reopened 2 times (rule disk_used).",
        "Recurring: disk:/ 3 times (2026-W09: 1), app:api 2 times (2026-W09: 1).",
    ]
    assert not any("!" in line for line in told)


def test_a_quiet_week_says_so(history: Database) -> None:
    told = lines(weekly_summary(history, PLATFORM, iso_week("2026-W20")))
    assert told[0] == "No incidents opened (2026-W19: 0)."
    assert "Actions: none ran." in told


def test_periods() -> None:
    assert (W10.start, W10.end, W10.previous().label) == (MONDAY, at(7, 0, 0), "2026-W09")
    assert iso_week("2021-W01").start == datetime(2021, 1, 4, tzinfo=UTC)
    assert last_week(at(0, 8, 0)).label == "2026-W09"
    week = since("7d", at(3, 0, 0))
    assert (week.start, week.previous().start, week.previous().label) == (
        at(-4, 0, 0), at(-11, 0, 0), "the 7 days before"
    )  # fmt: skip
    for bad, said in (("2026-W54", "not a week"), ("2026/10", "YYYY-Www"), ("2027-W01", "begun")):
        with pytest.raises(ValueError, match=said):
            chosen(bad, None, at(3, 0, 0))
    with pytest.raises(ValueError, match="between 1h and 31d"):
        since("90d", at(0, 0, 0))
    with pytest.raises(ValueError, match="not both"):
        chosen("2026-W10", "7d", at(3, 0, 0))


def test_median_and_p90_by_nearest_rank() -> None:
    assert spread([5.0]) == Spread(1, 5.0, 5.0)
    assert spread([float(n) for n in range(1, 11)]) == Spread(10, 5.5, 9.0)
    assert spread([float(n) for n in range(1, 12)]) == Spread(11, 6.0, 10.0)
    assert spread([]) == Spread(0, None, None)


def test_hours_from_before_counting_began_are_read_from_roll_ups_and_raw_readings(
    tmp_path: Path,
) -> None:
    """A store upgraded mid-history: its early hours have no counts, so the summary reads
    them the old way; a person's figures come out the same either way."""
    database = Database.open(database_path(tmp_path / "weeks"))
    try:
        recorded(database)
        counted = weekly_summary(database, PLATFORM, W10)
        with database.write() as tx:  # what a store upgraded on W10's Wednesday holds
            tx.db.execute("DELETE FROM check_hours WHERE hour < ?", [encode_instant(at(2, 0, 0))])
        read = weekly_summary(database, PLATFORM, W10)
        assert read.this.availability == counted.this.availability
        assert read.previous.availability == counted.previous.availability
        with database.write() as tx:
            tx.db.execute("DELETE FROM check_hours")
        assert weekly_summary(database, PLATFORM, W10).this.availability == (
            counted.this.availability
        )
    finally:
        database.close()
