"""Time to detect, to stabilize and to resolve one incident, from its audit chain.

Pure, and the one place these figures are computed: the post-incident review shows
them, and the weekly summary (or anyone counting over many incidents) calls
:func:`timings` on each incident's events the same way.

* detect: the first bad sample of the breach that opened it (``first_breach`` in the
  evidence once it was reclassified, else ``breach``) → ``incident.opened``;
* stabilize: opened → the first action that succeeded, or the first move to
  ``monitoring``, whichever came first (None: neither happened);
* resolve: opened → the last ``resolved`` (after a reopening, the incident's whole life).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from calmopsd.model import AuditEvent


@dataclass(frozen=True)
class Timings:
    first_breach_at: datetime | None
    opened_at: datetime | None
    stabilized_at: datetime | None
    resolved_at: datetime | None

    @property
    def to_detect(self) -> timedelta | None:
        return _between(self.first_breach_at, self.opened_at)

    @property
    def to_stabilize(self) -> timedelta | None:
        return _between(self.opened_at, self.stabilized_at)

    @property
    def to_resolve(self) -> timedelta | None:
        return _between(self.opened_at, self.resolved_at)

    def seconds(self) -> dict[str, float | None]:
        """The three figures in seconds, as stored with a review."""
        return {
            "time_to_detect_s": _seconds(self.to_detect),
            "time_to_stabilize_s": _seconds(self.to_stabilize),
            "time_to_resolve_s": _seconds(self.to_resolve),
        }


def first_breach_at(evidence: Mapping[str, Any]) -> datetime | None:
    """When the breach that opened the incident began (its first bad sample)."""
    for key in ("first_breach", "breach"):
        breach = evidence.get(key)
        if isinstance(breach, Mapping) and isinstance(breach.get("started_at"), str):
            try:
                return datetime.fromisoformat(breach["started_at"])
            except ValueError:
                return None
    return None


def timings(events: Iterable[AuditEvent], first_breach: datetime | None) -> Timings:
    """The figures of one incident's ``events`` (oldest first)."""
    opened = stabilized = resolved = None
    for event in events:
        if event.kind == "incident.opened" and opened is None:
            opened = event.at
        elif stabilized is None and _stabilizes(event):
            stabilized = event.at
        elif event.kind == "incident.status_changed" and event.data.get("to") == "resolved":
            resolved = event.at
    detected = first_breach if first_breach is not None and opened is not None else None
    if detected is not None and opened is not None and detected > opened:
        detected = None  # a breach told after the opening (a person's incident) is no start
    return Timings(detected, opened, stabilized, resolved)


def _stabilizes(event: AuditEvent) -> bool:
    if event.kind == "action.recorded":
        return event.data.get("status") == "succeeded"
    return event.kind == "incident.status_changed" and event.data.get("to") == "monitoring"


def _between(start: datetime | None, end: datetime | None) -> timedelta | None:
    return end - start if start is not None and end is not None else None


def _seconds(delta: timedelta | None) -> float | None:
    return delta.total_seconds() if delta is not None else None


def spoken(delta: timedelta | None) -> str:
    """A duration as a person says it: "45 s", "3 min", "2 h 5 min"; "not reached"."""
    if delta is None:
        return "not reached"
    total = max(0, round(delta.total_seconds()))
    if total < 60:
        return f"{total} s"
    minutes = round(total / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" + (f" {rest} min" if rest else "")
