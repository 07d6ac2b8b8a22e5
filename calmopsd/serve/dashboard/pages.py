"""The list pages: health, incidents, history and the weekly stability summary.

Each reads through :class:`~calmopsd.serve.operations.Operations` where it offers the
read (incidents, health, actions in force) and through ``record/`` queries with the
viewer's scope for the aggregates it does not (weekly figures, milestones, charts).
Query strings are checked by the API's own models (:mod:`calmopsd.serve.bodies`), so
a bad filter is the same clear 400 here as there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from calmopsd.config import Config
from calmopsd.errors import InvalidRequest
from calmopsd.learn.weekly_report import lines, title
from calmopsd.model import Incident, IncidentStatus, IncidentType, Severity
from calmopsd.record.history import first_moves, weeks_since
from calmopsd.record.pages import IncidentFilter
from calmopsd.serve.bodies import IncidentsQuery, parse_query
from calmopsd.serve.dashboard.access import Viewer, viewer
from calmopsd.serve.dashboard.charts import charts
from calmopsd.serve.dashboard.render import page
from calmopsd.serve.dashboard.sparkline import in_breach
from calmopsd.serve.narrow import narrowed
from calmopsd.serve.operations import Operations
from calmopsd.serve.summaries import Summaries
from calmopsd.serve.summary_routes import PeriodQuery
from calmopsd.serve.web import Response, request

UNRESOLVED = (IncidentStatus.OPEN, IncidentStatus.STABILIZING, IncidentStatus.MONITORING)
HISTORY_WEEKS = 12
SUMMARY_WEEKS = 8
PAGE = 50


@dataclass(frozen=True)
class Ended:
    """A resolved incident and how long each stage took."""

    incident: Incident
    detect: timedelta | None  # breach began → incident opened
    stabilize: timedelta | None  # opened → first monitoring
    resolve: timedelta | None  # opened → resolved


class Pages:
    def __init__(self, operations: Operations, settings: Callable[[], Config]):
        self.ops = operations
        self.settings = settings

    def context(self, v: Viewer, title: str, **more: Any) -> dict[str, Any]:
        return {"viewer": v, "title": title, "notices": v.session.take_notices(),
                "csrf_token": v.session.csrf, "now": self.ops.clock.now(), **more}  # fmt: skip

    def health(self, org: str | None = None) -> Response:
        _no_query()
        v = viewer(org)
        now = self.ops.clock.now()
        found = self.ops.health(v.reader)
        active = self.ops.active_actions(v.reader)
        if v.organization is not None:
            active = [a for a in active if a.organization_id == v.organization]
        drawn = charts(self.ops.database, v.reader.scope, self.settings().detection_rules(), now)
        v.trace("charts")
        look = [f"{r.sampler}: the last reading failed ({r.error})" for r in found.readings
                if not r.ok]  # fmt: skip
        look += [f"{c.series} is in breach: {c.last:.4g}{c.unit} ({c.op} {c.threshold:.4g}"
                 f"{c.unit})" for c in drawn if c.last is not None and c.breach_share and
                 in_breach(c.last, c.op, c.threshold)]  # fmt: skip
        return page("health.html", **self.context(
            v, "Health", health=found, active=active, charts=drawn, look=look, refresh=True,
        ))  # fmt: skip

    def incidents(self, org: str | None = None) -> Response:
        v = viewer(org)
        q = parse_query(IncidentsQuery, _args())
        reader = v.reader
        if q.organization_id is not None:
            if v.organization is not None:
                raise InvalidRequest("organization_id: this page is one organization's already",
                                     "invalid_query")  # fmt: skip
            reader = narrowed(reader, q.organization_id)
        wanted = IncidentFilter(q.status, q.type, q.severity, q.since)
        listed = self.ops.list_incidents(reader, wanted, limit=q.limit, cursor=q.cursor)
        first = wanted == IncidentFilter() and q.cursor is None
        attention = [i for s in UNRESOLVED for i in
                     self.ops.list_incidents(reader, IncidentFilter(status=s), limit=PAGE).incidents
                     ] if first else []  # fmt: skip
        return page("incidents.html", **self.context(
            v, "Incidents", attention=attention, listed=listed, query=q, refresh=True,
            statuses=list(IncidentStatus), types=list(IncidentType), severities=list(Severity),
            next_query=_with(cursor=listed.next_cursor) if listed.next_cursor else None,
        ))  # fmt: skip

    def history(self, org: str | None = None) -> Response:
        v = viewer(org)
        q = parse_query(IncidentsQuery, _args())
        if q.status is not None or q.organization_id is not None:
            raise InvalidRequest("history lists resolved incidents: no status or organization_id",
                                 "invalid_query")  # fmt: skip
        wanted = IncidentFilter(IncidentStatus.RESOLVED, q.type, q.severity, q.since)
        listed = self.ops.list_incidents(v.reader, wanted, limit=q.limit, cursor=q.cursor)
        ids = [i.id for i in listed.incidents]
        stable = first_moves(self.ops.database, v.reader.scope, ids, "monitoring")
        now = self.ops.clock.now()
        weeks = weeks_since(self.ops.database, v.reader.scope, now - timedelta(weeks=HISTORY_WEEKS))
        v.trace("history")
        ended = [_ended(i, stable.get(i.id)) for i in listed.incidents]
        return page("history.html", **self.context(
            v, "History", ended=ended, weeks=weeks, query=q,
            next_query=_with(cursor=listed.next_cursor) if listed.next_cursor else None,
        ))  # fmt: skip

    def summary(self, org: str | None = None) -> Response:
        """The weekly stability summary (``?week=2026-W49`` or ``?since=7d``; the last 7
        days by default), then the counts and MTTR of the weeks before."""
        q = parse_query(PeriodQuery, _args())
        v = viewer(org)
        now = self.ops.clock.now()
        # Traced once, by the viewer (a super-admin on an organization's page).
        weekly = Summaries(self.ops.database, self.ops.clock, trace_reads=False).weekly(
            v.reader, q.week, q.since
        )
        since = now - timedelta(weeks=SUMMARY_WEEKS)
        weeks = weeks_since(self.ops.database, v.reader.scope, since)
        found = self.ops.health(v.reader)
        v.trace("summary")
        return page("summary.html", **self.context(
            v, "Weekly summary", weeks=weeks, health=found, since=since, weekly=weekly,
            weekly_title=title(weekly), weekly_lines=lines(weekly), query=q,
            shares_before={a.check: a.share for a in weekly.previous.availability},
        ))  # fmt: skip


def _ended(incident: Incident, stabilized: datetime | None) -> Ended:
    started = incident.evidence.get("breach", {}).get("started_at") if isinstance(
        incident.evidence.get("breach"), dict) else None  # fmt: skip
    detect = None
    if isinstance(started, str):
        try:
            detect = incident.opened_at - datetime.fromisoformat(started)
        except ValueError:
            detect = None
    return Ended(
        incident,
        detect,
        stabilized - incident.opened_at if stabilized is not None else None,
        incident.resolved_at - incident.opened_at if incident.resolved_at is not None else None,
    )


def _args() -> dict[str, list[str]]:
    """The query string; a filter left at "any" in the form (an empty value) is no filter."""
    return {k: [v for v in request.args.getlist(k) if v] for k in request.args
            if any(request.args.getlist(k))}  # fmt: skip


def _no_query() -> None:
    if request.args:
        raise InvalidRequest(f"this page takes no query string (got {sorted(request.args)[0]!r})",
                             "invalid_query")  # fmt: skip


def _with(**changes: str) -> str:
    args = {k: v[0] for k, v in _args().items()} | changes
    return "?" + urlencode(args)
