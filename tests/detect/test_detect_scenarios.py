"""Scenario tests: readings with explicit timestamps through the Detector, no sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from calmopsd.config.rules import RuleConfig, default_rules
from calmopsd.detect import Detector, Reason, State, Transition
from calmopsd.model import IncidentType, Reading, Severity

T0 = datetime(2026, 1, 1, 14, 0, tzinfo=UTC)
STEP = timedelta(seconds=15)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def reading(sampler: str, when: datetime, values: dict[str, Any], ok: bool = True) -> Reading:
    return Reading(sampler=sampler, taken_at=when, ok=ok, duration_ms=1.0, values=values)


def feed(
    detector: Detector, sampler: str, series: list[dict[str, Any]], start: datetime = T0
) -> list[Transition]:
    """Feed one reading per STEP from ``start``; every transition, in order."""
    out: list[Transition] = []
    for i, values in enumerate(series):
        out.extend(detector.evaluate(reading(sampler, start + i * STEP, values)))
    return out


def memory(*percents: float) -> list[dict[str, Any]]:
    return [{"used_percent": p} for p in percents]


def reasons(transitions: list[Transition]) -> list[tuple[Reason, datetime]]:
    return [(t.reason, t.at) for t in transitions]


def shipped() -> Detector:
    return Detector(default_rules())


def test_a_blip_shorter_than_for_fires_nothing() -> None:
    transitions = feed(shipped(), "memory", memory(90, 91, 70, 70))
    assert reasons(transitions) == [
        (Reason.BREACH_STARTED, at(0)),
        (Reason.BREACH_ABANDONED, at(30)),
    ]


def test_a_sustained_breach_fires_exactly_once() -> None:
    transitions = feed(shipped(), "memory", memory(86, 88, 90, 91, 92, 93, 90, 89))
    assert reasons(transitions) == [
        (Reason.BREACH_STARTED, at(0)),
        (Reason.BREACH_CONFIRMED, at(30)),
    ]
    breach = transitions[1].breach
    assert breach is not None
    assert (breach.rule, breach.type, breach.severity, breach.labels) == (
        "memory_used",
        IncidentType.MEMORY,
        Severity.WARNING,
        (),
    )
    assert (breach.value, breach.started_at, breach.confirmed_at) == (90, at(0), at(30))
    assert breach.evidence == {
        "sampler": "memory",
        "metric": "used_percent",
        "op": ">",
        "threshold": 85.0,
        "value": 90,
    }


def test_hysteresis_holds_it_firing_between_the_clear_and_fire_thresholds() -> None:
    detector = shipped()
    fired = feed(detector, "memory", memory(90, 90, 90))
    between = feed(detector, "memory", memory(*[82.0] * 240), start=at(45))  # one hour at 82 %
    assert [t.reason for t in fired] == [Reason.BREACH_STARTED, Reason.BREACH_CONFIRMED]
    assert between == []
    assert detector.series[("memory_used", ())].state.state is State.FIRING


def test_it_escalates_to_critical_after_for_samples_past_the_critical_threshold() -> None:
    detector = shipped()
    transitions = feed(detector, "memory", memory(90, 90, 90, 96, 96, 96, 97))
    assert reasons(transitions) == [
        (Reason.BREACH_STARTED, at(0)),
        (Reason.BREACH_CONFIRMED, at(30)),
        (Reason.ESCALATED, at(75)),
    ]
    assert [t.breach.severity for t in transitions[1:] if t.breach] == [
        Severity.WARNING,
        Severity.CRITICAL,
    ]


def test_a_breach_already_critical_when_confirmed_fires_critical_without_escalating() -> None:
    transitions = feed(shipped(), "memory", memory(96, 97, 98))
    assert [t.reason for t in transitions] == [Reason.BREACH_STARTED, Reason.BREACH_CONFIRMED]
    assert transitions[1].breach is not None
    assert transitions[1].breach.severity is Severity.CRITICAL


def test_it_clears_only_after_the_clear_condition_held_for_clear_for() -> None:
    detector = shipped()
    feed(detector, "memory", memory(90, 90, 90))
    # 70 % from 14:00:45, every 15 s for 16 minutes.
    transitions = feed(detector, "memory", memory(*[70.0] * 65), start=at(45))
    assert reasons(transitions) == [
        (Reason.CLEAR_STARTED, at(45)),
        (Reason.CLEARED, at(45 + 15 * 60)),
    ]
    assert transitions[-1].state is State.OK
    assert transitions[-1].breach is not None


def test_an_interrupted_clear_goes_back_to_firing_and_starts_its_hold_again() -> None:
    detector = shipped()
    feed(detector, "memory", memory(90, 90, 90))
    first = feed(detector, "memory", memory(*[70.0] * 40), start=at(45))  # 10 minutes
    interrupted = detector.evaluate(reading("memory", at(645), {"used_percent": 82}))
    second = feed(detector, "memory", memory(*[70.0] * 61), start=at(660))
    assert reasons(first) == [(Reason.CLEAR_STARTED, at(45))]
    assert reasons(interrupted) == [(Reason.CLEAR_ABORTED, at(645))]
    assert reasons(second) == [
        (Reason.CLEAR_STARTED, at(660)),
        (Reason.CLEARED, at(660 + 15 * 60)),
    ]


def uploads(rate: float, count: int) -> dict[str, Any]:
    window = {"upload_failure_rate": rate, "uploads": count, "server_errors_per_min": 0.0}
    return {"platform": {"1m": window, "5m": window}, "organizations": {}}


def test_a_failure_rate_over_too_few_uploads_never_fires() -> None:
    transitions = feed(shipped(), "logs", [uploads(0.5, 19)] * 40)
    assert transitions == []


def test_the_same_rate_over_enough_uploads_fires() -> None:
    transitions = feed(shipped(), "logs", [uploads(0.5, 20)] * 3)
    assert [(t.rule, t.reason) for t in transitions] == [
        ("upload_failures", Reason.BREACH_STARTED),
        ("upload_failures", Reason.BREACH_CONFIRMED),
    ]
    assert transitions[1].breach is not None
    assert transitions[1].breach.evidence["volume"] == {
        "metric": "platform.5m.uploads",
        "value": 20,
    }


def test_volume_falling_below_the_minimum_is_no_verdict_neither_breach_nor_clear() -> None:
    detector = shipped()
    feed(detector, "logs", [uploads(0.5, 40)] * 3)
    assert feed(detector, "logs", [uploads(0.5, 5), uploads(0.0, 5)], start=at(45)) == []
    assert detector.state("upload_failures", ()) is State.FIRING
    transitions = feed(detector, "logs", [uploads(0.0, 40)], start=at(75))
    assert reasons(transitions) == [(Reason.CLEAR_STARTED, at(75))]


def disks(**used: float) -> dict[str, Any]:
    return {
        "mounts": {
            f"/{name}" if name != "root" else "/": {"used_percent": p, "hours_until_full": None}
            for name, p in used.items()
        }
    }


def test_each_mount_is_its_own_series() -> None:
    transitions = feed(shipped(), "disk", [disks(root=50, data=85)] * 3)
    assert [(t.labels, t.reason) for t in transitions] == [
        ((("mount", "/data"),), Reason.BREACH_STARTED),
        ((("mount", "/data"),), Reason.BREACH_CONFIRMED),
    ]


def test_a_where_matcher_limits_a_rule_to_one_mount() -> None:
    rule = RuleConfig.model_validate(
        {"name": "root_full", "sampler": "disk", "metric": "mounts.{mount}.used_percent",
         "where": {"mount": "/"}, "op": ">", "threshold": 80, "for": 1, "type": "disk"}
    )  # fmt: skip
    transitions = feed(Detector([rule]), "disk", [disks(root=85, data=85)])
    assert [(t.labels, t.reason) for t in transitions] == [
        ((("mount", "/"),), Reason.BREACH_CONFIRMED)
    ]


def test_a_mount_that_could_not_be_read_has_no_series() -> None:
    transitions = feed(shipped(), "disk", [{"mounts": {"/": {"error": "gone"}}}] * 5)
    assert transitions == []


def test_time_to_full_under_a_day_is_its_own_warning() -> None:
    values = {"mounts": {"/": {"used_percent": 60.0, "hours_until_full": 6.5}}}
    transitions = feed(shipped(), "disk", [values] * 3)
    assert [(t.rule, t.reason) for t in transitions] == [
        ("disk_filling", Reason.BREACH_STARTED),
        ("disk_filling", Reason.BREACH_CONFIRMED),
    ]


def pm2(**apps: dict[str, Any]) -> dict[str, Any]:
    base = {"status": "online", "restart_increase": 0, "deploy": None, "crash_loop": None}
    return {"state": "ok", "apps": {name: base | fields for name, fields in apps.items()}}


def test_an_errored_app_fires_critical_on_the_first_sample() -> None:
    transitions = feed(shipped(), "pm2", [pm2(api={"status": "errored"}, worker={})])
    assert [(t.rule, t.labels, t.reason) for t in transitions] == [
        ("pm2_app_errored", (("app", "api"),), Reason.BREACH_CONFIRMED),
        ("pm2_app_not_online", (("app", "api"),), Reason.BREACH_STARTED),
    ]
    assert transitions[0].breach is not None
    assert transitions[0].breach.severity is Severity.CRITICAL


def test_three_restarts_within_five_minutes_fire() -> None:
    detector = shipped()
    out: list[Transition] = []
    for minute in (0, 1, 2):
        out += detector.evaluate(reading("pm2", at(60 * minute), pm2(api={"restart_increase": 1})))
    assert [(t.rule, t.reason, t.at, t.value) for t in out] == [
        ("pm2_app_restarting", Reason.BREACH_CONFIRMED, at(120), 3)
    ]


def test_three_restarts_spread_over_more_than_five_minutes_do_not() -> None:
    detector = shipped()
    out: list[Transition] = []
    for minute in (0, 3, 6):
        out += detector.evaluate(reading("pm2", at(60 * minute), pm2(api={"restart_increase": 1})))
    assert out == []


def checks(up: bool) -> dict[str, Any]:
    return {"checks": {"web": {"up": up, "failure": None if up else "connection_refused"}}}


def test_two_failed_health_checks_between_successes_fire_nothing() -> None:
    sequence = [False, False, True, False, False, True]
    transitions = feed(shipped(), "http", [checks(up) for up in sequence])
    assert reasons(transitions) == [
        (Reason.BREACH_STARTED, at(0)),
        (Reason.BREACH_ABANDONED, at(30)),
        (Reason.BREACH_STARTED, at(45)),
        (Reason.BREACH_ABANDONED, at(75)),
    ]


def test_a_health_check_failing_three_times_in_a_row_fires() -> None:
    transitions = feed(shipped(), "http", [checks(False)] * 3)
    assert [(t.rule, t.labels, t.reason) for t in transitions] == [
        ("health_check_failing", (("check", "web"),), Reason.BREACH_STARTED),
        ("health_check_failing", (("check", "web"),), Reason.BREACH_CONFIRMED),
    ]


def test_a_dependency_probe_down_three_times_fires_critical() -> None:
    values = {"probes": {"postgres": {"up": False}, "redis": {"up": True}}}
    transitions = feed(shipped(), "dependencies", [values] * 3)
    assert [(t.labels, t.reason) for t in transitions] == [
        ((("probe", "postgres"),), Reason.BREACH_STARTED),
        ((("probe", "postgres"),), Reason.BREACH_CONFIRMED),
    ]
    assert transitions[1].breach is not None
    assert transitions[1].breach.severity is Severity.CRITICAL


def test_a_failed_reading_changes_nothing() -> None:
    detector = shipped()
    feed(detector, "memory", memory(90, 90))
    failed = detector.evaluate(reading("memory", at(30), {}, ok=False))
    after = detector.evaluate(reading("memory", at(45), {"used_percent": 90}))
    assert failed == []
    assert [t.reason for t in after] == [Reason.BREACH_CONFIRMED]


def test_a_for_duration_fires_once_the_breach_has_lasted_that_long() -> None:
    rule = RuleConfig.model_validate(
        {"name": "mem", "sampler": "memory", "metric": "used_percent", "op": ">",
         "threshold": 85, "for": "1m", "type": "memory"}
    )  # fmt: skip
    transitions = feed(Detector([rule]), "memory", memory(90, 90, 90, 90, 90, 90))
    assert reasons(transitions) == [
        (Reason.BREACH_STARTED, at(0)),
        (Reason.BREACH_CONFIRMED, at(60)),
    ]


def test_a_firing_series_that_vanishes_is_dropped_after_forget_after() -> None:
    detector = Detector(default_rules(), forget_after=timedelta(minutes=30))
    feed(detector, "pm2", [pm2(api={"status": "errored"})])
    gone = [detector.evaluate(reading("pm2", at(60 * m), pm2())) for m in (29, 30)]
    assert gone[0] == []
    assert [(t.rule, t.reason, t.state) for t in gone[1]] == [
        ("pm2_app_errored", Reason.VANISHED, State.OK)
    ]
    assert [key for key in detector.series if key[1] == (("app", "api"),)] == []


def test_organization_series_fire_only_for_the_organization_in_breach() -> None:
    rule = RuleConfig.model_validate(
        {"name": "org_uploads", "sampler": "logs",
         "metric": "organizations.{organization}.5m.upload_failure_rate", "op": ">",
         "threshold": 0.1, "for": 1, "type": "upload",
         "volume": {"metric": "organizations.{organization}.5m.uploads", "at_least": 20}}
    )  # fmt: skip
    values = {
        "organizations": {
            "acme": {"5m": {"upload_failure_rate": 0.4, "uploads": 50}},
            "globex": {"5m": {"upload_failure_rate": 0.4, "uploads": 5}},
            "initech": {"5m": {"upload_failure_rate": 0.0, "uploads": 500}},
        }
    }
    transitions = feed(Detector([rule]), "logs", [values])
    assert [(t.labels, t.reason) for t in transitions] == [
        ((("organization", "acme"),), Reason.BREACH_CONFIRMED)
    ]


def test_a_missing_value_is_no_evidence_of_a_breach_even_for_not_equal() -> None:
    values = {"state": "ok", "apps": {"api": {"status": None, "restart_increase": None}}}
    assert feed(shipped(), "pm2", [values] * 5) == []
