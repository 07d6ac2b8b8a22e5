"""Actions a stop or crash cut short: an intent in the log with no result after it.

The executor writes ``action.intent`` before an action runs and
``action.executed`` after it. A daemon killed (or stopped past its budget)
in between leaves the intent alone; the next start finds it here and records
``action.interrupted``, so the timeline says what happened. The intent still
counts against the action's budget and cooldown: what was cut short may have
changed the host.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from calmopsd.model import AGENT
from calmopsd.record.audit import append_event
from calmopsd.record.codec import decode_json
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope

log = structlog.get_logger("calmopsd.act")

LOOK_BACK = 1000  # intents: only the last runs of each target can still be unfinished

_UNFINISHED = """
SELECT i.seq, i.incident_id, i.data FROM (
    SELECT seq, incident_id, data FROM incident_events
    WHERE kind = 'action.intent' ORDER BY seq DESC LIMIT ?
) AS i
WHERE NOT EXISTS (
    SELECT 1 FROM incident_events AS e
    WHERE e.seq > i.seq AND e.kind = 'action.executed' AND (
        json_extract(e.data, '$.intent_seq') = i.seq
        OR (  -- results written before they named their intent: the next one of its kind
            json_extract(e.data, '$.intent_seq') IS NULL
            AND e.incident_id IS i.incident_id
            AND json_extract(e.data, '$.action') = json_extract(i.data, '$.action')
            AND json_extract(e.data, '$.target') = json_extract(i.data, '$.target')
        )
    )
) AND NOT EXISTS (
    SELECT 1 FROM incident_events AS e
    WHERE e.kind = 'action.interrupted' AND json_extract(e.data, '$.intent_seq') = i.seq
)
ORDER BY i.seq
"""


def record_interrupted(database: Database, now: datetime) -> list[int]:
    """Record ``action.interrupted`` for every unfinished intent, in one transaction;
    the intents' sequence numbers."""
    found: list[int] = []
    with database.write() as tx:
        rows = tx.db.execute(_UNFINISHED, [LOOK_BACK]).fetchall()
        for seq, incident_id, data in rows:
            intent = decode_json(data)
            append_event(
                tx, Scope.platform(), kind="action.interrupted", actor=AGENT, at=now,
                incident_id=incident_id,
                data={"intent_seq": seq, "action": intent.get("action"),
                      "target": intent.get("target"), "params": intent.get("params", {}),
                      "detail": "calmopsd stopped while it ran; its result is not known"},
            )  # fmt: skip
            found.append(seq)
    for seq in found:
        log.warning("action.interrupted", intent_seq=seq)
    return found
