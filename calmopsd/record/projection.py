"""The incidents table as the audit chain tells it: who owns each incident, what it is,
how bad, where it stands.

The chain proves its events; the ``incidents`` table is mutable state beside it. Every
change to the columns that matter — organization, fingerprint, type, severity, status,
resolution — is made together with an event that says it (open, status change, reopen,
escalation, reclassification), so the table can be checked against the chain: moving
an incident to another organization, or resolving it, by editing the table alone shows
as a mismatch. The summary, impact and evidence are derived text and are not checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

CHECKED = ("organization_id", "fingerprint", "type", "severity", "status", "resolution")
# The only events that may change a checked column through ``update_incident``.
COLUMN_EVENTS = {"type": "incident.reclassified", "severity": "incident.escalated"}


@dataclass(frozen=True)
class Mismatch:
    incident_id: int
    column: str
    stored: Any
    told: Any
    seq: int  # the event that told it (the one after the log's end for a row it never told)

    @property
    def reason(self) -> str:
        if self.column == "row":
            return f"incident {self.incident_id} {self.stored}"
        return (
            f"incident {self.incident_id}'s {self.column} is {self.stored!r} in the incidents "
            f"table, but its events say {self.told!r}"
        )


def told_by_chain(rows: Iterable[tuple[Any, ...]]) -> dict[int, tuple[dict[str, Any], int]]:
    """Each incident's checked columns as its events tell them, and the seq that told last."""
    told: dict[int, tuple[dict[str, Any], int]] = {}
    for seq, _at, incident_id, organization_id, kind, _actor, data_text, *_ in rows:
        if incident_id is None:
            continue
        data = _data(data_text)
        if kind == "incident.opened":
            told[incident_id] = (
                {
                    "organization_id": organization_id,
                    "fingerprint": data.get("fingerprint"),
                    "type": data.get("type"),
                    "severity": data.get("severity"),
                    "status": "open",
                    "resolution": None,
                },
                seq,
            )
            continue
        if incident_id not in told:
            continue
        columns, _ = told[incident_id]
        changed = _changes(kind, data)
        if changed:
            told[incident_id] = ({**columns, **changed}, seq)
    return told


def _changes(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    if kind == "incident.status_changed":
        return {"status": data.get("to"), "resolution": data.get("resolution")}
    if kind == "incident.reopened":
        return {"status": "open", "resolution": None}
    if kind == COLUMN_EVENTS["severity"]:
        return {"severity": data.get("to")}
    if kind == COLUMN_EVENTS["type"]:
        return {"type": data.get("to")}
    if kind == "incident.classified" and isinstance(data.get("type"), str):
        return {"type": data["type"]}  # how the first calmopsd set a type, and what it says
    return {}


def mismatches(rows: list[tuple[Any, ...]], incidents: Iterable[tuple[Any, ...]]) -> list[Mismatch]:
    """Where the incidents table (``id`` then the :data:`CHECKED` columns) and the chain
    disagree, by incident id; an event naming another organization than its incident's
    opening event is one too."""
    told = told_by_chain(rows)
    after = (rows[-1][0] if rows else 0) + 1
    found: list[Mismatch] = []
    stored_ids: set[int] = set()
    for incident_id, *values in incidents:
        stored_ids.add(incident_id)
        if incident_id not in told:
            what = "is in the incidents table but was never opened in the log"
            found.append(Mismatch(incident_id, "row", what, None, after))
            continue
        columns, seq = told[incident_id]
        for column, stored in zip(CHECKED, values, strict=True):
            if stored != columns[column]:
                found.append(Mismatch(incident_id, column, stored, columns[column], seq))
    for incident_id in sorted(set(told) - stored_ids):
        what = "was opened in the log but is not in the incidents table"
        found.append(Mismatch(incident_id, "row", what, None, told[incident_id][1]))
    found += _owner_changes(rows, told)
    return sorted(found, key=lambda m: (m.seq, m.incident_id))


def _owner_changes(
    rows: Iterable[tuple[Any, ...]], told: dict[int, tuple[dict[str, Any], int]]
) -> list[Mismatch]:
    owners = {incident_id: columns["organization_id"] for incident_id, (columns, _) in told.items()}
    return [
        Mismatch(incident_id, "organization_id", organization_id, owners[incident_id], seq)
        for seq, _at, incident_id, organization_id, *_ in rows
        if incident_id in owners and organization_id != owners[incident_id]
    ]


def _data(text: Any) -> dict[str, Any]:
    try:
        data = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
