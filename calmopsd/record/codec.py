"""How values are written into SQLite text columns and read back.

Timestamps are ISO-8601 UTC with microseconds (they sort as text and read well
in the sqlite3 shell); JSON is canonical (sorted keys, no spaces) so the same
content always has the same bytes, which the audit hash depends on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def encode_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def decode_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def encode_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decode_json(text: str) -> Any:
    return json.loads(text)
