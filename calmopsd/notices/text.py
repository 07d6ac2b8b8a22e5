"""The words of a notice: the incident's decision summary, what waits for a person, and
how to act on it — by command or on the dashboard, never by following a link — and
where its type's runbook section is.

Notices go to people who run the platform, not to customers: internal detail (apps,
hosts, figures) is what they need. Text from tenants and logs is kept to printable
characters, since chat services and mail clients render what they receive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from calmopsd import runbook
from calmopsd.model import Incident, Recommendation
from calmopsd.record.outbox import NoticeKind

MAX_BODY = 4000  # characters: within what chat services take in one message
_HEADS = {
    NoticeKind.OPENED: "Incident",
    NoticeKind.UPDATED: "Update",
    NoticeKind.REMINDER: "Still open",
    NoticeKind.RESOLVED: "Resolved",
}


@dataclass(frozen=True)
class NoticeText:
    title: str
    body: str


def notice_text(
    kind: NoticeKind,
    incident: Incident,
    pending: Sequence[Recommendation],
    *,
    host: str,
    dashboard_url: str | None,
    key: str,
) -> NoticeText:
    """The title and body of one notice about ``incident``."""
    where = f"organization {incident.organization_id}" if incident.organization_id else "platform"
    title = (
        f"[calmopsd {host}] {_HEADS[kind]} #{incident.id} ({incident.severity}, {incident.type}, "
        f"{where}): {_line(incident.title)}"
    )
    lines = [_line(line) for line in (incident.summary or incident.title).splitlines()]
    if kind is not NoticeKind.RESOLVED and pending:
        lines += ["", "Waiting for your approval:"]
        for rec in pending:
            lines += _asked(rec)
    tail = []
    link = incident_link(dashboard_url, incident)
    if link is not None:
        tail += ["", f"Incident page: {link}"]
    tail += [
        "",
        f"Details: calmopsd show {incident.id}"
        + ("" if kind is NoticeKind.RESOLVED or not pending else " (nothing here approves)"),
        f"Runbook: {runbook_link(dashboard_url, incident)}",
        f"ref: {key}",
    ]
    return NoticeText(title=title[:250], body=_bounded("\n".join(lines), "\n".join(tail)))


def incident_link(dashboard_url: str | None, incident: Incident) -> str | None:
    """The incident's dashboard page (a page to look at, never an action)."""
    if not dashboard_url:
        return None
    base = dashboard_url.rstrip("/")
    if incident.organization_id:
        return f"{base}/company/{incident.organization_id}/ops/incidents/{incident.id}"
    return f"{base}/ops/incidents/{incident.id}"


def runbook_link(dashboard_url: str | None, incident: Incident) -> str:
    """The incident type's runbook section: its dashboard page when the dashboard's public
    address is known (a link to click), else the command that prints it on the host."""
    if not dashboard_url:
        return runbook.command(incident.type)
    return dashboard_url.rstrip("/") + runbook.page(incident.type, incident.organization_id)


def _asked(rec: Recommendation) -> list[str]:
    what = _line(rec.action or rec.kind)
    target = rec.params.get("target") or rec.params.get("app") or rec.params.get("organization")
    # App names come from PM2 and reach chat and mail: printable, one line, like the rest.
    on = f" on {_line(str(target))}" if target else ""
    head = f"  #{rec.id} {what}{on}: {_line(rec.rationale)}"
    ids = f"{rec.incident_id} {rec.id}"
    return [head, f"    approve: calmopsd approve {ids}", f"    reject:  calmopsd reject {ids}"]


def _line(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text).strip()


def _bounded(head: str, tail: str) -> str:
    """``head`` cut to leave room for ``tail`` (the link, the command, the ref) whole."""
    room = MAX_BODY - len(tail) - 1
    if len(head) > room:
        head = head[: max(room - 12, 0)].rstrip() + "\n… (cut)"
    return f"{head}\n{tail}"
