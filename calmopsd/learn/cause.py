"""The most likely root cause of one incident, with its evidence: a pure decision over
its :class:`~calmopsd.learn.clues.Clues` that returns a named reason.

The rows of :data:`CAUSES` are tried top to bottom and the first that finds its
evidence wins, so the order is the precedence (as in the classification table): a
dependency down before the app failed explains what followed; memory climbing before
each restart is a leak even after a deploy; errors that began right after a version
change are the deploy's; a disk that clearing temp files freed was filled by them.
Nothing found is said plainly — "not determined", with what was seen — rather than
guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from calmopsd.learn.clues import Clues, MemoryPoint

CLIMB_RATIO = 1.2  # memory at least 20 % higher at the restart than where the stretch began
STEADY_SHARE = 0.75  # of its steps, at least this share did not go down
MIN_POINTS = 3  # a stretch needs this many samples to be called a climb
FREED_POINTS = 5.0  # percentage points of disk a clear_temp must free to count


class CauseKind(StrEnum):
    LEAK = "leak"
    DEPLOY = "deploy"
    TEMP_FILES = "temp_files"
    DEPENDENCY = "dependency"
    NOT_DETERMINED = "not_determined"


class CauseReason(StrEnum):
    """Which evidence decided; stored with the review's figures."""

    DEPENDENCY_DOWN_FIRST = "dependency_down_first"
    MEMORY_CLIMBED_BEFORE_EACH_RESTART = "memory_climbed_before_each_restart"
    ERRORS_AFTER_VERSION_CHANGE = "errors_after_version_change"
    TEMP_FILES_FREED_THE_DISK = "temp_files_freed_the_disk"
    NOTHING_CONCLUSIVE = "nothing_conclusive"


@dataclass(frozen=True)
class RootCause:
    kind: CauseKind
    reason: CauseReason
    evidence: tuple[str, ...]  # plain sentences, the strongest first
    subject: str | None = None  # the app, probe or mount it is about


Finding = RootCause | None


def _dependency(c: Clues) -> Finding:
    """A probe read down at or before the incident's first bad reading."""
    start = c.first_breach_at or c.opened_at
    if start is None:
        return None
    first = sorted((at, name) for name, at in c.probes_down.items() if at <= start)
    if not first:
        return None
    at, name = first[0]
    lead = start - at
    when = (
        f"{_span(lead)} before the first bad reading at {_hhmm(start)}"
        if lead >= timedelta(minutes=1)
        else "as the incident's first bad reading came in"
    )
    return RootCause(CauseKind.DEPENDENCY, CauseReason.DEPENDENCY_DOWN_FIRST, (
        f"Dependency `{name}` read down from {_hhmm(at)}, {when}.",
        "What failed after it (errors, health checks) followed from it going away.",
    ), name)  # fmt: skip


def _leak(c: Clues) -> Finding:
    """An app whose memory rose steadily in the stretch before every restart seen."""
    for app, points in sorted(c.memory.items()):
        restarts = _restarts(app, points, c)
        stretches = [
            (s, at)
            for s, at in zip(_stretches(points, restarts), restarts, strict=True)
            if len(s) >= MIN_POINTS
        ]
        if not stretches or not all(_climbed(s) for s, _ in stretches):
            continue
        said = [
            f"`{app}` memory rose steadily from {_mib(s[0].memory_bytes)} to "
            f"{_mib(s[-1].memory_bytes)} over {_span(s[-1].at - s[0].at)} before the restart "
            f"at {_hhmm(at)}."
            for s, at in stretches
        ]
        after = _after_restart(points, restarts)
        if after is not None:
            said.append(f"After the restart it used {_mib(after)}.")
        return RootCause(CauseKind.LEAK, CauseReason.MEMORY_CLIMBED_BEFORE_EACH_RESTART,
                         tuple(said), app)  # fmt: skip
    return None


def _deploy(c: Clues) -> Finding:
    """A version change, then the first bad reading within the deploy window."""
    start = c.first_breach_at or c.opened_at
    if start is None:
        return None
    before = [d for d in c.deploys if timedelta(0) <= start - d.at <= c.deploy_window]
    if not before:
        return None
    last = before[-1]
    change = f" from {last.before}" if last.before else ""
    change += f" to {last.after}" if last.after else ""
    return RootCause(CauseKind.DEPLOY, CauseReason.ERRORS_AFTER_VERSION_CHANGE, (
        f"`{last.app}` changed version{change} at {_hhmm(last.at)}; the first bad reading "
        f"came {_span(start - last.at)} later, at {_hhmm(start)}.",
    ), last.app)  # fmt: skip


