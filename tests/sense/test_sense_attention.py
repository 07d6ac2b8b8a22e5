"""What needs a look is said in the journal when it begins, changes and ends: not per round."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from calmopsd.model import Reading
from calmopsd.sense.attention import Attention, saw

AT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def reading(sampler: str, values: dict[str, Any], ok: bool = True) -> Reading:
    return Reading(sampler, AT, ok, 1.0, values, None if ok else "timed out")


def test_what_each_sampler_saw_in_words() -> None:
    assert saw(reading("pm2", {"state": "not_running"})) == "PM2 not running"
    apps = {"api": {"status": "errored"}, "w": {"status": "online"}}
    assert saw(reading("pm2", {"state": "ok", "apps": apps})) == "not online: api"
    checks = {"web": {"up": False}, "api": {"up": True}}
    assert saw(reading("http", {"checks": checks})) == "1 of 2 checks down: web"
    assert saw(reading("dependencies", {"probes": {"redis": {"up": True}}})) is None
    assert saw(reading("memory", {"used_percent": 99})) is None  # rules judge figures


def test_it_is_logged_when_it_begins_changes_and_ends_only() -> None:
    attention = Attention()
    down = {"checks": {"web": {"up": False}, "api": {"up": True}}}
    both = {"checks": {"web": {"up": False}, "api": {"up": False}}}
    up = {"checks": {"web": {"up": True}, "api": {"up": True}}}
    with structlog.testing.capture_logs() as logs:
        for values in (up, down, down, both, both, up, up):
            attention.note(reading("http", values))
        attention.note(reading("http", {}, ok=False))  # a failed reading says nothing here
    assert [(e["event"], e.get("saw", e.get("was"))) for e in logs] == [
        ("sensing.attention", "1 of 2 checks down: web"),
        ("sensing.attention", "2 of 2 checks down: api, web"),
        ("sensing.attention_cleared", "2 of 2 checks down: api, web"),
    ]
    assert logs[0]["log_level"] == "warning" and logs[0]["sampler"] == "http"
