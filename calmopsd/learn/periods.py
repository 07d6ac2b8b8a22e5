"""The stretch of time a stability summary covers, and the one before it it is held against.

An ISO week in UTC (``2026-W49``: Monday 00:00 to the next Monday 00:00, UTC, the
scheduler's zone), or the last stretch up to now (``--since 7d``: the 7 days to now
against the 7 days before). Pure: ``now`` is a parameter, and a bad label raises
``ValueError`` with a message fit to show as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from calmopsd.config.units import parse_duration

WEEK = timedelta(weeks=1)
SHORTEST = timedelta(hours=1)
LONGEST = timedelta(days=31)  # a summary, not a history: and the read stays bounded
FIRST_YEAR, LAST_YEAR = 1970, 9998
_WEEK_LABEL = re.compile(r"(?P<year>[0-9]{4})-W(?P<week>[0-9]{2})")


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in UTC, named as a person reads it (``2026-W49``, ``7 days to …``)."""

    start: datetime
    end: datetime
    label: str
    week: str | None = None  # the ISO week's label when the period is one, else None

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end

    def previous(self) -> Period:
        """The same length just before: last week, or the 7 days before."""
        start = self.start - self.length
        if self.week is not None:
            label = week_label(start.date())
            return Period(start, self.start, label, label)
        return Period(start, self.start, f"the {_spoken(self.length)} before")


def week_label(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def iso_week(label: str) -> Period:
    """The ISO week ``label`` names (``2026-W49``); ValueError for any other text."""
    match = _WEEK_LABEL.fullmatch(label.strip())
    if match is None:
        raise ValueError(f"a week is written YYYY-Www, e.g. 2026-W49 (got {label[:40]!r})")
    year = int(match["year"])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        # The week and the one before it must both be dates Python can hold (year 1 to
        # 9999): 9999-W52 ends in year 10000. Before 1970 no calmopsd kept anything.
        raise ValueError(f"a week is from {FIRST_YEAR} to {LAST_YEAR} (got {label.strip()})")
    try:
        monday = date.fromisocalendar(year, int(match["week"]), 1)
    except ValueError:
        raise ValueError(f"{label.strip()} is not a week of the ISO calendar") from None
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    return Period(start, start + WEEK, label.strip(), label.strip())


def week_holding(moment: datetime) -> Period:
    """The ISO week ``moment`` falls in."""
    return iso_week(week_label(moment.astimezone(UTC).date()))


def last_week(now: datetime) -> Period:
    """The last whole ISO week before ``now``'s: what the weekly notice reports."""
    return week_holding(now).previous()


def since(text: str, now: datetime) -> Period:
    """The last ``text`` (``7d``, ``36h``) up to ``now``."""
    length = parse_duration(text)
    if not SHORTEST <= length <= LONGEST:
        raise ValueError(f"give between 1h and 31d (got {text.strip()[:40]!r})")
    return Period(now - length, now, f"the {_spoken(length)} to {now:%Y-%m-%d %H:%M} UTC")


def chosen(week: str | None, since_text: str | None, now: datetime) -> Period:
    """What a reader asked for: a week, a stretch up to now, or by default the last 7 days.
    A week that has not begun is refused (there is nothing in it to tell)."""
    if week is not None and since_text is not None:
        raise ValueError("give a week or since, not both")
    if week is None:
        return since(since_text or "7d", now)
    period = iso_week(week)
    if period.start > now:
        raise ValueError(f"{period.label} has not begun")
    return period


def _spoken(length: timedelta) -> str:
    if length % timedelta(days=1) == timedelta(0):
        days = length // timedelta(days=1)
        return f"{days} day{'s' if days != 1 else ''}"
    hours = length / timedelta(hours=1)
    return f"{hours:g} hour{'s' if hours != 1 else ''}"
