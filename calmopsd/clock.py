"""Time as a parameter.

Nothing below ``daemon.py`` reads the wall clock itself: it receives a
:class:`Clock`. Tests pass a manual clock and never sleep.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Something that says what time it is (timezone-aware, UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
