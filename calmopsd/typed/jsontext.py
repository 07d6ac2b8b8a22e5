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
        raise ValidationError(title, [error("json_invalid", raw, {"error": str(exc)})]) from None