def _temp_files(c: Clues) -> Finding:
    """clear_temp ran, held, and the disk was clearly emptier after it."""
    for run in c.runs:
        if run.action != "clear_temp" or not run.held:
            continue
        for mount, points in sorted(c.disk_used.items()):
            before = [v for at, v in points if at <= run.at]
            after = [v for at, v in points if at > run.at]
            if before and after and before[-1] - min(after) >= FREED_POINTS:
                freed = f" ({run.detail})" if run.detail else ""
                return RootCause(CauseKind.TEMP_FILES, CauseReason.TEMP_FILES_FREED_THE_DISK, (
                    f"Clearing old temp uploads at {_hhmm(run.at)}{freed} took disk {mount} "
                    f"from {before[-1]:.0f} % to {min(after):.0f} %.",
                    "The space was held by temp files nobody removed.",
                ), mount)  # fmt: skip
    return None


CAUSES: tuple[tuple[CauseKind, Callable[[Clues], Finding]], ...] = (
    (CauseKind.DEPENDENCY, _dependency),
    (CauseKind.LEAK, _leak),
    (CauseKind.DEPLOY, _deploy),
    (CauseKind.TEMP_FILES, _temp_files),
)


def root_cause(clues: Clues) -> RootCause:
    """The first row of :data:`CAUSES` whose evidence is there; else not determined."""
    for _kind, find in CAUSES:
        found = find(clues)
        if found is not None:
            return found
    return RootCause(CauseKind.NOT_DETERMINED, CauseReason.NOTHING_CONCLUSIVE, _seen(clues))


def _seen(c: Clues) -> tuple[str, ...]:
    said = [f"It was typed {c.incident_type}" + (f": {c.detail}." if c.detail else ".")]
    if c.deploys:
        d = c.deploys[-1]
        said.append(f"`{d.app}` was deployed at {_hhmm(d.at)}, outside the deploy window.")
    if c.probes_down:
        names = ", ".join(f"`{n}`" for n in sorted(c.probes_down))
        said.append(f"Dependencies read down during it: {names}, after it began.")
    if not (c.memory or c.disk_used or c.probes_down):
        said.append("No PM2, disk or dependency readings were kept around it.")
    return tuple(said)


def _restarts(app: str, points: tuple[MemoryPoint, ...], c: Clues) -> list[datetime]:
    """When the app restarted: PM2 counted one, or a restart of it by calmopsd held."""
    marked = [p.at for p in points if p.restarted]
    ran = [
        r.at
        for r in c.runs
        if r.action == "pm2_restart" and r.params.get("app") == app and r.status == "succeeded"
    ]
    # A run is followed by a sample PM2 marks restarted: count that restart once.
    own = [at for at in ran if not any(at <= m <= at + timedelta(minutes=2) for m in marked)]
    return sorted(marked + own)


def _stretches(
    points: tuple[MemoryPoint, ...], restarts: list[datetime]
) -> list[list[MemoryPoint]]:
    """The samples before each restart, since the one before it."""
    stretches = []
    previous: datetime | None = None
    for restart in restarts:
        stretch = [p for p in points
                   if p.at < restart and (previous is None or p.at >= previous)]  # fmt: skip
        stretches.append(stretch)
        previous = restart
    return stretches


def _climbed(stretch: list[MemoryPoint]) -> bool:
    steps = list(pairwise(stretch))
    rising = sum(1 for a, b in steps if b.memory_bytes >= a.memory_bytes)
    climb = stretch[-1].memory_bytes >= stretch[0].memory_bytes * CLIMB_RATIO
    return climb and rising >= STEADY_SHARE * len(steps)


def _after_restart(points: tuple[MemoryPoint, ...], restarts: list[datetime]) -> int | None:
    after = [p.memory_bytes for p in points if p.at >= restarts[-1]] if restarts else []
    return after[0] if after else None


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.0f} MiB"


def _span(delta: timedelta) -> str:
    seconds = max(0, round(delta.total_seconds()))
    return f"{seconds} s" if seconds < 60 else f"{round(seconds / 60)} min"


def _hhmm(at: datetime) -> str:
    return at.strftime("%H:%M")
