"""The dashboard's views and error pages, made at its first request (:mod:`.table`
routes to them by endpoint)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from calmopsd.serve.dashboard.table import Settings
from calmopsd.serve.messages import Messages
from calmopsd.serve.operations import Operations
from calmopsd.serve.reviews import Reviews
from calmopsd.serve.tokens import Tokens
from calmopsd.serve.web import Response, g, redirect, request

log = structlog.get_logger("calmopsd.serve")

_DEFAULTS = Config()


@dataclass(frozen=True)
class Board:
    """The dashboard's views by endpoint, the check before each of its requests, and its
    error pages by exception class: what :mod:`.table` routes to once they are made."""

    views: dict[str, Callable[..., Response]]
    check: Callable[[], Response | None]
    errors: dict[type[Exception], Callable[[Any], Response]]


def build(
    operations: Operations,
    tokens: Tokens,
    settings: Settings | None = None,
    messages: Messages | None = None,
) -> Board:
    """The dashboard's views over ``operations``; with ``messages``, the incident page's
    customer messages and their decisions too."""
    gate = Gate(Sessions(operations.clock), tokens)
    pages = Pages(operations, settings or (lambda: _DEFAULTS))
    customers = None if messages is None else CustomerMessages(operations, messages, pages)
    review = ReviewSection(operations, Reviews(operations.database, operations.clock), pages)
    detail = Detail(operations, pages.settings, pages, customers, review)
    views: dict[str, Callable[..., Response]] = {
        "login": gate.login,
        "sign_in": gate.sign_in,
        "logout": gate.sign_out,
        "start": _start,
        "health": pages.health,
        "incidents": pages.incidents,
        "incident": detail.incident,
        "confirm_approve": detail.confirm,
        "approve": detail.approve,
        "confirm_reject": detail.confirm,
        "reject": detail.reject,
        "resolve": detail.resolve,
        "review_edit": review.edit,
        "history": pages.history,
        "summary": pages.summary,
        "runbook": RunbookPage(pages).show,
        "missing": _missing,
    }
    if customers is not None:
        views |= {
            "message_edit": customers.edit,
            "confirm_message_approve": customers.confirm,
            "message_approve": customers.approve,
            "confirm_message_discard": customers.confirm,
            "message_discard": customers.discard,
        }
    errors: dict[type[Exception], Callable[[Any], Response]] = {
        OperationError: _operation_error,
        HTTPException: _http_error,
        Exception: _unexpected,
    }
    return Board(views, gate.check, errors)


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
