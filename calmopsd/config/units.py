"""The units a config file is written in: durations (``30s``) and percents (``85%``).

Durations are strings with a unit because a bare ``30`` is ambiguous (seconds?
minutes?) and a misread interval is a silent, expensive mistake; so a bare
number is refused rather than guessed. Percents accept both ``85`` and ``"85%"``
because both are what people naturally write.

``shown`` lives here too: it renders a value the way the file would spell it
(``1h30m``, ``150`` not ``150.0``), so error messages quote values in the
user's own notation.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from calmopsd.typed import AfterValidator, BeforeValidator, Field, PlainSerializer, ValidationInfo

# Largest unit first; a compound must list its parts in this order, each once.
_UNITS: dict[str, timedelta] = {
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
# ``m(?!s)`` keeps the minutes part from swallowing the m of ``ms``.
_DURATION = re.compile(
    r"(?:(?P<d>[0-9]+)\s*d\s*)?(?:(?P<h>[0-9]+)\s*h\s*)?(?:(?P<m>[0-9]+)\s*m(?!s)\s*)?"
    r"(?:(?P<s>[0-9]+)\s*s\s*)?(?:(?P<ms>[0-9]+)\s*ms\s*)?"
)
_DURATION_HINT = "must be a duration like 30s, 5m or 24h"


def shown(value: object) -> str:
    """Render ``value`` for a message, in the notation a YAML file would use."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return str(value)


def parse_duration(text: str) -> timedelta:
    """Parse ``250ms``, ``30s``, ``5m``, ``24h``, ``7d`` or a compound such as ``1h30m``.

    Raises ``ValueError`` whose message is fit to show a user as is.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groupdict().values()):
        raise ValueError(f"{_DURATION_HINT} (got {shown(text)})")
    try:
        return sum(
            (int(count) * _UNITS[unit] for unit, count in match.groupdict().items() if count),
            timedelta(0),
        )
    except OverflowError:
        raise ValueError(f"is too long a duration (got {shown(text)})") from None


def format_duration(duration: timedelta) -> str:
    """Spell ``duration`` in its shortest canonical form: ``5400s`` → ``1h30m``, zero → ``0s``.

    The inverse of :func:`parse_duration` for whole milliseconds; anything finer
    is truncated, since the notation cannot express it. Negative durations
    have no spelling and raise ``ValueError``.
    """
    if duration < timedelta(0):
        raise ValueError(f"a negative duration has no spelling: {duration!r}")
    remaining = duration // _UNITS["ms"]
    parts: list[str] = []
    for unit, size in _UNITS.items():
        count, remaining = divmod(remaining, size // _UNITS["ms"])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


# Longer than any sensible setting, short enough that "now + it" stays a valid
# datetime for the scheduler and for retention cut-offs.
LONGEST = timedelta(days=3650)


def _to_duration(value: Any) -> Any:
    """Turn the written form into a timedelta; refuse bare numbers instead of guessing a unit."""
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, str):
        duration = parse_duration(value)
    else:
        raise ValueError(f"{_DURATION_HINT} (got {shown(value)})")
    if duration > LONGEST:
        raise ValueError(f"must be at most {format_duration(LONGEST)} (got {shown(value)})")
    return duration


def _positive(value: timedelta) -> timedelta:
    """An interval of zero would mean "always" or "spin"; neither is a useful setting."""
    if value <= timedelta(0):
        raise ValueError("must be longer than 0s")
    return value


def _to_percent(value: Any) -> Any:
    """Accept ``85``, ``85.5``, ``"85%"`` and ``"85 %"``; refuse booleans, which YAML makes easy."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            number = float(value.strip().removesuffix("%").strip())
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise ValueError(f"must be a percentage like 85 or 85% (got {shown(value)})")


Duration = Annotated[
    timedelta,
    BeforeValidator(_to_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A length of time written with a unit (``30s``); zero allowed."""

PositiveDuration = Annotated[Duration, AfterValidator(_positive)]
"""A :data:`Duration` that must be longer than zero."""

Percent = Annotated[float, BeforeValidator(_to_percent), Field(ge=0, le=100)]
"""A percentage from 0 to 100, stored as a float."""


def _not_blank(value: Any) -> Any:
    # Path("") is ".", which would quietly mean "next to the config file".
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty")
    if isinstance(value, str) and "\0" in value:
        raise ValueError("must not contain a NUL character")
    return value


def _against_config_dir(value: Path, info: ValidationInfo) -> Path:
    if value.is_absolute():
        return value
    context = info.context if isinstance(info.context, dict) else {}
    base_dir = context.get("base_dir")
    return (Path(base_dir) / value if base_dir is not None else value).absolute()


ConfigPath = Annotated[Path, BeforeValidator(_not_blank), AfterValidator(_against_config_dir)]
"""A path; a relative one is taken relative to the config file's directory."""


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


OptionalPath = Annotated[ConfigPath | None, BeforeValidator(_blank_is_none)]
"""A :data:`ConfigPath` that may be unset: null, or empty (as ``listen: ""`` is)."""

# Names of checks, probes and apps appear in logs, URLs and argv: keep them boring.
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
