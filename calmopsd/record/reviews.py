"""Post-incident reviews (``incident_reviews``): one per incident, drafted by calmopsd when
it resolves, edited by people.

A review holds its words (:data:`FIELDS`, plain text a person may rewrite), the figures
it was drafted from (time to detect, stabilize, resolve; the likely cause) and its
:class:`Learning` — what worked and what did not, in a form the next incident of the
same fingerprint reads (:func:`learnings_for`). A redraft (the incident reopened and
resolved again) rewrites what calmopsd wrote and keeps every field a person edited:
their words are never overwritten by calmopsd's. Every draft and edit is an audit
event (``review.drafted``, ``review.edited``) in the incident's chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from calmopsd.model import AGENT, Learning
from calmopsd.record.audit import append_event
from calmopsd.record.codec import decode_json, decode_time, encode_json, encode_time
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope

# The review's words, in the order it reads; each is editable.
FIELDS = ("timeline", "root_cause", "helped", "not_helped", "prevention", "tuning", "notes")
MAX_FIELD = 4000

_COLUMNS = (
    "incident_id, organization_id, fingerprint, status, drafted_seq, drafted_at, updated_at, "
    "edited_by, edited_fields, " + ", ".join(FIELDS) + ", figures, learning"
)


class ReviewStatus(StrEnum):
    DRAFT = "draft"  # only calmopsd's words
    EDITED = "edited"  # a person changed at least one field


@dataclass(frozen=True)
class ReviewDraft:
    """What calmopsd drafted for an incident, up to the event at ``seq``."""

    incident_id: int
    seq: int
    texts: Mapping[str, str]
    figures: Mapping[str, Any]
    learning: Learning


@dataclass(frozen=True)
class Review:
    incident_id: int
    organization_id: str | None
    fingerprint: str
    status: ReviewStatus
    drafted_seq: int
    drafted_at: datetime
    updated_at: datetime
    edited_by: str | None
    edited_fields: tuple[str, ...]
    texts: Mapping[str, str]
    figures: Mapping[str, Any]
    learning: Learning


def save_draft(database: Database, draft: ReviewDraft, *, at: datetime) -> bool:
    """Store ``draft`` (``review.drafted``); False, changing nothing, when the review
    was already drafted from this event or a later one (a redelivered event)."""
    scope = Scope.platform()
    with database.write() as tx:
        incident = tx.db.execute(
            "SELECT organization_id, fingerprint FROM incidents WHERE id = ?", [draft.incident_id]
        ).fetchone()
        if incident is None:
            return False
        row = tx.db.execute(
            "SELECT drafted_seq, edited_fields FROM incident_reviews WHERE incident_id = ?",
            [draft.incident_id],
        ).fetchone()
        if row is not None and row[0] >= draft.seq:
            return False
        kept = _texts(decode_json(row[1])) if row is not None else ()
        texts = {name: draft.texts.get(name, "") for name in FIELDS if name not in kept}
        values: dict[str, Any] = {
            "organization_id": incident[0], "fingerprint": incident[1],
            "drafted_seq": draft.seq, "drafted_at": encode_time(at), "updated_at": encode_time(at),
            "figures": encode_json(dict(draft.figures)),
            "learning": encode_json(draft.learning.to_values()), **texts,
        }  # fmt: skip
        if row is None:
            values = {"incident_id": draft.incident_id, "status": ReviewStatus.DRAFT, **values}
            names = ", ".join(values)
            marks = ", ".join("?" for _ in values)
            tx.db.execute(
                f"INSERT INTO incident_reviews ({names}) VALUES ({marks})", [*values.values()]
            )
        else:
            sets = ", ".join(f"{name} = ?" for name in values)
            tx.db.execute(
                f"UPDATE incident_reviews SET {sets} WHERE incident_id = ?",
                [*values.values(), draft.incident_id],
            )
        append_event(
            tx, scope, kind="review.drafted", actor=AGENT, at=at, incident_id=draft.incident_id,
            data={"upto_seq": draft.seq, "redrafted": row is not None, "kept": list(kept),
                  "figures": dict(draft.figures)},
        )  # fmt: skip
    return True


def get_review(database: Database, scope: Scope, incident_id: int) -> Review | None:
    """The review of an incident this scope can see; None when there is none (yet)."""
    where, params = scope.filter()
    with database.read() as db:
        row = db.execute(
            f"SELECT {_COLUMNS} FROM incident_reviews WHERE incident_id = ? AND {where}",
            [incident_id, *params],
        ).fetchone()
    return _to_review(row) if row is not None else None


def edit_review(
    database: Database,
    scope: Scope,
    incident_id: int,
    changes: Mapping[str, str],
    *,
    at: datetime,
    actor: str,
) -> bool:
    """Replace the ``changes`` fields (``review.edited``, with the new words); False when
    there is no review of that incident in scope. Callers check names and lengths."""
    unknown = set(changes) - set(FIELDS)
    if unknown or not changes:
        raise ValueError(f"not review fields: {sorted(unknown) or 'none given'}")
    where, params = scope.filter()
    with database.write() as tx:
        row = tx.db.execute(
            f"SELECT edited_fields FROM incident_reviews WHERE incident_id = ? AND {where}",
            [incident_id, *params],
        ).fetchone()
        if row is None:
            return False
        edited = sorted(set(_texts(decode_json(row[0]))) | set(changes))
        sets = ", ".join(f"{name} = ?" for name in changes)
        tx.db.execute(
            f"""UPDATE incident_reviews SET {sets}, status = 'edited', edited_by = ?,
                updated_at = ?, edited_fields = ? WHERE incident_id = ?""",
            [*changes.values(), actor, encode_time(at), encode_json(edited), incident_id],
        )
        append_event(
            tx, scope, kind="review.edited", actor=actor, at=at, incident_id=incident_id,
            data={"fields": sorted(changes), "changes": dict(changes)},
        )  # fmt: skip
    return True


def learnings_for(
    database: Database,
    *,
    organization_id: str | None,
    fingerprint: str,
    before: int | None = None,
    limit: int = 3,
) -> list[Learning]:
    """What the latest ``limit`` reviewed incidents of one problem (fingerprint, in its
    organization) taught, newest first; ``before``: only incidents older than that id."""
    with database.read() as db:
        rows = db.execute(
            """SELECT incident_id, learning FROM incident_reviews
                WHERE fingerprint = ? AND organization_id IS ? AND incident_id < ?
                ORDER BY incident_id DESC LIMIT ?""",
            [fingerprint, organization_id, before if before is not None else 2**62, limit],
        ).fetchall()
    return [Learning.parse(int(r[0]), decode_json(r[1])) for r in rows]


def _to_review(row: tuple[Any, ...]) -> Review:
    incident_id, organization_id, fingerprint, status, seq, drafted, updated, by, edited = row[:9]
    texts = dict(zip(FIELDS, row[9 : 9 + len(FIELDS)], strict=True))
    figures, learning = row[9 + len(FIELDS) :]
    return Review(
        incident_id=incident_id, organization_id=organization_id, fingerprint=fingerprint,
        status=ReviewStatus(status), drafted_seq=seq, drafted_at=decode_time(drafted),
        updated_at=decode_time(updated), edited_by=by, edited_fields=_texts(decode_json(edited)),
        texts=texts, figures=decode_json(figures),
        learning=Learning.parse(incident_id, decode_json(learning)),
    )  # fmt: skip


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()
