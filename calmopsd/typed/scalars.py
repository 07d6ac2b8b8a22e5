"""The single values: numbers, booleans, text, paths, times, choices and URLs.

Lax, a value may arrive in a form it is commonly written in (``"5"`` for 5,
``"yes"`` for true, a tuple for a list), as pydantic's lax mode takes them;
strict, only as its own type (an int for a float, and, from JSON, a string
for what JSON has no type for: a time, an enum's value). Each function takes
the value and whether it is strict and returns the value or raises ``Invalid``.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from calmopsd.typed.errors import Invalid, error

Scalar = Callable[[Any, "Mode"], Any]

_I64 = 2**63  # a float is made an int only below it, as pydantic does
_INT_TEXT = re.compile(r"[+-]?[0-9](?:_?[0-9])*(?:\.0+)?")
_MOST_DIGITS = 4300  # Python's own limit on int(text): longer is no number a config means
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


class Mode:
    """How strictly one validation reads its input."""

    __slots__ = ("context", "data", "json", "strict")

    def __init__(
        self, *, strict: bool = False, json: bool = False, context: Any = None, data: Any = None
    ) -> None:
        self.strict = strict
        self.json = json
        self.context = context
        self.data = data
        """The fields of the model being validated that have validated so far."""

    def stricter(self, strict: bool | None) -> Mode:
        if strict is None or strict == self.strict:
            return self
        return Mode(strict=strict, json=self.json, context=self.context, data=self.data)

    def within(self, data: dict[str, Any], strict: bool) -> Mode:
        """The mode of one model's fields, whose validators read ``data``."""
        return Mode(strict=strict or self.strict, json=self.json, context=self.context, data=data)


def _fail(error_type: str, value: Any, ctx: dict[str, Any] | None = None) -> Invalid:
    return Invalid([error(error_type, value, ctx)])


def to_int(value: Any, mode: Mode) -> int:
    if type(value) is int:
        return value
    if isinstance(value, bool):  # unlike pydantic: `max_runs: true` means no number
        raise _fail("int_type", value)
    if isinstance(value, int):
        return int(value)
    if mode.strict:
        raise _fail("int_type", value)
    if isinstance(value, float):
        if math.isfinite(value) and abs(value) >= _I64:
            raise _fail("int_parsing_size", value)
        if not math.isfinite(value) or not value.is_integer():
            raise _fail("int_from_float" if math.isfinite(value) else "finite_number", value)
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if len(text) > _MOST_DIGITS:
            raise _fail("int_parsing_size", value)
        if not _INT_TEXT.fullmatch(text):
            raise _fail("int_parsing", value)
        return int(text.split(".")[0].replace("_", ""))
    raise _fail("int_type", value)


