"""The dashboard's URL table, routed at start; its views made at its first request.

Every page exists twice: under ``/company/<org>/ops`` for one organization (the
super-admin may open any), and under ``/ops`` for the super-admin across
organizations. The table lists each once; :func:`register` adds both forms.

Why the views wait (docs/decisions.md, "The dashboard is made at its first request"):
the pages, their templates' helpers, charts and forms are about 2 MiB of a daemon that
many hosts never open a page of. The routes are known at start, so an unknown path or a
wrong method is told apart exactly as before; the first request under ``/ops`` or
``/company/`` imports :mod:`.routes` and makes the views, once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from werkzeug.exceptions import HTTPException

from calmopsd.errors import OperationError
from calmopsd.serve.web import App, Group, Response, g, request

if TYPE_CHECKING:
    from calmopsd.config import Config
    from calmopsd.serve.dashboard.routes import Board
    from calmopsd.serve.messages import Messages
    from calmopsd.serve.operations import Operations
    from calmopsd.serve.tokens import Tokens

log = structlog.get_logger("calmopsd.serve")

NAME = "dashboard"
PREFIXES = ("/ops", "/company/<org>/ops")
STATIC = Path(__file__).with_name("static")
STATIC_ENDPOINT = f"{NAME}.static"
CLAIMS = r"/ops(?:/.*)?|/company/[^/]+/ops(?:/.*)?"
"""Paths that are the dashboard's even when no page matches (``/ops/``, a POST to a page
that has none): its sign-in check and HTML error pages answer, never the API's JSON."""
_UNAVAILABLE = (
    "<!doctype html><title>Dashboard unavailable</title><h1>Dashboard unavailable</h1>"
    "<p>calmopsd could not show its pages; its log says why (serve.dashboard_failed).</p>"
)
Settings = Callable[[], "Config"]
"""The config in force, read on every page (thresholds for the charts, budgets for the
dialog); the shipped defaults when the daemon hands none."""

SIGNING = (  # (path, endpoint, method): once, outside the two prefixes
    ("/ops/login", "login", "GET"),
    ("/ops/login", "sign_in", "POST"),
    ("/ops/logout", "logout", "POST"),
)
_REC = "/incidents/<incident_id>/recommendations/<rec_id>"
PAGES = (  # (path under a prefix, endpoint, method)
    ("", "start", "GET"),
    ("/health", "health", "GET"),
    ("/incidents", "incidents", "GET"),
    ("/incidents/<incident_id>", "incident", "GET"),
    (f"{_REC}/approve", "confirm_approve", "GET"),
    (f"{_REC}/approve", "approve", "POST"),
    (f"{_REC}/reject", "confirm_reject", "GET"),
    (f"{_REC}/reject", "reject", "POST"),
    ("/incidents/<incident_id>/resolve", "resolve", "POST"),
    ("/incidents/<incident_id>/review", "review_edit", "POST"),
    ("/history", "history", "GET"),
    ("/summary", "summary", "GET"),
    ("/runbook", "runbook", "GET"),
)
_TOLD = "/incidents/<incident_id>/messages/<message_id>"
MESSAGE_PAGES = (  # with customer messages served
    (f"{_TOLD}/edit", "message_edit", "POST"),
    (f"{_TOLD}/approve", "confirm_message_approve", "GET"),
    (f"{_TOLD}/approve", "message_approve", "POST"),
    (f"{_TOLD}/discard", "confirm_message_discard", "GET"),
    (f"{_TOLD}/discard", "message_discard", "POST"),
)
MISSING = ("/<path:rest>", "missing", "GET")  # last: any other page is a 404 page


def register(
    app: App,
    operations: Operations,
    tokens: Tokens,
    settings: Settings | None = None,
    messages: Messages | None = None,
) -> None:
    """Add the dashboard's pages to ``app`` (the API's); with ``messages``, the incident
    page's customer messages and their decisions too."""
    board = Group(NAME, static=STATIC, static_path="/ops/static", claims=CLAIMS)
    lazy = _LazyBoard(operations, tokens, settings, messages)
    for path, endpoint, method in SIGNING:
        board.add_url_rule(path, endpoint, lazy.view(endpoint), methods=[method])
    table = (*PAGES, *(MESSAGE_PAGES if messages is not None else ()), MISSING)
    for prefix in PREFIXES:
        which = "ops" if prefix == "/ops" else "company"
        # Under /ops the views' org is None: the super-admin's pages across organizations.
        options: dict[str, Any] = {"defaults": {"org": None}} if which == "ops" else {}
        for path, endpoint, method in table:
            board.add_url_rule(prefix + path, f"{which}_{endpoint}", lazy.view(endpoint),
                               methods=[method], provide_automatic_options=False,
                               **options)  # fmt: skip
    board.before_request(lazy.check)
    for kind in (OperationError, HTTPException, Exception):
        board.register_error_handler(kind, lazy.handler(kind))
    app.register_group(board)


class _LazyBoard:
    """The dashboard's :class:`~.routes.Board`, made by the first request that needs it."""

    _parts: tuple[Operations, Tokens, Settings | None, Messages | None]

    def __init__(
        self,
        operations: Operations,
        tokens: Tokens,
        settings: Settings | None,
        messages: Messages | None,
    ):
        self._made: Board | None = None
        self._making = threading.Lock()
        self._parts = operations, tokens, settings, messages

    def board(self) -> Board:
        if self._made is None:
            with self._making:  # two first requests at once make it once
                if self._made is None:
                    try:
                        self._made = _build(*self._parts)
                    except Exception:
                        g.dashboard_failed = True  # this request's handler does not try again
                        raise
        return self._made

    def view(self, endpoint: str) -> Callable[..., Response]:
        def answer(**args: Any) -> Response:
            return self.board().views[endpoint](**args)

        answer.__name__ = endpoint
        return answer

    def check(self) -> Response | None:
        if request.endpoint == STATIC_ENDPOINT:
            return None  # a file of the directory: no view, no session (as gate.py has it)
        return self.board().check()

    def handler(self, kind: type[Exception]) -> Callable[[Any], Response]:
        def answer(exc: Any) -> Response:
            if g.get("dashboard_failed"):  # the board could not be made: not twice a request
                return _unavailable()
            try:
                board = self.board()  # made already, but for a static file's 404
            except Exception:  # _build logged it (serve.dashboard_failed) before raising
                return _unavailable()
            return board.errors[kind](exc)

        return answer


def _unavailable() -> Response:
    """The page when the dashboard's views could not be made (``serve.dashboard_failed``
    and the traceback are in the log): plain, since its templates may be what failed."""
    response = Response(_UNAVAILABLE, status=500, mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


def _build(
    operations: Operations, tokens: Tokens, settings: Settings | None, messages: Messages | None
) -> Board:
    try:
        from calmopsd.serve.dashboard.routes import build

        return build(operations, tokens, settings, messages)
    except Exception:
        log.exception("serve.dashboard_failed")  # once per request that tried
        raise
