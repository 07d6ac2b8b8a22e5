"""Hold-down and clear hold on windowed rates count fresh windows, not re-readings.

The logs sampler reads every 15 s, but its 1-minute window moves on once a
minute: the same window is read about four times. Each test sends real counts
through the real windows (``support.traffic``) and the shipped rules.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from support.traffic import Traffic

from calmopsd.config.rules import RuleConfig, default_rules
from calmopsd.detect import Detector, Reason, Transition
from calmopsd.detect.state import State
from calmopsd.model import Reading

T0 = datetime(2026, 1, 1, 14, 0, tzinfo=UTC)
ROUND = timedelta(seconds=15)
BUSY = 300  # requests in 15 s: 20 per second
SERVER_ERRORS = "server_errors"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def reading(sampler: str, when: datetime, values: dict[str, Any]) -> Reading:
    return Reading(sampler=sampler, taken_at=when, ok=True, duration_ms=1.0, values=values)


def rounds(
    detector: Detector, traffic: Traffic, errors: list[int], start: datetime = T0
) -> list[Transition]:
    """One logs round per 15 s from ``start``: BUSY requests, ``errors[i]`` of them 5xx."""
    out: list[Transition] = []
    for i, count in enumerate(errors):
        when = start + i * ROUND
        out.extend(detector.evaluate(reading("logs", when, traffic.read(when, BUSY, count))))
    return out


def of(rule: str, transitions: list[Transition]) -> list[tuple[Reason, datetime]]:
    return [(t.reason, t.at) for t in transitions if t.rule == rule]


def quiet(minutes: int) -> list[int]:
    return [0] * (4 * minutes)


def bad(minutes: int, share: float = 0.2) -> list[int]:
    return [round(BUSY * share)] * (4 * minutes)


def test_a_20_second_blip_inside_one_minute_never_fires_with_for_3() -> None:
    # 40 % of requests fail for 20 s at 14:01:15-14:01:35: minute 14:01 holds 13 % errors,
    # and its window is read four times (14:02:15 … 14:03:00) — one window, one sample.
    blip = quiet(1) + [0, 120, 40] + [0] * 9 + quiet(2)
    transitions = rounds(Detector(default_rules()), Traffic(), blip)
    assert of(SERVER_ERRORS, transitions) == [
        (Reason.BREACH_STARTED, at(135)),
        (Reason.BREACH_ABANDONED, at(195)),
    ]


def test_the_same_blip_read_as_separate_samples_would_have_fired() -> None:
    # What went wrong before: without window_end every re-reading was a sample.
    traffic, detector, out = Traffic(), Detector(default_rules()), []
    for i, count in enumerate(quiet(1) + [0, 120, 40] + [0] * 9):
        values = traffic.read(at(15 * i), BUSY, count)
        del values["window_end"]
        out.extend(detector.evaluate(reading("logs", at(15 * i), values)))
    assert (Reason.BREACH_CONFIRMED, at(165)) in of(SERVER_ERRORS, out)


def test_three_fresh_bad_minutes_fire_at_the_third_window() -> None:
    # 20 % from 14:01 to 14:04; the windows of 14:01, 14:02, 14:03 are first read at
    # 14:02:15, 14:03:15, 14:04:15.
    transitions = rounds(Detector(default_rules()), Traffic(), quiet(1) + bad(3) + quiet(1))
    assert of(SERVER_ERRORS, transitions) == [
        (Reason.BREACH_STARTED, at(135)),
        (Reason.BREACH_CONFIRMED, at(255)),
    ]
    breach = transitions[-1].breach
    assert breach is not None
    assert (breach.value, breach.evidence["volume"]) == (
        0.2,
        {"metric": "platform.1m.requests", "value": 1200},
    )


def test_two_bad_minutes_read_eight_times_do_not_fire() -> None:
    transitions = rounds(Detector(default_rules()), Traffic(), quiet(1) + bad(2) + quiet(2))
    assert [reason for reason, _ in of(SERVER_ERRORS, transitions)] == [
        Reason.BREACH_STARTED,
        Reason.BREACH_ABANDONED,
    ]


def test_a_clear_counts_from_the_first_fresh_clear_window_and_clears_15_minutes_on() -> None:
    detector, traffic = Detector(default_rules()), Traffic()
    fired = rounds(detector, traffic, quiet(1) + bad(3) + quiet(1))
    transitions = rounds(detector, traffic, quiet(16), start=at(300))
    # 14:04 is the first clear minute, first read at 14:05:15; 15 minutes on is 14:20:15.
    assert of(SERVER_ERRORS, fired)[-1] == (Reason.BREACH_CONFIRMED, at(255))
    assert of(SERVER_ERRORS, transitions) == [
        (Reason.CLEAR_STARTED, at(315)),
        (Reason.CLEARED, at(315 + 15 * 60)),
    ]


def test_one_clear_window_read_again_and_again_never_clears() -> None:
    # A sampler whose window stopped moving (its clock stuck) shows one clear minute:
    # that is one sample, not a quarter of an hour of recovery.
    detector, traffic = Detector(default_rules()), Traffic()
    rounds(detector, traffic, quiet(1) + bad(3) + quiet(1))
    stuck = traffic.read(at(315), BUSY, 0)
    out: list[Transition] = []
    for i in range(4 * 20):  # twenty minutes of re-readings of the 14:04 window
        out.extend(detector.evaluate(reading("logs", at(315 + 15 * i), stuck)))
    assert of(SERVER_ERRORS, out) == [(Reason.CLEAR_STARTED, at(315))]
    assert detector.state(SERVER_ERRORS, ()) is State.CLEARING


def test_a_fresh_bad_window_during_the_clear_sends_it_back_to_firing() -> None:
    detector, traffic = Detector(default_rules()), Traffic()
    rounds(detector, traffic, quiet(1) + bad(3) + quiet(1))
    # Quiet 14:05-14:08, bad again at 14:09: its window is first read at 14:10:15.
    transitions = rounds(detector, traffic, quiet(4) + bad(1) + [0, 0], start=at(300))
    assert of(SERVER_ERRORS, transitions) == [
        (Reason.CLEAR_STARTED, at(315)),
        (Reason.CLEAR_ABORTED, at(615)),
    ]


def errors_for(hold: str) -> RuleConfig:
    return RuleConfig.model_validate(
        {"name": "errors", "sampler": "logs", "metric": "platform.1m.server_error_rate",
         "op": ">", "threshold": 0.05, "for": hold, "type": "network"}
    )  # fmt: skip


def test_a_for_duration_is_measured_between_fresh_windows() -> None:
    transitions = rounds(Detector([errors_for("2m")]), Traffic(), quiet(1) + bad(3) + quiet(1))
    assert of("errors", transitions) == [
        (Reason.BREACH_STARTED, at(135)),
        (Reason.BREACH_CONFIRMED, at(255)),
    ]


def test_a_for_duration_shorter_than_the_window_is_not_met_by_re_reading_one_window() -> None:
    transitions = rounds(Detector([errors_for("30s")]), Traffic(), quiet(1) + bad(1) + quiet(2))
    assert of("errors", transitions) == [
        (Reason.BREACH_STARTED, at(135)),
        (Reason.BREACH_ABANDONED, at(195)),
    ]


def test_memory_readings_still_count_each_reading_between_repeated_log_windows() -> None:
    detector, traffic = Detector(default_rules()), Traffic()
    out: list[Transition] = []
    for i in range(3):  # 14:02:15, :30, :45: the same logs window each time
        when = at(135 + 15 * i)
        out += detector.evaluate(reading("logs", when, traffic.read(when, BUSY, 0)))
        out += detector.evaluate(reading("memory", when, {"used_percent": 90}))
    assert of("memory_used", out) == [
        (Reason.BREACH_STARTED, at(135)),
        (Reason.BREACH_CONFIRMED, at(165)),
    ]


def test_a_window_end_that_steps_back_is_fresh_so_detection_is_never_blind() -> None:
    detector, traffic = Detector(default_rules()), Traffic()
    rounds(detector, traffic, quiet(1) + bad(2))
    earlier = traffic.read(at(120), BUSY, 0)  # the clock stepped back a minute
    assert earlier["window_end"] == at(60).isoformat()
    assert of(SERVER_ERRORS, detector.evaluate(reading("logs", at(195), earlier))) == [
        (Reason.BREACH_ABANDONED, at(195))
    ]
