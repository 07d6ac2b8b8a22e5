"""JSON text as Python values, refused whole when it is not strictly JSON.

orjson's parser does what a request body needs: it refuses invalid UTF-8, lone
surrogates, a byte-order mark, ``NaN`` and nesting deeper than 1,024, and it is
already what the daemon writes JSON with.
"""

from __future__ import annotations

from typing import Any

import orjson

from calmopsd.typed.errors import ValidationError, error


def parse_json(raw: str | bytes | bytearray, title: str) -> Any:
    """``raw`` parsed; ``ValidationError`` of one ``json_invalid`` error if it is not JSON."""
    if not isinstance(raw, str | bytes | bytearray | memoryview):
        raise ValidationError(title, [error("json_type", raw)])
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = str(exc)
        if "not valid UTF-8" in reason and not _is_utf8(raw):
            reason = "the body is not UTF-8 text"  # orjson blames surrogates for any bad byte
        raise ValidationError(title, [error("json_invalid", raw, {"error": reason})]) from None


def _is_utf8(raw: str | bytes | bytearray | memoryview) -> bool:
    if isinstance(raw, str):
        return True
    try:
        bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
