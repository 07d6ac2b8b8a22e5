"""The API's weekly stability summary, under the same prefix, tokens and JSON errors as the
rest (registered by :func:`calmopsd.serve.app.create_app`).

``GET /summary/weekly`` with at most one of ``week=2026-W49`` (an ISO week, UTC) and
``since=7d`` (the stretch up to now; the default), and ``organization_id`` as on the
incidents route (a super-admin's filter; an organization's token may name only its own).
"""

from __future__ import annotations

from typing import Annotated, Any

from calmopsd.learn.weekly_report import as_json
from calmopsd.serve.bodies import Query, parse_query
from calmopsd.serve.narrow import narrowed
from calmopsd.serve.summaries import Summaries
from calmopsd.serve.tokens import Caller
from calmopsd.serve.web import App, g, request
from calmopsd.typed import Field

_ORGANIZATION = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class PeriodQuery(Query):
    """Which week: an ISO week, or the stretch up to now (the dashboard's page takes these)."""

    week: Annotated[str, Field(max_length=10)] | None = None
    since: Annotated[str, Field(max_length=20)] | None = None


class WeeklyQuery(PeriodQuery):
    organization_id: Annotated[str, Field(pattern=_ORGANIZATION)] | None = None


def register(app: App, prefix: str, summaries: Summaries) -> None:
    def weekly() -> dict[str, Any]:
        q = parse_query(WeeklyQuery, {k: request.args.getlist(k) for k in request.args})
        caller: Caller = g.caller
        reader = narrowed(caller, q.organization_id)
        return as_json(summaries.weekly(reader, q.week, q.since))

    app.add_url_rule(prefix + "/summary/weekly", endpoint="summary_weekly", view_func=weekly,
                     methods=["GET"], provide_automatic_options=False)  # fmt: skip
