"""How values are written into SQLite text columns and read back.

Timestamps are ISO-8601 UTC with microseconds (they sort as text and read well
in the sqlite3 shell), except in the table written every few seconds (raw
snapshots), where an instant is an integer of microseconds since the epoch (8
bytes instead of 32, in the row and in its index; exact both ways). JSON is
canonical (sorted keys, no spaces) so the same content always has the same
bytes, which the audit hash depends on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any


def encode_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    if moment.tzinfo is not UTC:  # most are UTC already: astimezone is the dearer half
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")


def decode_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def encode_instant(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float in between)."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return (moment - _EPOCH) // _MICROSECOND


def decode_instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


# One encoder, made once: json.dumps with any option builds a new JSONEncoder per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def encode_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def decode_json(text: str) -> Any:
    # Not orjson: it reads an integer beyond 64 bits as a float, silently.
    return json.loads(text)
