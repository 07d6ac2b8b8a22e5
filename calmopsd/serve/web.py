"""The WSGI application the API and the dashboard are served by, on werkzeug alone.

Why not Flask (docs/decisions.md, "The API on werkzeug, without Flask (issue 16)"):
calmopsd used six of its parts: a URL table, a request and a per-request namespace
(``request``, ``g``), hooks before and after each request, error handlers looked up
by exception class, one group of routes with hooks of its own (the dashboard's
blueprint) and its static files. All six are werkzeug's routing, request and
response with about a hundred lines around them, and Flask, with what only it needs
(its template layer, signals, sessions, CLI plumbing), held 3.4 MiB of the daemon's
memory. The behaviour kept is Flask's own: hooks run even when routing failed (so an
unknown path without a token is a 401, not a 404), a route's group's error handlers
before the application's, ``HEAD`` answered by a ``GET`` route without its body, a
view's dict becomes compact JSON with sorted keys.
"""

from __future__ import annotations

import dataclasses
import decimal
import json
import re
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import structlog
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import http_date
from werkzeug.local import LocalProxy
from werkzeug.routing import Map, Rule
from werkzeug.routing.exceptions import RoutingException
from werkzeug.utils import redirect as _redirect
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Request as _Request
from werkzeug.wrappers import Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from werkzeug.test import Client

View = Callable[..., Any]
Hook = Callable[[], Any]
ErrorHandler = Callable[[Any], Response]
AfterHook = Callable[[Response], Response]

log = structlog.get_logger("calmopsd.serve")

_FAILED = "calmopsd could not answer this; its log says why"
MAX_FORM_MEMORY = 500_000  # Flask 3.1's defaults for a form's fields and parts
MAX_FORM_PARTS = 1_000


class Request(_Request):
    """werkzeug's request, with the route it matched and the group it belongs to."""

    url_rule: Rule | None = None
    view_args: dict[str, Any] | None = None
    routing_exception: HTTPException | None = None
    claimed: str | None = None  # the group whose paths an unrouted request is under
    max_form_memory_size = MAX_FORM_MEMORY
    max_form_parts = MAX_FORM_PARTS

    @property
    def endpoint(self) -> str | None:
        """The matched route's name (``group.name`` inside a group), None if none matched."""
        return self.url_rule.endpoint if self.url_rule is not None else None

    @property
    def blueprint(self) -> str | None:
        """The name of the group the matched route belongs to, if any; with no route
        matched, the group that claims the path (:class:`Group`'s ``claims``)."""
        endpoint = self.endpoint
        if endpoint is None:
            return self.claimed
        if "." not in endpoint:
            return None
        return endpoint.rpartition(".")[0]


class Globals:
    """What a request's hooks leave for its view (Flask's ``g``): attributes, and
    :meth:`get` for one that may not be set."""

    def get(self, name: str, default: Any = None) -> Any:
        return self.__dict__.get(name, default)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"nothing named {name!r} was set for this request")

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__[name] = value


_request: ContextVar[Request] = ContextVar("calmopsd.serve.request")
_globals: ContextVar[Globals] = ContextVar("calmopsd.serve.g")

# The request being answered and its namespace, as module names (each thread answers
# its own request: a context variable is the thread's own).
request = cast(Request, LocalProxy(_request, unbound_message="not answering a request"))
g = cast(Globals, LocalProxy(_globals, unbound_message="not answering a request"))


def redirect(location: str, code: int = 302) -> Response:
    """A redirect to ``location`` (a path of this site)."""
    return _redirect(location, code)


def json_default(value: Any) -> Any:
    """What JSON cannot hold itself, as Flask wrote it: dates as HTTP dates, decimals
    and UUIDs as text, dataclasses as objects."""
    if isinstance(value, date):
        return http_date(value)
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_response(body: Any, status: int = 200) -> Response:
    text = json.dumps(body, default=json_default, ensure_ascii=True, sort_keys=True,
                      separators=(",", ":")) + "\n"  # fmt: skip
    return Response(text, status=status, mimetype="application/json")


class _Hooks:
    """Hooks and error handlers, of the application or of one group of routes."""

    def __init__(self) -> None:
        self.before: list[Hook] = []
        self.errors: dict[type[BaseException], ErrorHandler] = {}

    def before_request(self, hook: Hook) -> Hook:
        """Run ``hook`` before each request's view; a response it returns is the answer."""
        self.before.append(hook)
        return hook

    def register_error_handler(self, kind: type[BaseException], handler: ErrorHandler) -> None:
        """Answer an exception of ``kind`` (or a subclass) raised while answering."""
        self.errors[kind] = handler

    def handler_for(self, exc: BaseException) -> ErrorHandler | None:
        for kind in type(exc).__mro__:
            if kind in self.errors:
                return self.errors[kind]
        return None


class Group(_Hooks):
    """Routes under one name with hooks of their own (Flask's blueprint): its routes'
    names are ``NAME.endpoint``; with ``static``, the files of that directory under
    ``static_path``. ``claims``: a path it fully matches is the group's even when no
    route does, so its hooks and error handlers answer (a 404 page, not the API's 401)."""

    def __init__(
        self,
        name: str,
        static: Path | None = None,
        static_path: str = "",
        claims: str | None = None,
    ):
        super().__init__()
        self.name = name
        self.claims = re.compile(claims) if claims is not None else None
        self.rules: list[tuple[str, str, View, dict[str, Any]]] = []
        if static is not None:
            self.add_url_rule(f"{static_path}/<path:filename>", "static",
                              lambda filename: send_from_directory(static, filename,
                                                                   request.environ))  # fmt: skip

    def add_url_rule(self, rule: str, endpoint: str, view: View, **options: Any) -> None:
        self.rules.append((rule, endpoint, view, options))


