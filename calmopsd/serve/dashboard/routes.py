"""The dashboard's URL table, and its error pages.

Every page exists twice: under ``/company/<org>/ops`` for one organization (the
super-admin may open any), and under ``/ops`` for the super-admin across
organizations. The table lists each once; :func:`register` adds both forms.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from werkzeug.exceptions import HTTPException

from calmopsd.config import Config
from calmopsd.errors import OperationError
from calmopsd.serve.dashboard.access import home, viewer
from calmopsd.serve.dashboard.customer_messages import CustomerMessages
from calmopsd.serve.dashboard.detail import Detail
from calmopsd.serve.dashboard.gate import Gate
from calmopsd.serve.dashboard.pages import Pages
from calmopsd.serve.dashboard.render import page
from calmopsd.serve.dashboard.review import ReviewSection
from calmopsd.serve.dashboard.runbook_page import RunbookPage
from calmopsd.serve.dashboard.sessions import Sessions
from calmopsd.serve.messages import Messages
from calmopsd.serve.operations import Operations
from calmopsd.serve.reviews import Reviews
from calmopsd.serve.tokens import Tokens
from calmopsd.serve.web import App, Group, Response, g, redirect, request

log = structlog.get_logger("calmopsd.serve")

NAME = "dashboard"
PREFIXES = ("/ops", "/company/<org>/ops")
Settings = Callable[[], Config]
"""The config in force, read on every page (thresholds for the charts, budgets for the
dialog); the shipped defaults when the daemon hands none."""

_DEFAULTS = Config()


def register(
    app: App,
    operations: Operations,
    tokens: Tokens,
    settings: Settings | None = None,
    messages: Messages | None = None,
) -> None:
    """Add the dashboard's pages to ``app`` (the API's); with ``messages``, the incident
    page's customer messages and their decisions too."""
    board = Group(NAME, static=Path(__file__).with_name("static"), static_path="/ops/static")
    gate = Gate(Sessions(operations.clock), tokens)
    pages = Pages(operations, settings or (lambda: _DEFAULTS))
    customers = None if messages is None else CustomerMessages(operations, messages, pages)
    review = ReviewSection(operations, Reviews(operations.database, operations.clock), pages)
    detail = Detail(operations, pages.settings, pages, customers, review)
    board.add_url_rule("/ops/login", "login", gate.login, methods=["GET"])
    board.add_url_rule("/ops/login", "sign_in", gate.sign_in, methods=["POST"])
    board.add_url_rule("/ops/logout", "logout", gate.sign_out, methods=["POST"])
    rec = "/incidents/<incident_id>/recommendations/<rec_id>"
    table: list[tuple[str, str, Callable[..., Response], str]] = [
        ("", "start", _start, "GET"),
        ("/health", "health", pages.health, "GET"),
        ("/incidents", "incidents", pages.incidents, "GET"),
        ("/incidents/<incident_id>", "incident", detail.incident, "GET"),
        (f"{rec}/approve", "confirm_approve", detail.confirm, "GET"),
        (f"{rec}/approve", "approve", detail.approve, "POST"),
        (f"{rec}/reject", "confirm_reject", detail.confirm, "GET"),
        (f"{rec}/reject", "reject", detail.reject, "POST"),
        ("/incidents/<incident_id>/resolve", "resolve", detail.resolve, "POST"),
        ("/incidents/<incident_id>/review", "review_edit", review.edit, "POST"),
        ("/history", "history", pages.history, "GET"),
        ("/summary", "summary", pages.summary, "GET"),
        ("/runbook", "runbook", RunbookPage(pages).show, "GET"),
    ]
    if customers is not None:
        told = "/incidents/<incident_id>/messages/<message_id>"
        table += [
            (f"{told}/edit", "message_edit", customers.edit, "POST"),
            (f"{told}/approve", "confirm_message_approve", customers.confirm, "GET"),
            (f"{told}/approve", "message_approve", customers.approve, "POST"),
            (f"{told}/discard", "confirm_message_discard", customers.confirm, "GET"),
            (f"{told}/discard", "message_discard", customers.discard, "POST"),
        ]
    table.append(("/<path:rest>", "missing", _missing, "GET"))
    for prefix in PREFIXES:
        which = "ops" if prefix == "/ops" else "company"
        # Under /ops the views' org is None: the super-admin's pages across organizations.
        options: dict[str, Any] = {"defaults": {"org": None}} if which == "ops" else {}
        for path, endpoint, view, method in table:
            board.add_url_rule(prefix + path, f"{which}_{endpoint}", view, methods=[method],
                               provide_automatic_options=False, **options)  # fmt: skip
    board.before_request(gate.check)
    board.register_error_handler(OperationError, _operation_error)
    board.register_error_handler(HTTPException, _http_error)
    board.register_error_handler(Exception, _unexpected)
    app.register_group(board)


def _start(org: str | None = None) -> Response:
    return redirect(f"{viewer(org).base}/incidents", 303)


def _missing(rest: str, org: str | None = None) -> Response:
    return _error_page(404, "Not found", "There is no such page here.")


def _operation_error(exc: OperationError) -> Response:
    titles = {404: "Not found", 403: "Not allowed", 400: "Bad request", 409: "Conflict",
              401: "Signed out", 503: "Unavailable"}  # fmt: skip
    detail = "There is no such page here." if exc.status == 404 else exc.detail
    return _error_page(exc.status, titles.get(exc.status, "Refused"), detail)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    return _error_page(status, exc.name or "Error", str(exc.description or exc.name))


def _unexpected(exc: Exception) -> Response:
    log.exception("dashboard.failed", method=request.method, route=str(request.url_rule))
    return _error_page(500, "Something went wrong", "calmopsd could not show this page; its "
                       "log says why.")  # fmt: skip


def _error_page(status: int, title: str, detail: str) -> Response:
    context: dict[str, Any] = {"title": title, "detail": detail, "notices": [], "viewer": None}
    if g.get("session") is not None and g.get("caller") is not None:
        context["home"] = home(g.caller)
    return page("error.html", status, **context)
