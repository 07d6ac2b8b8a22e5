"""What a reading saw that needs a person's look, in words: for ``status`` and the log.

A sampler that ran is "ok" even when what it watched is down; this says what is
down (checks, probes, PM2 apps, PM2 itself), and :class:`Attention` logs it to
the journal when it begins and ends, not on every round.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from calmopsd.model import Reading
from calmopsd.shapes import CheckResult, HttpValues, LogsValues, Pm2Values, Probe, ProbeValues

log = structlog.get_logger("calmopsd.sense")


def saw(reading: Reading, *, figures: bool = False) -> str | None:
    """What a sampler that ran saw that needs a look, or None (``figures``: with the
    figures that move every round, for ``status``; the journal's line names only)."""
    if reading.sampler == "pm2":
        return _pm2(Pm2Values.parse(reading.values))
    if reading.sampler == "http":
        return _down(HttpValues.parse(reading.values).checks, "check")
    if reading.sampler == "dependencies":
        return _down(ProbeValues.parse(reading.values).probes, "probe")
    if reading.sampler == "logs":
        return _logs(LogsValues.parse(reading.values), figures)
    return None


def _logs(logs: LogsValues, figures: bool) -> str | None:
    """Sources whose lines parse into nothing, and sources whose reading is behind."""
    unparsable = sorted(n for n, s in logs.sources.items() if s.unparsable)
    said = [f"log lines not understood: {', '.join(unparsable)}"] if unparsable else []
    behind = _behind(logs, figures)
    said += [behind] if behind else []
    return "; ".join(said) or None


def _behind(logs: LogsValues, figures: bool) -> str | None:
    """Sources whose reading is behind their files."""
    behind = sorted((n, s) for n, s in logs.sources.items() if s.behind_bytes)
    if not behind:
        return None
    if not figures:
        return f"log reading behind: {', '.join(name for name, _ in behind)}"
    said = [f"{name} {_size(s.behind_bytes)} for {s.behind_seconds:.0f} s" for name, s in behind]
    return f"log reading behind: {', '.join(said)}"


def _size(count: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def _pm2(pm2: Pm2Values) -> str | None:
    if pm2.state not in (None, "ok"):
        return f"PM2 {str(pm2.state).replace('_', ' ')}"
    down = sorted(name for name, app in pm2.apps.items() if app.status != "online")
    return f"not online: {', '.join(down)}" if down else None


def _down(found: Mapping[str, CheckResult | Probe], what: str) -> str | None:
    down = sorted(name for name, result in found.items() if result.down)
    return f"{len(down)} of {len(found)} {what}s down: {', '.join(down)}" if down else None


class Attention:
    """Logs ``sensing.attention`` when what a sampler sees needing a look changes, and
    ``sensing.attention_cleared`` when it is gone."""

    def __init__(self) -> None:
        self._said: dict[str, str] = {}

    def note(self, reading: Reading) -> None:
        if not reading.ok:
            return  # a failed reading is logged where it failed
        now = saw(reading)
        before = self._said.get(reading.sampler)
        if now == before:
            return
        if now is None:
            del self._said[reading.sampler]
            log.info("sensing.attention_cleared", sampler=reading.sampler, was=before)
        else:
            self._said[reading.sampler] = now
            log.warning("sensing.attention", sampler=reading.sampler, saw=now)
