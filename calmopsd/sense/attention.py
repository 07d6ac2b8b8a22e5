"""What a reading saw that needs a person's look, in words: for ``status`` and the log.

A sampler that ran is "ok" even when what it watched is down; this says what is
down (checks, probes, PM2 apps, PM2 itself), and :class:`Attention` logs it to
the journal when it begins and ends, not on every round.
"""

from __future__ import annotations

import structlog

from calmopsd.model import Reading

log = structlog.get_logger("calmopsd.sense")


def saw(reading: Reading) -> str | None:
    """What a sampler that ran saw that needs a look, or None."""
    values = reading.values
    if reading.sampler == "pm2":
        if values.get("state") not in (None, "ok"):
            return f"PM2 {str(values.get('state')).replace('_', ' ')}"
        apps = values.get("apps") or {}
        down = sorted(
            n for n, a in apps.items() if isinstance(a, dict) and a.get("status") != "online"
        )
        return f"not online: {', '.join(down)}" if down else None
    for key, what in (("checks", "check"), ("probes", "probe")):
        found = values.get(key)
        if isinstance(found, dict) and found:
            down = sorted(
                n for n, r in found.items() if isinstance(r, dict) and r.get("up") is False
            )
            if down:
                return f"{len(down)} of {len(found)} {what}s down: {', '.join(down)}"
    return None


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
