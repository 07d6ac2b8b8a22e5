"""The journal line for each incident change, written from its event.

The lines are the ones the agent wrote itself (logger ``calmopsd.agent``, same
event names, levels and fields), plus the event's ``seq``: delivery is
at-least-once, so after a crash between a line and its cursor the same line
can appear twice, and the seq tells a reader it is the same change. Every line
carries ``incident_id`` and ``organization_id``; events of other kinds write
nothing. ``incident.reopened`` no longer says ``clear_hold_s``: that is the
agent's setting, not part of the change, and the event does not hold it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from calmopsd.model import AuditEvent

log = structlog.get_logger("calmopsd.agent")

Fields = Callable[[dict[str, Any]], dict[str, Any]]

# kind → (level, the line's fields from the event's data)
LINES: Mapping[str, tuple[int, Fields]] = {
    "incident.opened": (
        logging.INFO,
        lambda d: {"fingerprint": d["fingerprint"], "type": d["type"], "severity": d["severity"]},
    ),
    "incident.status_changed": (
        logging.INFO,
        lambda d: {"status": d["to"], "resolution": d.get("resolution")},
    ),
    "incident.escalated": (logging.WARNING, lambda d: {"severity": d["to"]}),
    "incident.reopened": (logging.INFO, lambda d: {"flaps": d["flaps"]}),
    "incident.held": (logging.INFO, lambda d: {"reason": d["reason"]}),
    "recommendation.proposed": (
        logging.INFO,
        lambda d: {"recommendation_id": d["id"], "kind": d["kind"]},
    ),
}


def consume(event: AuditEvent) -> None:
    """Write the journal line for ``event`` if it is an incident change; idempotent in effect
    (a repeated line has the same seq)."""
    line = LINES.get(event.kind)
    if line is None:
        return
    level, fields = line
    log.log(
        level,
        event.kind,
        incident_id=event.incident_id,
        organization_id=event.organization_id,
        **fields(event.data),
        seq=event.seq,
    )
