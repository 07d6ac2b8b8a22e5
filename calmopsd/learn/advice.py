"""What helped and what did not, how to prevent the next one, and how the alerting could
be tuned: plain, calm sentences, pure over what the review gathered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from calmopsd.config.rules import RuleConfig
from calmopsd.config.units import format_duration
from calmopsd.learn.cause import CauseKind, RootCause
from calmopsd.learn.clues import Clues
from calmopsd.learn.timeline import Run, action_words
from calmopsd.learn.timings import Timings, spoken

BLIP = timedelta(minutes=10)  # a breach over by itself within this was a blip


@dataclass(frozen=True)
class RuleTiming:
    """The breached rule's hold-down and clear hold, as the config in force says."""

    rule: str
    hold: str  # "3 samples", "2m"
    clear_for: timedelta

    @classmethod
    def of(cls, rule: RuleConfig) -> RuleTiming:
        hold = rule.hold
        said = format_duration(hold) if isinstance(hold, timedelta) else f"{hold} samples"
        return cls(rule.name, said, rule.clear_for)


@dataclass(frozen=True)
class Advice:
    helped: tuple[str, ...]
    not_helped: tuple[str, ...]
    prevention: tuple[str, ...]
    tuning: tuple[str, ...]


def advise(
    clues: Clues,
    cause: RootCause,
    timings: Timings,
    *,
    flaps: int,
    resolution: str | None,
    rule: RuleTiming | None,
) -> Advice:
    return Advice(
        helped=_helped(clues.runs, timings, resolution),
        not_helped=_not_helped(clues.runs),
        prevention=_prevention(cause, clues.incident_type),
        tuning=_tuning(clues, timings, flaps=flaps, resolution=resolution, rule=rule),
    )


def _helped(runs: tuple[Run, ...], timings: Timings, resolution: str | None) -> tuple[str, ...]:
    said = [
        f"{_cap(action_words(r.action, r.params))} at {r.at:%H:%M} worked and held"
        + (f" ({r.detail})" if r.detail else "")
        + (f"; the incident was stable {spoken(timings.to_stabilize)} after it opened."
           if timings.stabilized_at == r.at else ".")
        for r in runs
        if r.held
    ]  # fmt: skip
    if resolution == "manual":
        said.append("A person resolved it.")
    if not said:
        ran = any(r.status in ("succeeded", "failed") for r in runs)
        said.append(
            "No action held; it recovered by itself."
            if ran
            else "No action ran; it "
            + ("recovered by itself." if resolution == "recovered" else f"ended {resolution}.")
        )
    return tuple(said)


def _not_helped(runs: tuple[Run, ...]) -> tuple[str, ...]:
    said = []
    for r in runs:
        words = _cap(action_words(r.action, r.params))
        detail = f": {r.detail}" if r.detail else ""
        if r.ineffective:
            said.append(f"{words} at {r.at:%H:%M} passed its own check, but the symptom came "
                        "back soon after: it is marked ineffective for this incident.")  # fmt: skip
        elif r.status == "failed":
            said.append(f"{words} at {r.at:%H:%M} failed{detail}.")
        elif r.status == "refused":
            said.append(f"{words} at {r.at:%H:%M} was refused{detail}.")
        elif r.status in ("shadow", "dry_run"):
            said.append(f"{words} at {r.at:%H:%M} was only recorded ({r.status}): nothing ran.")
    return tuple(said) or ("Nothing that ran failed or fell short.",)


_PREVENTION = {
    CauseKind.LEAK: (
        "Find what `{subject}` keeps in memory: take a heap snapshot while it climbs, before "
        "the next restart.",
        "Until it is fixed, a PM2 max_memory_restart below the host's limit restarts it "
        "before the host runs short.",
    ),
    CauseKind.DEPLOY: (
        "Compare the release that went out with the one before it, and keep the rollback "
        "ready until the fix ships.",
        "A health check or a canary before the whole release goes out would catch this earlier.",
    ),
    CauseKind.TEMP_FILES: (
        "Find what leaves temp uploads behind on {subject} and have it remove them.",
        "Until then, a scheduled clean-up of old temp files keeps the disk from filling.",
    ),
    CauseKind.DEPENDENCY: (
        "Look at why `{subject}` went down: its own logs and its host.",
        "The app could fail more gently while it is away: short timeouts, fewer retries, "
        "a clear error to users.",
    ),
}
_BY_TYPE = {
    "memory": "Check which process grew and whether its memory limit fits the host.",
    "disk": "Check what filled the disk (du on the mount) and how fast it grows.",
    "upload": "Check upload sizes and the temp directory's space during busy hours.",
    "deploy": "Check the release's changes and the app's error log from the deploy on.",
    "dependency": "Check the dependency's own logs and the network path to it.",
    "network": "Check nginx's error log and the app's port for the minutes it failed.",
    "app": "Check the app's error log for the first minutes after it began.",
}


def _prevention(cause: RootCause, incident_type: str) -> tuple[str, ...]:
    steps = _PREVENTION.get(cause.kind)
    if steps is not None:
        return tuple(s.format(subject=cause.subject or "the host") for s in steps)
    fallback = _BY_TYPE.get(incident_type, "Check the timeline against the app's logs.")
    return (fallback, "Once the cause is known, note it in this review.")


def _tuning(
    clues: Clues, timings: Timings, *, flaps: int, resolution: str | None, rule: RuleTiming | None
) -> tuple[str, ...]:
    name = f"`{rule.rule}`" if rule is not None else "the rule that opened it"
    said = []
    if flaps and rule is not None:
        longer = format_duration(max(rule.clear_for * 2, timedelta(minutes=5)))
        said.append(
            f"Rule {name} flapped: the incident reopened {flaps} time{'s' if flaps > 1 else ''} "
            f"after recovering. Raising its clear_for from {format_duration(rule.clear_for)} "
            f"to {longer} would keep it open until the recovery holds."
        )
    if resolution == "recovered" and not any(r.status == "succeeded" for r in clues.runs):
        lasted = _lasted(timings, rule)
        if lasted is not None and lasted <= BLIP:
            now = f" (now {rule.hold})" if rule is not None else ""
            said.append(
                f"The breach was over by itself within {spoken(lasted)}, with no action. A "
                f"longer `for` on {name}{now} would keep a blip this short from opening an "
                "incident."
            )
    if said:
        said.append("`calmopsd backtest --propose` tries such changes on this host's own "
                    "history and proposes the one that holds, for a super-admin to "
                    "approve.")  # fmt: skip
    if resolution == "stale_resolved":
        said.append(f"It ended stale, which is not proof of recovery: check that {name}'s "
                    "sampler kept reading.")  # fmt: skip
    return tuple(said) or ("No tuning suggested: the alert fired once and held until the "
                           "problem was dealt with.",)  # fmt: skip


def _lasted(timings: Timings, rule: RuleTiming | None) -> timedelta | None:
    """How long the breach itself lasted: from its first bad reading to the recovery's
    start (the resolution waits clear_for after it)."""
    start = timings.first_breach_at or timings.opened_at
    if start is None or timings.resolved_at is None:
        return None
    hold = rule.clear_for if rule is not None else timedelta(0)
    return max(timedelta(0), timings.resolved_at - hold - start)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]