class App(_Hooks):
    """The WSGI application: a URL table of views, hooks, error handlers, groups."""

    def __init__(self, max_body: int | None = None):
        super().__init__()
        # `//` must not be merged into a redirect whose Location comes from the Host header.
        self.url_map = Map(merge_slashes=False)
        self.views: dict[str, View] = {}
        self.after: list[AfterHook] = []
        self.groups: dict[str, Group] = {}
        self.max_body = max_body
        self._naming: set[str] = set()  # the group whose routes are being added

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: View | None = None,
        methods: Iterable[str] | None = None,
        provide_automatic_options: bool = False,
        **options: Any,
    ) -> None:
        """Route ``rule`` to ``view_func`` under ``endpoint`` (its ``__name__`` when
        none); ``OPTIONS`` is never answered for a route, whatever the last flag."""
        if view_func is None:
            raise ValueError(f"no view for {rule}")
        name = endpoint or view_func.__name__
        if "." in name and name.partition(".")[0] not in self._naming:
            # A dot names a group, whose hooks (not the application's) would then be asked
            # first: an API route named "dashboard.x" must not skip the API's token check.
            raise ValueError(f"{name!r}: only a group's routes have a dot in their name")
        if name in self.views and self.views[name] != view_func:
            raise ValueError(f"two views named {name!r}")
        self.views[name] = view_func
        self.url_map.add(Rule(rule, endpoint=name, methods=methods or ["GET"], **options))

    def after_request(self, hook: AfterHook) -> AfterHook:
        """Pass every response through ``hook`` (an error's too) before it is sent."""
        self.after.append(hook)
        return hook

    def register_group(self, group: Group) -> None:
        self.groups[group.name] = group
        self._naming = {group.name}
        try:
            for rule, endpoint, view, options in group.rules:
                self.add_url_rule(rule, f"{group.name}.{endpoint}", view, **options)
        finally:
            self._naming = set()

    def test_client(self) -> Client:
        """A client calling this application in process, keeping cookies (for tests)."""
        from werkzeug.test import Client

        return Client(self)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        req = Request(environ)
        if self.max_body is not None:
            req.max_content_length = self.max_body
        request_token, globals_token = _request.set(req), _globals.set(Globals())
        try:
            response = self._answer(req)
            return response(environ, start_response)
        finally:
            req.close()  # a spooled form's temporary file, at once rather than by the GC
            _request.reset(request_token)
            _globals.reset(globals_token)

    def _answer(self, req: Request) -> Response:
        adapter = self.url_map.bind_to_environ(req.environ)
        try:
            rule, args = adapter.match(return_rule=True)
            req.url_rule, req.view_args = rule, dict(args)
        except HTTPException as exc:
            req.routing_exception = exc
            req.claimed = next((group.name for group in self.groups.values()
                                if group.claims is not None
                                and group.claims.fullmatch(req.path)), None)  # fmt: skip
        try:
            response = self._dispatch(req)
        except Exception as exc:  # every exception is answered by a handler, or a 500
            response = self._handled(req, exc)
        for hook in reversed(self.after):
            try:
                response = hook(response)
            except Exception:  # the answer still goes out; the log says what failed
                log.exception("serve.after_hook_failed", method=req.method, path=req.path)
        return response

    def _handled(self, req: Request, exc: Exception) -> Response:
        """A handler's answer to ``exc``; a bare JSON 500 if the handler fails too."""
        try:
            return self._handle(req, exc)
        except Exception:
            log.exception("serve.handler_failed", method=req.method, path=req.path,
                          error=type(exc).__name__)  # fmt: skip
            return json_response({"error": "internal", "detail": _FAILED}, 500)

    def _dispatch(self, req: Request) -> Response:
        for hooks in self._hooks(req):
            answer = None
            for hook in hooks.before:
                answer = hook()
                if answer is not None:
                    return _response(answer)
        if req.routing_exception is not None:
            raise req.routing_exception
        view = self.views[str(req.endpoint)]  # matched, so named
        return _response(view(**(req.view_args or {})))

    def _hooks(self, req: Request) -> list[_Hooks]:
        group = self.groups.get(req.blueprint or "")
        return [self] if group is None else [self, group]

    def _handle(self, req: Request, exc: Exception) -> Response:
        if isinstance(exc, RoutingException) and isinstance(exc, HTTPException):
            return exc.get_response(req.environ)  # a redirect routing itself asks for
        for hooks in reversed(self._hooks(req)):
            handler = hooks.handler_for(exc)
            if handler is not None:
                return _response(handler(exc))
        if isinstance(exc, HTTPException):
            return exc.get_response(req.environ)
        return InternalServerError().get_response(req.environ)


def _response(answer: Any) -> Response:
    """A view's answer as a response: a response as it is, a dict or list as JSON, text
    as HTML, bytes as they are; a ``(body, status)`` pair with that status."""
    status: int | None = None
    if isinstance(answer, tuple):
        if len(answer) != 2 or not isinstance(answer[1], int):
            raise TypeError("a view's pair must be (body, status)")
        answer, status = answer
    if isinstance(answer, Response):
        if status is not None:
            answer.status_code = status
        return answer
    if isinstance(answer, (dict, list)):
        return json_response(answer, status or 200)
    if isinstance(answer, (str, bytes)):
        return Response(answer, status=status or 200, mimetype="text/html")
    raise TypeError(f"a view answered {type(answer).__name__}, not a response")


__all__ = ["App", "Group", "Request", "Response", "g", "json_response", "redirect", "request"]
