"""The shipped upload rules: one organization's own rule, ahead of the platform's, with a clear.

Each test counts uploads through the real per-minute windows
(``calmopsd.sense.logs.windows``) and reads them back once a minute, as the
logs sampler would, into the shipped rules.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from calmopsd.config.rules import default_rules
from calmopsd.detect import Detector, Reason, Transition
from calmopsd.detect.state import State
from calmopsd.model import Reading
from calmopsd.sense.logs.windows import Windows, epoch_minute

T0 = datetime(2026, 1, 1, 14, 0, 15, tzinfo=UTC)
ORG_RULE, PLATFORM_RULE = "organization_upload_failures", "upload_failures"
ACME = (("organization", "acme"),)


class Uploads:
    """40 uploads a minute from each of acme and globex; only acme's fail."""

    def __init__(self) -> None:
        self.windows = Windows(max_organizations=10, settle=timedelta(seconds=10))
        self.windows.start("web")
        self.detector = Detector(default_rules())
        self.minute = 0

    def minutes(self, count: int, acme_failures: int) -> list[Transition]:
        """``count`` minutes with ``acme_failures`` of acme's 40 uploads failing in each."""
        out: list[Transition] = []
        for _ in range(count):
            now = T0 + timedelta(minutes=self.minute)
            minute = epoch_minute(now)
            tally = {
                (minute, "acme"): [40, 0, 0, 40, acme_failures, 0],
                (minute, "globex"): [40, 0, 0, 40, 0, 0],
            }
            self.windows.add("web", tally, now)
            values = self.windows.values(now)
            out += self.detector.evaluate(Reading("logs", now, True, 1.0, values))
            self.minute += 1
        return out


def reasons(rule: str, transitions: list[Transition]) -> list[Reason]:
    return [t.reason for t in transitions if t.rule == rule]


def test_one_organizations_failing_uploads_confirm_its_own_rule_before_the_platforms() -> None:
    uploads = Uploads()
    transitions = uploads.minutes(8, acme_failures=20)  # acme 50 %, the platform 25 %
    confirmed = [(t.rule, t.labels) for t in transitions if t.reason is Reason.BREACH_CONFIRMED]
    assert confirmed == [(ORG_RULE, ACME), (PLATFORM_RULE, ())]
    assert uploads.detector.state(ORG_RULE, (("organization", "globex"),)) is State.OK


def test_an_upload_failure_rate_between_half_and_the_threshold_stays_firing() -> None:
    uploads = Uploads()
    uploads.minutes(8, acme_failures=20)
    # 3 of 40 fail: acme at 7.5 %, under its 10 % but over the 5 % it clears below.
    hovering = uploads.minutes(20, acme_failures=3)
    assert reasons(ORG_RULE, hovering) == []
    assert uploads.detector.state(ORG_RULE, ACME) is State.FIRING
    recovered = uploads.minutes(6, acme_failures=0)
    assert reasons(ORG_RULE, recovered) == [Reason.CLEAR_STARTED]
