"""One JSON object each way per connection, bounded in size and in time.

A request is one JSON object on one line (it ends at ``\\n`` or at the end of what
the client sends); the answer is one JSON object on one line, then the helper closes
the connection. The helper reads at most :data:`MAX_REQUEST` bytes and waits at most
:data:`REQUEST_WITHIN` seconds for the whole request, from the accept: a client that
sends more, or too slowly, gets a refusal and nothing is done. The daemon reads at
most :data:`MAX_ANSWER` bytes of an answer.

Answers are one of::

    {"refused": {"reason": RefusalReason, "detail": TEXT}}
    {"result": {"ok", "detail", "data", "undo", "lasts_s"}, "commands": [[argv], ...]}
    {"prepared": {"undo", "lasts_s"} | null, "commands": [...]}
    {"pong": {"version", "actions"}}
"""

from __future__ import annotations

import json
import math
import socket
import time
from datetime import timedelta
from typing import Any

from calmopsd.act.action import Prepared, Refused, Result
from calmopsd.model import RefusalReason

# An undo record carries an owned file's bytes (64 KiB) in base64: room for that and more.
MAX_REQUEST = 256 << 10
REQUEST_WITHIN = 5.0  # seconds a client has to send its whole request
MAX_ANSWER = 1 << 20
_CHUNK = 1 << 16


class WireError(Exception):
    """The other side did not send one well-formed message in time; the message says why."""


def read_message(conn: socket.socket, limit: int, within: float) -> bytes:
    """One message: the bytes up to the first ``\\n`` or the end of the stream, at most
    ``limit`` of them, all within ``within`` seconds; :class:`WireError` otherwise."""
    deadline = time.monotonic() + within
    received = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise WireError(f"the message was not sent whole within {within:g}s")
        conn.settimeout(left)
        try:
            chunk = conn.recv(_CHUNK)
        except TimeoutError:
            raise WireError(f"the message was not sent whole within {within:g}s") from None
        if not chunk:
            break
        received += chunk
        end = received.find(b"\n")
        if end >= 0:
            del received[end:]
            break
        if len(received) > limit:
            raise WireError(f"the message is larger than {limit} bytes")
    if len(received) > limit:
        raise WireError(f"the message is larger than {limit} bytes")
    if not received.strip():
        raise WireError("no message was sent")
    return bytes(received)


def decode(raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw``; :class:`WireError` for anything else (NaN included)."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"not one JSON object: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise WireError(f"not one JSON object but {type(value).__name__}")
    return value


def encode(message: dict[str, Any]) -> bytes:
    """One line of JSON; what is not JSON-able (a Path in an action's data) as text."""
    return json.dumps(message, default=str, separators=(",", ":")).encode("utf-8") + b"\n"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# -- what travels -------------------------------------------------------------------


def refusal(refused: Refused) -> dict[str, Any]:
    return {"refused": {"reason": refused.reason.value, "detail": refused.detail}}


def refusal_of(answer: dict[str, Any]) -> Refused | None:
    """The refusal an answer carries, or None."""
    found = answer.get("refused")
    if not isinstance(found, dict):
        return None
    try:
        reason = RefusalReason(str(found.get("reason")))
    except ValueError:
        reason = RefusalReason.NOT_ALLOWED
    return Refused(reason, str(found.get("detail", "refused by the helper"))[:500])


def result_to_wire(result: Result) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "detail": result.detail,
        "data": result.data,
        "undo": result.undo,
        "lasts_s": _seconds(result.lasts),
    }


def result_from_wire(value: object) -> Result:
    """A Result as the helper sent it; :class:`WireError` when it is not one."""
    if not isinstance(value, dict) or not isinstance(value.get("ok"), bool):
        raise WireError("the answer carries no result")
    detail, data, undo = value.get("detail"), value.get("data") or {}, value.get("undo")
    if not isinstance(detail, str) or not isinstance(data, dict):
        raise WireError("the answer's result is malformed")
    if undo is not None and not isinstance(undo, dict):
        raise WireError("the answer's undo record is malformed")
    return Result(value["ok"], detail, data, undo, _duration(value.get("lasts_s")))


def prepared_to_wire(prepared: Prepared | None) -> dict[str, Any] | None:
    if prepared is None:
        return None
    return {"undo": prepared.undo, "lasts_s": _seconds(prepared.lasts)}


def prepared_from_wire(value: object) -> Prepared | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("undo"), dict):
        raise WireError("the answer's prepared undo record is malformed")
    lasts = _duration(value.get("lasts_s"))
    if lasts is None:
        raise WireError("the answer's prepared undo record says not how long it lasts")
    return Prepared(value["undo"], lasts)


def commands_from_wire(value: object) -> list[tuple[str, ...]]:
    """The argv lists the helper ran (or, dry, recorded), for the daemon's audit event."""
    if not isinstance(value, list):
        return []
    return [tuple(str(part) for part in argv) for argv in value if isinstance(argv, list)]


def _seconds(lasts: timedelta | None) -> float | None:
    return None if lasts is None else lasts.total_seconds()


def _duration(value: object) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise WireError("the answer's duration is malformed")
    if not 0 < value <= 366 * 86400:
        raise WireError("the answer's duration is out of range")
    return timedelta(seconds=value)
