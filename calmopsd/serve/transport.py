"""What waitress answers before the app sees a request, as the API's JSON errors.

waitress refuses some requests while parsing them, before any WSGI app runs: a
request line or header it cannot parse, a body larger than it buffers, a transfer
coding other than chunked, a head over its size limit. It hands each to its
``ErrorTask``, which writes plain text. :class:`JsonErrorTask` takes its place
(``HTTPChannel.error_task_class``, the one point all of them pass) and writes
``{"error": CODE, "detail": TEXT}`` with waitress's status, as the app does for its own
errors; the connection is closed after it, as waitress does.
"""

from __future__ import annotations

import json
from typing import cast

import structlog
from waitress.parser import HTTPRequestParser
from waitress.task import ErrorTask
from waitress.utilities import (
    BadRequest,
    Error,
    InternalServerError,
    RequestEntityTooLarge,
    RequestHeaderFieldsTooLarge,
    ServerNotImplemented,
)

from calmopsd.serve.app import MAX_BODY

log = structlog.get_logger("calmopsd.serve")

DETAIL_CHARS = 200  # waitress quotes a malformed header line or method in its reason
# Most specific first: the two "too large" errors are BadRequest subclasses.
_CODES: tuple[tuple[type[Error], str], ...] = (
    (RequestHeaderFieldsTooLarge, "headers_too_large"),
    (RequestEntityTooLarge, "body_too_large"),
    (BadRequest, "bad_request"),
    (ServerNotImplemented, "not_implemented"),
    (InternalServerError, "internal"),
)


def answer(error: Error, head_limit: int) -> tuple[int, str, str]:
    """(status, code, detail) of waitress's ``error``, the head limited to ``head_limit`` bytes."""
    code = next((c for kind, c in _CODES if isinstance(error, kind)), "error")
    if code == "headers_too_large":
        detail = f"the request line and headers are larger than {head_limit // 1024} KiB"
    elif code == "body_too_large":
        # The API's own limit: bodies between it and what waitress buffers get the app's 413.
        detail = f"the body is larger than {MAX_BODY // 1024} KiB"
    elif code == "internal":
        detail = "calmopsd could not answer this; its log says why"
    else:
        detail = " ".join(str(error.body).split())[:DETAIL_CHARS]
    return error.code, code, detail


class JsonErrorTask(ErrorTask):
    """waitress's error answer, as JSON."""

    def execute(self) -> None:
        # An ErrorTask's request is the parser that failed (the stubs call it an Error).
        error = cast(HTTPRequestParser, self.request).error or InternalServerError("")
        status, code, detail = answer(error, self.channel.adj.max_request_header_size)
        body = json.dumps({"error": code, "detail": detail}).encode()
        self.status = f"{status} {error.reason}"
        headers = cast(list[tuple[str, str]], self.response_headers)
        headers.extend(
            [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
             ("X-Content-Type-Options", "nosniff")]
        )  # fmt: skip
        self.set_close_on_finish()
        self.content_length = len(body)
        log.info("api.refused_request", status=status, error=code)
        self.write(body)
