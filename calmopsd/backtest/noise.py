"""Which real incidents were noise: opened, but nothing needed doing.

A real incident is noise when its ending shows it needed nobody:

* ``stale_resolved`` — nothing more was heard of it for ``incidents.stale_after``;
  not proof of recovery, and no one acted on it;
* recovered within ``quick`` of opening (default 30 min: the shipped 15-minute clear
  hold included, so the breach itself lasted a quarter of an hour or less) with no
  action of calmopsd's that succeeded on it (the audit chain's ``action.executed``
  with status ``succeeded``): it went away by itself.

Anything else — resolved by a person, an action that worked, a long breach, still
unresolved, vanished — is a real incident: a rule set that does not open it *misses* it.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from calmopsd.backtest.sources import RealIncident
from calmopsd.model import Resolution

QUICK = timedelta(minutes=30)


class Noise(StrEnum):
    STALE = "stale_resolved"
    RECOVERED_QUICKLY = "recovered_quickly"


def noise_of(incident: RealIncident, quick: timedelta = QUICK) -> Noise | None:
    """The reason ``incident`` was noise, or None for a real one."""
    if incident.resolution == Resolution.STALE_RESOLVED:
        return Noise.STALE
    if incident.resolution != Resolution.RECOVERED or incident.resolved_at is None:
        return None
    if incident.helped or incident.resolved_at - incident.opened_at > quick:
        return None
    return Noise.RECOVERED_QUICKLY


def describe(quick: timedelta) -> str:
    """How noise is judged, in one sentence for the report."""
    minutes = int(quick.total_seconds() // 60)
    return (
        "A real incident counts as noise when it resolved stale (nothing heard of it for "
        f"incidents.stale_after), or recovered by itself within {minutes} min of opening "
        "with no action of calmopsd's that succeeded on it; a rule set that would not "
        "open a noise incident removes noise, one that would not open any other misses it."
    )
