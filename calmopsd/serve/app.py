"""The WSGI application (:mod:`.web`): routes onto :class:`~calmopsd.serve.operations.Operations`.

Every request is authenticated first (no token or an unknown one: 401 on any
path, so an unauthenticated client learns nothing about routes; the monitoring
routes of :mod:`.monitoring` alone may go without one), then routed,
then its query string and body are checked (:mod:`.bodies`) before the
operation runs. Every 4xx is JSON ``{"error": CODE, "detail": TEXT}``. The
handler for any other exception answers a JSON 500 and logs ``api.failed``:
it is there for bugs, and the tests hold that no input reaches it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import structlog
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from calmopsd.config.reserved import LOCAL_TOKEN_NAME
from calmopsd.errors import InvalidRequest, OperationError, Unauthenticated
from calmopsd.record.pages import IncidentFilter
from calmopsd.serve import (
    dashboard,
    message_routes,
    review_routes,
    summary_routes,
    tuning_routes,
    views,
)
from calmopsd.serve.bodies import (
    Approval,
    EmptyQuery,
    HealthCheck,
    HealthQuery,
    IncidentsQuery,
    NewIncident,
    Rejection,
    StatusChange,
    body_kind,
    parse_body,
    parse_id,
    parse_query,
)
from calmopsd.serve.messages import Messages
from calmopsd.serve.monitoring import PATHS as MONITORING_PATHS
from calmopsd.serve.monitoring import Monitoring
from calmopsd.serve.narrow import narrowed
from calmopsd.serve.operations import Operations
from calmopsd.serve.reviews import Reviews
from calmopsd.serve.summaries import Summaries
from calmopsd.serve.tokens import Caller, Tokens, actor_header, bearer, caller_for
from calmopsd.serve.tuning import Tuning
from calmopsd.serve.web import App, Response, g, request

log = structlog.get_logger("calmopsd.serve")

MAX_BODY = 64 * 1024
PREFIX = "/api/ops"
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}

Json = tuple[dict[str, Any], int] | dict[str, Any]


def create_app(
    operations: Operations,
    tokens: Tokens,
    settings: dashboard.Settings | None = None,
    *,
    monitoring: Monitoring | None = None,
    messages: Messages | None = None,
) -> App:
    """The API over ``operations``, for callers holding one of ``tokens``; with
    ``monitoring``, also ``/-/healthy``, ``/-/ready`` and ``/metrics``.

    The dashboard's pages (``/ops/...``, ``/company/<org>/ops/...``) come with it;
    ``settings`` is the config in force, for their thresholds and budgets; ``messages``
    serves customer messages in the API and on the dashboard's incident page.
    """
    app = App(max_body=MAX_BODY)  # `//` is a JSON 404, never merged into a redirect
    routes = _Routes(operations)
    for path, methods, view in routes.table():
        app.add_url_rule(
            PREFIX + path, view_func=view, methods=methods, provide_automatic_options=False
        )
    if monitoring is not None:
        monitoring.register(app)
    if messages is not None:
        message_routes.register(app, PREFIX, messages)
    review_routes.register(app, PREFIX, Reviews(operations.database, operations.clock))
    summary_routes.register(app, PREFIX, Summaries(operations.database, operations.clock))
    tuning_routes.register(
        app, PREFIX, Tuning(operations.database, operations.clock, operations.hooks)
    )
    dashboard.register(app, operations, tokens, settings, messages)
    app.before_request(lambda: _authenticate(tokens, monitoring))
    app.after_request(_harden)
    app.register_error_handler(OperationError, _operation_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    return app


class _Routes:
    def __init__(self, operations: Operations):
        self.ops = operations

    def table(self) -> list[tuple[str, list[str], Callable[..., Json]]]:
        return [
            ("/health", ["GET"], self.health),
            ("/incidents", ["GET"], self.list_incidents),
            ("/incidents", ["POST"], self.post_incidents),
            ("/incidents/<incident_id>", ["GET"], self.incident),
            ("/incidents/<incident_id>", ["PATCH"], self.patch_incident),
            ("/incidents/<incident_id>/recommendations/<rec_id>/approve", ["POST"], self.approve),
            ("/incidents/<incident_id>/recommendations/<rec_id>/reject", ["POST"], self.reject),
            ("/actions/active", ["GET"], self.active),
            ("/actions/<active_id>/revert", ["POST"], self.revert),
            ("/actions/pause", ["POST"], self.pause),
            ("/actions/resume", ["POST"], self.resume),
            ("/audit/verify", ["GET"], self.verify),
        ]

    def health(self) -> Json:
        query = parse_query(HealthQuery, _args())
        # A HEAD is answered by the GET view: a HEAD must never run a sampling round.
        check = query.check == "now" and request.method == "GET"
        caller = narrowed(_caller(), query.organization_id)
        return views.health(self.ops.health(caller, check=check))

    def list_incidents(self) -> Json:
        q = parse_query(IncidentsQuery, _args())
        page = self.ops.list_incidents(
            narrowed(_caller(), q.organization_id),
            IncidentFilter(q.status, q.type, q.severity, q.since), limit=q.limit, cursor=q.cursor,
        )  # fmt: skip
        return views.page(page)

    def post_incidents(self) -> Json:
        parse_query(EmptyQuery, _args())
        raw = _body()
        if body_kind(raw) == "health_check":
            parse_body(HealthCheck, raw)
            return views.health(self.ops.health(_caller(), check=True))
        new = parse_body(NewIncident, raw)
        incident = self.ops.open_incident(
            _caller(), title=new.title, type=new.type, severity=new.severity,
            description=new.description, organization=new.organization,
        )  # fmt: skip
        return views.incident(incident, full=True), 201

    def incident(self, incident_id: str) -> Json:
        parse_query(EmptyQuery, _args())
        caller = _caller()
        found = self.ops.incident(caller, parse_id(incident_id, "incident"))
        return views.detail(found, chain=caller.super_admin)

    def patch_incident(self, incident_id: str) -> Json:
        parse_query(EmptyQuery, _args())
        number = parse_id(incident_id, "incident")
        change = parse_body(StatusChange, _body())
        incident = self.ops.change_status(_caller(), number, change.new_status, change.note)
        return views.incident(incident, full=True)

    def approve(self, incident_id: str, rec_id: str) -> Json:
        parse_query(EmptyQuery, _args())
        ids = parse_id(incident_id, "incident"), parse_id(rec_id, "recommendation")
        parse_body(Approval, _body(), optional=True)
        return views.decision(self.ops.approve(_caller(), *ids))

    def reject(self, incident_id: str, rec_id: str) -> Json:
        parse_query(EmptyQuery, _args())
        ids = parse_id(incident_id, "incident"), parse_id(rec_id, "recommendation")
        body = parse_body(Rejection, _body(), optional=True)
        return views.decision(self.ops.reject(_caller(), *ids, note=body.note))

    def active(self) -> Json:
        parse_query(EmptyQuery, _args())
        return {"actions": [views.active(a) for a in self.ops.active_actions(_caller())]}

    def revert(self, active_id: str) -> Json:
        parse_query(EmptyQuery, _args())
        number = parse_id(active_id, "action in force")
        parse_body(Approval, _body(), optional=True)
        return {"status": "reverted", "detail": self.ops.revert(_caller(), number)}

    def pause(self) -> Json:
        parse_query(EmptyQuery, _args())
        parse_body(Approval, _body(), optional=True)
        return {"paused": True, "changed": self.ops.pause(_caller())}

    def resume(self) -> Json:
        parse_query(EmptyQuery, _args())
        parse_body(Approval, _body(), optional=True)
        return {"paused": False, "changed": self.ops.resume(_caller())}

    def verify(self) -> Json:
        parse_query(EmptyQuery, _args())
        return views.verdict(self.ops.verify_audit(_caller()))


def _authenticate(tokens: Tokens, monitoring: Monitoring | None = None) -> None:
    if request.blueprint == dashboard.NAME:
        return  # its pages sign in with a session cookie of their own (serve/dashboard/)
    if monitoring is not None and not monitoring.needs_token(request):
        return
    token = bearer(request.headers.get("Authorization"))
    entry = tokens.find(token) if token is not None else None
    if entry is None:
        raise Unauthenticated("a valid token is required: Authorization: Bearer TOKEN")
    named = request.headers.get("X-Calmops-Actor")
    user = actor_header(named)
    if entry.name == LOCAL_TOKEN_NAME and named is not None and user is None:
        raise InvalidRequest(
            "X-Calmops-Actor must be a user name of 1-32 letters, digits, '.', '_' or '-'",
            "invalid_actor",
        )
    g.caller = caller_for(entry, user)


def _caller() -> Caller:
    caller: Caller = g.caller
    return caller


def _args() -> dict[str, list[str]]:
    return {key: request.args.getlist(key) for key in request.args}


def _body() -> bytes:
    """The raw body; werkzeug refuses one over :data:`MAX_BODY` with a 413."""
    return request.get_data(cache=True)


def _harden(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    caller = g.get("caller")
    # A scraper or a probe calls every few seconds: its lines would drown the journal.
    write = log.debug if request.path in MONITORING_PATHS else log.info
    write(
        "api.request",
        method=request.method,
        route=request.url_rule.rule if request.url_rule is not None else None,
        status=response.status_code,
        token=caller.name if caller is not None else None,
    )
    return response


def _operation_error(exc: OperationError) -> Response:
    response = _error(exc.status, exc.code, exc.detail)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="calmopsd"'
    return response


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = _HTTP_CODES.get(status) or (exc.name or "error").lower().replace(" ", "_")
    detail = {413: f"the body is larger than {MAX_BODY // 1024} KiB"}.get(status)
    response = _error(status, code, detail or str(exc.description or exc.name))
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _unexpected(exc: Exception) -> Response:
    log.exception("api.failed", method=request.method, route=str(request.url_rule))
    return _error(500, "internal", "calmopsd could not answer this; its log says why")


def _error(status: int, code: str, detail: str) -> Response:
    body = json.dumps({"error": code, "detail": detail}, ensure_ascii=False)
    return Response(body, status=status, mimetype="application/json")
