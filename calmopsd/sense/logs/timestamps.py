"""Log timestamps → epoch minutes (UTC), and the text every line of one minute carries.

The block counter checks whole minutes at once by counting a *needle*: text
that every line of that minute holds and no line of another minute does (for
``[01/Mar/2025:13:55:`` that is plain; for epoch numbers it is the six
ten-second prefixes of the minute). Needles are derived from one line of the
minute as the log spells it, so offsets and key spacing need no guessing.
"""

from __future__ import annotations

import calendar
import re

_MONTHS = {
    m.encode(): i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_ISO = re.compile(
    rb"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::\d\d(?:[.,]\d+)?)?\s*(Z|[+-]\d\d:?\d\d)?"
)
_LOCAL = re.compile(rb"(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):\d\d ([+-])(\d\d)(\d\d)")
_EPOCH = re.compile(rb"(\d{9,13})(?:\.\d+)?")
_PLAIN_NUMBER = re.compile(rb"\d+(?:\.\d+)?")
_MS_THRESHOLD = 10**11  # larger epoch values are milliseconds (year 5138 in seconds)


def _minute(year: int, month: int, day: int, hour: int, minute: int, offset_min: int) -> int | None:
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60):
        return None
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, 0))
    except (ValueError, OverflowError):
        return None
    return seconds // 60 - offset_min


def _offset_minutes(text: bytes | None) -> int:
    if not text or text == b"Z":
        return 0
    digits = text[1:].replace(b":", b"")
    value = int(digits[:2]) * 60 + int(digits[2:4])
    return -value if text[:1] == b"-" else value


def minute_of_iso(text: bytes) -> int | None:
    """``2025-03-01T13:55:36.123Z`` / ``…+02:00`` / no offset (taken as UTC) → epoch minute."""
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    y, mo, d, h, mi, off = match.groups()
    return _minute(int(y), int(mo), int(d), int(h), int(mi), _offset_minutes(off))


def minute_of_time_local(text: bytes) -> int | None:
    """nginx ``$time_local`` (``01/Mar/2025:13:55:36 +0100``) → epoch minute."""
    match = _LOCAL.fullmatch(text)
    if match is None or match.group(2) not in _MONTHS:
        return None
    d, mon, y, h, mi, sign, oh, om = match.groups()
    offset = int(oh) * 60 + int(om)
    return _minute(
        int(y), _MONTHS[mon], int(d), int(h), int(mi), -offset if sign == b"-" else offset
    )


def minute_of_epoch(value: float) -> int | None:
    """Epoch seconds, or milliseconds when larger than 10^11, → epoch minute."""
    if value < 0 or value != value or value > 10**14:
        return None
    return int(value // (60_000 if value >= _MS_THRESHOLD else 60))


def minute_of_epoch_text(text: bytes) -> int | None:
    if _EPOCH.fullmatch(text) is None:
        return None
    return minute_of_epoch(float(text))


def time_local_needles(text: bytes) -> tuple[bytes, ...]:
    """``01/Mar/2025:13:55:36 +0100`` → ``01/Mar/2025:13:55:`` (the offset is taken as fixed)."""
    return (text[:18],)


def iso_needles(text: bytes) -> tuple[bytes, ...]:
    """``2025-03-01T13:55:36Z`` → ``2025-03-01T13:55:``."""
    return (text[:17],)


def epoch_needles(text: bytes, minute: int) -> tuple[bytes, ...]:
    """The six ten-second (or 10,000 ms) prefixes of ``minute``, spelt with ``text``'s digits;
    none for a number spelt otherwise (``1.7e9``): its run is then counted line by line."""
    if _PLAIN_NUMBER.fullmatch(text) is None:
        return ()
    digits = len(text.split(b".")[0])
    unit = 1000 if int(text.split(b".")[0]) >= _MS_THRESHOLD else 1
    first = minute * 60 * unit
    keep = digits - (4 if unit == 1000 else 1)
    return tuple(str(first + k * 10 * unit).encode()[:keep] for k in range(6))


class MinuteCache:
    """Remembers the minute of each time text seen (seconds cut off), so a busy minute's
    lines cost one dictionary look-up each instead of a parse."""

    def __init__(self) -> None:
        self._known: dict[bytes, int | None] = {}

    def time_local(self, text: bytes) -> int | None:
        key = text[:17] + text[20:]
        minute = self._known.get(key, -1)
        if minute == -1:
            minute = self._remember(key, minute_of_time_local(text))
        return minute

    def iso(self, text: bytes) -> int | None:
        key = text[:16] + text[19:].lstrip(b"0123456789.,")
        minute = self._known.get(key, -1)
        if minute == -1:
            minute = self._remember(key, minute_of_iso(text))
        return minute

    def _remember(self, key: bytes, minute: int | None) -> int | None:
        if len(self._known) >= 4096:
            self._known.clear()
        self._known[key] = minute
        return minute
