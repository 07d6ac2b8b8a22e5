"""Cursors of the incident list: opaque to callers, strictly checked on the way back.

A cursor is the last row of a page (its ``opened_at`` and id) as URL-safe
base64 of a small JSON list. Anything that does not decode to exactly that is
refused as a request error, never passed on to the store.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

from calmopsd.errors import InvalidRequest
from calmopsd.record.pages import PageKey


def encode_cursor(key: PageKey) -> str:
    raw = json.dumps([key.opened_at, key.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> PageKey:
    bad = InvalidRequest("not a cursor this API gave out", "invalid_cursor")
    if not 0 < len(cursor) <= 200 or not cursor.isascii():
        raise bad
    try:
        # validate=True: characters outside the alphabet are an error, not skipped.
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        opened_at, key_id = json.loads(raw)
        moment = datetime.fromisoformat(opened_at)
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise bad from None
    if not isinstance(key_id, int) or isinstance(key_id, bool) or not 0 < key_id < 2**63:
        raise bad
    if moment.tzinfo is None or moment.utcoffset() != UTC.utcoffset(None):
        raise bad
    key = PageKey(opened_at, key_id)
    if encode_cursor(key) != cursor:  # only the exact text this API gave out
        raise bad
    return key
