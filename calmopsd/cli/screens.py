"""What ``status`` and ``show`` print on a terminal: plain text, one thing per line.

Pure functions of what was read and of ``now``, so a test can hold them to
exact lines. Times are UTC, like the rest of calmopsd's output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calmopsd import runbook
from calmopsd.model import AuditEvent, Incident, Reading, Recommendation, RecommendationStatus
from calmopsd.record.actions import ActiveAction
from calmopsd.record.loads import Load
from calmopsd.record.outbox import TargetTrouble
from calmopsd.sense.attention import saw
from calmopsd.serve.answers import Health, IncidentDetail

NEWEST = 5  # open incidents shown on the status screen; `calmopsd incidents` lists them all
WIDE = 100  # a row of the status screen is cut here, so each stays on one line


@dataclass(frozen=True)
class Status:
    """Everything on the ``status`` screen, read in one go."""

    health: Health
    unresolved: list[Incident]
    active: list[ActiveAction]
    pending: list[Recommendation]
    daemon_pid: str | None = None  # the running daemon's, None: none runs on this store
    load: Load | None = None  # the daemon's last config load, from the audit log
    stale: tuple[str, ...] = ()  # samplers whose latest reading is stale
    notices: tuple[TargetTrouble, ...] = ()  # notify targets not getting notices
    paused_by: str | None = None  # who paused every safe action (the kill switch), if anyone


def headline(incident: Incident) -> str:
    """The first line of the summary (the title until the agent wrote one)."""
    return incident.summary.splitlines()[0] if incident.summary else incident.title


def incident_row(incident: Incident) -> str:
    return (
        f"#{incident.id:<5} {incident.status:<11} {incident.severity:<8} "
        f"{incident.organization_id or 'platform':<12} {headline(incident)}"
    )


def active_row(active: ActiveAction) -> str:
    incident = f"incident #{active.incident_id}" if active.incident_id else "no incident"
    return (
        f"#{active.id:<5} {active.action:<19} {active.target:<20} "
        f"until {active.expires_at:%Y-%m-%d %H:%M} UTC  ({incident})"
    )


def age(now: datetime, then: datetime) -> str:
    """``12s``, ``5m``, ``3h``, ``2d`` ago — rounded down, never negative."""
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size, up_to in (("s", 1, 90), ("m", 60, 90 * 60), ("h", 3600, 48 * 3600)):
        if seconds < up_to:
            return f"{seconds // size}{unit}"
    return f"{seconds // 86400}d"


def status_screen(found: Status, now: datetime) -> str:
    """One line per thing, each cut to :data:`WIDE` (``show`` has the whole of it)."""
    daemon = (
        f"Daemon: running (pid {found.daemon_pid})"
        if found.daemon_pid
        else "Daemon: not running (nothing is sampled or acted on; readings grow old)"
    )
    paused = (
        [f"Actions: PAUSED by {found.paused_by}: no safe action runs (`calmopsd actions resume`)"]
        if found.paused_by
        else []
    )
    lines = [
        daemon,
        *paused,
        *_config(found.load),
        "",
        *_health(found.health.readings, now, found.stale),
        "",
        *_open_incidents(found),
        "",
        *_listed("Actions in force", [active_row(a) for a in found.active]),
        "",
        *_listed("Pending approvals", [_pending_row(r) for r in found.pending]),
        *_notices(found.notices),
    ]
    return "\n".join(_cut(line) for line in lines)


def _notices(troubled: tuple[TargetTrouble, ...]) -> list[str]:
    """Lines only for targets whose notices do not get through: nobody may be hearing."""
    if not troubled:
        return []
    lines = ["", "Notifications NOT getting through"]
    for t in troubled:
        said = f"; last error: {t.last_error}" if t.last_error else ""
        lines.append(
            f"  {t.target}: {t.pending} being retried, {t.given_up} given up in 24 h{said}"
        )
    return lines


def _config(load: Load | None) -> list[str]:
    """A line only when the last reload failed: the daemon runs on an older config."""
    if load is None or load.ok:
        return []
    running = f"; running on the config loaded {_when(load.loaded_at)}" if load.loaded_at else ""
    return [f"Config: the reload at {_when(load.at)} FAILED{running} (its log says why)"]


def _health(readings: list[Reading], now: datetime, stale: tuple[str, ...] = ()) -> list[str]:
    if not readings:
        return ["Health: no readings stored yet (calmopsd writes them while it runs)"]
    lines = ["Health (latest reading of each sampler)"]
    for reading in readings:
        state = "ok" if reading.ok else "FAILED"
        note = reading.error if not reading.ok else saw(reading, figures=True)
        taken = f"{age(now, reading.taken_at)} ago"
        if reading.sampler in stale:
            note = "STALE: no fresh reading for 3 of its intervals" + (f"; {note}" if note else "")
        lines.append(
            f"  {reading.sampler:<14} {state:<7} {taken:>9}" + (f"  {note}" if note else "")
        )
    return lines


def _open_incidents(found: Status) -> list[str]:
    count = found.health.open_incidents
    if not count:
        return ["Open incidents: none"]
    by = ", ".join(
        f"{found.health.by_severity[s]} {s}"
        for s in ("critical", "warning", "info")
        if s in found.health.by_severity
    )
    lines = [f"Open incidents: {count} ({by})"]
    lines += ["  " + incident_row(i) for i in found.unresolved[:NEWEST]]
    if count > NEWEST:
        lines.append(f"  … and {count - NEWEST} more: calmopsd incidents")
    return lines


def _pending_row(rec: Recommendation) -> str:
    return f"#{rec.id:<5} incident #{rec.incident_id:<5} {rec.kind:<11} {rec.rationale}"


def _listed(title: str, rows: list[str], count: int | None = None) -> list[str]:
    """``Title: N`` and the rows indented below it (``count`` when rows are not one each)."""
    if not rows:
        return [f"{title}: none"]
    return [f"{title}: {len(rows) if count is None else count}", *("  " + row for row in rows)]


def on_terminal(text: str, *, lines: bool = True) -> str:
    """Text from the store as a terminal may show it: line breaks kept, every other
    control character (an escape sequence, a carriage return) written out as ``\\xNN``.

    Titles, notes and names come from tenants and from logs; what reaches an
    operator's terminal must not move its cursor or recolour it.
    """

    def shown(line: str) -> str:
        return "".join(c if c.isprintable() or c == "\t" else f"\\x{ord(c):02x}" for c in line)

    if not lines:  # one row per item: a newline inside it would fake the next row
        return shown(text)
    return "\n".join(shown(line) for line in text.split("\n"))


def _cut(text: str, width: int = WIDE) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- show ------------------------------------------------------------------------------


def incident_screen(detail: IncidentDetail) -> str:
    incident = detail.incident
    lines = [
        f"#{incident.id} {incident.type} · {incident.status} · {incident.severity} · "
        f"{incident.organization_id or 'platform'}",
        f"opened {_when(incident.opened_at)} · updated {_when(incident.updated_at)}"
        + (f" · resolved ({incident.resolution})" if incident.resolved_at else "")
        + f" · {incident.fingerprint}",
        "",
        incident.summary or incident.title,
        f"Runbook: {runbook.command(incident.type)} (what calmopsd does, what to check first, "
        "how to roll back or escalate)",
        "",
        *_listed("Timeline", [_event_row(e) for e in detail.events]),
        "",
        *_listed("Actions", [_action_row(a) for a in detail.actions]),
        "",
        *_listed(
            "Recommendations",
            list(_recommendation_rows(detail.recommendations)),
            len(detail.recommendations),
        ),
    ]
    return "\n".join(lines)


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _event_row(event: AuditEvent) -> str:
    return _cut(
        f"{event.at:%Y-%m-%d %H:%M:%S}  {event.kind:<26} {event.actor:<14} {_brief(event.data)}"
    )


def _brief(data: dict[str, Any]) -> str:
    """The event's plain fields as ``key=value``; the nested ones are in ``--json``."""
    return " ".join(
        f"{key}={value}"
        for key, value in data.items()
        if isinstance(value, str | int | float | bool) and value != ""
    )


def _action_row(row: dict[str, Any]) -> str:
    outcome = row.get("outcome") if isinstance(row.get("outcome"), dict) else {}
    said = (outcome or {}).get("detail") or (outcome or {}).get("reason") or ""
    at = str(row.get("requested_at") or "")[:16].replace("T", " ")
    return (
        f"#{row['id']:<5} {row['action']:<19} {row['status']:<10} "
        f"by {row.get('requested_by')} at {at}  {said}"
    ).rstrip()


def _recommendation_rows(recs: Iterable[Recommendation]) -> Iterable[str]:
    for rec in recs:
        what = rec.action or rec.kind
        yield f"#{rec.id:<5} {what:<19} {rec.status:<10} {rec.rationale}"
        if rec.status is RecommendationStatus.PROPOSED:
            ids = f"{rec.incident_id} {rec.id}"
            yield f"       calmopsd approve {ids}   or   calmopsd reject {ids} --note …"
        elif rec.decided_by:
            note = f": {rec.decision_note}" if rec.decision_note else ""
            at = _when(rec.decided_at or rec.created_at)
            yield f"       {rec.status} by {rec.decided_by} at {at}{note}"
