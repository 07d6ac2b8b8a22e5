"""Durations and percents: parsing, canonical spelling, and the round trip between them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calmopsd.config import Percent, format_duration, parse_duration
from calmopsd.typed import Model as BaseModel
from calmopsd.typed import ValidationError


class _Holder(BaseModel):
    percent: Percent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250ms", timedelta(milliseconds=250)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("90m", timedelta(minutes=90)),
        ("1d2h3m4s5ms", timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=5)),
    ],
)
def test_it_parses_durations_written_with_units(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["30", "", "s", "5y", "1.5h", "-1s", "30m1h", "1h1h", "PT1H", "３０m", "٣s"]
)
def test_it_refuses_durations_it_would_have_to_guess(text: str) -> None:
    with pytest.raises(ValueError, match=r"^must be a duration like 30s, 5m or 24h \(got '"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(seconds=5400), "1h30m"),
        (timedelta(hours=24), "1d"),
        (timedelta(0), "0s"),
        (timedelta(milliseconds=1500), "1s500ms"),
        (timedelta(days=2, seconds=1), "2d1s"),
    ],
)
def test_it_spells_durations_in_their_shortest_canonical_form(
    duration: timedelta, text: str
) -> None:
    assert format_duration(duration) == text


def test_it_truncates_below_a_millisecond_and_refuses_negative_durations() -> None:
    assert format_duration(timedelta(microseconds=1999)) == "1ms"
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))


@given(st.integers(min_value=0, max_value=10**12).map(lambda ms: timedelta(milliseconds=ms)))
def test_formatting_then_parsing_gives_back_the_same_duration(duration: timedelta) -> None:
    assert parse_duration(format_duration(duration)) == duration


_PARTS = st.fixed_dictionaries(
    {
        "d": st.integers(0, 9999),
        "h": st.integers(0, 23),
        "m": st.integers(0, 59),
        "s": st.integers(0, 59),
        "ms": st.integers(0, 999),
    }
).filter(lambda parts: any(parts.values()))


@given(_PARTS)
def test_canonical_strings_parse_and_spell_back_unchanged(parts: dict[str, int]) -> None:
    text = "".join(f"{parts[unit]}{unit}" for unit in ("d", "h", "m", "s", "ms") if parts[unit])
    assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize(
    ("written", "stored"), [(85, 85.0), (85.5, 85.5), ("85%", 85.0), ("85 %", 85.0), (0, 0.0)]
)
def test_percents_may_be_written_with_or_without_a_percent_sign(
    written: object, stored: float
) -> None:
    value = _Holder.model_validate({"percent": written}).percent
    assert (value, type(value)) == (stored, float)


@pytest.mark.parametrize("written", [True, "lots", "nan%", None, [85]])
def test_percents_refuse_what_is_not_a_number(written: object) -> None:
    with pytest.raises(ValidationError, match="must be a percentage like 85 or 85%"):
        _Holder.model_validate({"percent": written})