def to_float(value: Any, mode: Mode) -> float:
    if isinstance(value, float):
        return value
    if isinstance(value, bool):  # unlike pydantic, lax or strict: true is no number
        raise _fail("float_type", value)
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # beyond 1.8e308: YAML wrote 400 digits
            raise _fail("finite_number", value) from None
    if mode.strict:
        raise _fail("float_type", value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise _fail("float_parsing", value) from None
    raise _fail("float_type", value)


def to_bool(value: Any, mode: Mode) -> bool:
    if isinstance(value, bool):
        return value
    if mode.strict:
        raise _fail("bool_type", value)
    if isinstance(value, int | float):
        if value in (0, 1):
            return bool(value)
        raise _fail("bool_parsing", value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise _fail("bool_parsing", value)
    raise _fail("bool_type", value)


def to_str(value: Any, mode: Mode) -> str:
    if isinstance(value, str):
        return str(value) if isinstance(value, enum.Enum) else value
    if not mode.strict and isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            pass
    raise _fail("string_type", value)


def to_path(value: Any, mode: Mode) -> Path:
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and (not mode.strict or mode.json):
        return Path(value)
    raise _fail("path_type", value)


def to_timedelta(value: Any, mode: Mode) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not mode.strict and isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return timedelta(seconds=value)
        except (OverflowError, ValueError):  # too long, or NaN
            pass
    raise _fail("timedelta_type", value)


def to_datetime(value: Any, mode: Mode) -> datetime:
    """A time: a datetime, or written as ISO 8601 text (a date alone is its midnight)
    or as seconds since the epoch."""
    if isinstance(value, datetime):
        return value
    if mode.strict and not mode.json:
        raise _fail("datetime_type", value)
    if isinstance(value, str):
        return _parse_datetime(value)
    if not mode.strict and isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch(value, value)
    if not mode.strict and isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise _fail("datetime_type", value)


_ISO_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NOT_ISO = "expected an ISO 8601 date or time like 2026-12-01 or 2026-12-01T10:00:00Z"
_EPOCH_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def _parse_datetime(text: str) -> datetime:
    if _EPOCH_TEXT.fullmatch(text):
        return _from_epoch(float(text), text)
    candidate = text[:-1] + "+00:00" if text.endswith(("z", "Z")) else text
    if not _ISO_START.match(candidate):
        raise _fail("datetime_from_date_parsing", text, {"error": _NOT_ISO})
    try:
        return datetime.fromisoformat(candidate)
    except ValueError as exc:
        # Python's words name its own types ("not datetime.timedelta(days=1)"): say the
        # range they mean, or the shape.
        reason = str(exc)
        if "offset" in reason:
            reason = "a UTC offset must be within ±24 hours"
        elif "must be in" not in reason:
            reason = _NOT_ISO
        raise _fail("datetime_from_date_parsing", text, {"error": reason}) from None


def _from_epoch(seconds: float, value: Any) -> datetime:
    try:
        if abs(seconds) > 2e10:  # as pydantic: a number above 2e10 is milliseconds
            seconds /= 1000
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise _fail(
            "datetime_from_date_parsing", value, {"error": "the time is out of range"}
        ) from None


def expected(choices: list[Any]) -> str:
    """``'a', 'b' or 'c'``: the choices as the messages list them."""
    shown = [repr(choice.value if isinstance(choice, enum.Enum) else choice) for choice in choices]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def literal(choices: tuple[Any, ...]) -> Scalar:
    """One of ``choices``, of their type (``1`` is not ``True``)."""
    ctx = {"expected": expected(list(choices))}

    def validate(value: Any, mode: Mode) -> Any:
        del mode
        for choice in choices:
            same = type(choice) is type(value) or (
                isinstance(value, enum.Enum) and type(choice) is type(value.value)
            )
            if same and value == choice:
                return choice
        for choice in choices:  # an int 1 for a literal True is no match, 1 for 1.0 is
            if isinstance(choice, bool) or isinstance(value, bool):
                continue
            if (
                isinstance(choice, int | float)
                and isinstance(value, int | float)
                and value == choice
            ):
                return choice
        raise _fail("literal_error", value, ctx)

    return validate


def enumeration(cls: type[enum.Enum]) -> Scalar:
    """A member of ``cls``: the member itself, or (lax, or from JSON) its value."""
    members = list(cls)
    ctx = {"expected": expected(members)}

    def validate(value: Any, mode: Mode) -> Any:
        if isinstance(value, cls):
            return value
        if not mode.strict or mode.json:
            for member in members:
                if type(member.value) is type(value) and member.value == value:
                    return member
        raise _fail("enum", value, ctx)

    return validate


def anything(value: Any, mode: Mode) -> Any:
    del mode
    return value


def nothing(value: Any, mode: Mode) -> None:
    del mode
    if value is not None:
        raise _fail("none_required", value)


SCALARS: dict[Any, Scalar] = {
    int: to_int,
    float: to_float,
    bool: to_bool,
    str: to_str,
    Path: to_path,
    timedelta: to_timedelta,
    datetime: to_datetime,
    Any: anything,
    type(None): nothing,
    None: nothing,
}
