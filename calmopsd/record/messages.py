"""Customer messages: drafted by calmopsd, edited and approved (or discarded) by a person,
then delivered once to each channel of their audience.

A message moves ``draft`` → ``approved`` → ``sent``, or to ``discarded``, each step a
compare-and-set on its status (two racing approvals: one wins) and an audit event of
its incident: ``message.drafted``, ``message.edited``, ``message.approved`` (with the
exact text approved and by whom), ``message.discarded``, and per channel
``message.sent`` / ``message.given_up``. A delivery row per channel is made with the
approval, in its transaction; the sender sends only a message whose approval event
is in the chain with that very text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from calmopsd.model import AGENT
from calmopsd.record.audit import append_event
from calmopsd.record.codec import decode_json, decode_time, encode_json, encode_time
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope

MAX_ERROR = 300


class MessageStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SENT = "sent"
    DISCARDED = "discarded"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by the courier: a send is in flight
    SENT = "sent"
    GIVEN_UP = "given_up"
    DROPPED = "dropped"


@dataclass(frozen=True)
class CustomerMessage:
    id: int
    key: str
    incident_id: int
    organization_id: str | None
    phase: str
    component_status: str
    channel: str
    audience: tuple[str, ...]
    why: str
    text: str
    status: MessageStatus
    created_at: datetime
    updated_at: datetime
    edited_by: str | None
    decided_by: str | None
    decided_at: datetime | None


@dataclass(frozen=True)
class MessageDelivery:
    message_id: int
    channel_name: str
    incident_id: int
    organization_id: str | None
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None
    ended_at: datetime | None


@dataclass(frozen=True)
class Draft:
    """A new draft, as the drafting consumer makes it."""

    key: str
    incident_id: int
    phase: str
    component_status: str
    channel: str
    audience: tuple[str, ...]
    why: str
    text: str


_COLUMNS = (
    "id, key, incident_id, organization_id, phase, component_status, channel, audience, why, "
    "text, status, created_at, updated_at, edited_by, decided_by, decided_at"
)
_DELIVERY_COLUMNS = (
    "message_id, channel_name, incident_id, organization_id, status, attempts, created_at, "
    "next_attempt_at, last_error, ended_at"
)


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def add_draft(database: Database, draft: Draft, *, at: datetime) -> int | None:
    """Store ``draft`` (``message.drafted``); None if one with its key exists already."""
    at_text = encode_time(at)
    with database.write() as tx:
        organization_id = tx.db.execute(
            "SELECT organization_id FROM incidents WHERE id = ?", [draft.incident_id]
        ).fetchone()[0]
        cursor = tx.db.execute(
            f"""INSERT INTO customer_messages ({_COLUMNS})
                VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?, NULL, NULL, NULL)
                ON CONFLICT (key) DO NOTHING""",
            [
                draft.key, draft.incident_id, organization_id, draft.phase,
                draft.component_status, draft.channel, encode_json(list(draft.audience)),
                draft.why, draft.text, at_text, at_text,
            ],
        )  # fmt: skip
        if cursor.rowcount != 1:
            return None
        message_id = int(cursor.lastrowid or 0)
        append_event(
            tx, Scope.platform(), kind="message.drafted", actor=AGENT, at=at,
            incident_id=draft.incident_id,
            data={"message_id": message_id, "phase": draft.phase, "channel": draft.channel,
                  "audience": list(draft.audience), "text": draft.text},
        )  # fmt: skip
    return message_id


def get_message(database: Database, scope: Scope, message_id: int) -> CustomerMessage | None:
    where, params = scope.filter()
    with database.read() as db:
        row = db.execute(
            f"SELECT {_COLUMNS} FROM customer_messages WHERE id = ? AND {where}",
            [message_id, *params],
        ).fetchone()
    return None if row is None else _to_message(row)


def list_messages(
    database: Database,
    scope: Scope,
    *,
    incident_id: int | None = None,
    status: MessageStatus | None = None,
    limit: int = 100,
) -> list[CustomerMessage]:
    """The newest messages this scope may see (an organization: about its own incidents)."""
    where, params = scope.filter()
    clauses: list[str] = [where]
    values: list[Any] = list(params)
    if incident_id is not None:
        clauses.append("incident_id = ?")
        values.append(incident_id)
    if status is not None:
        clauses.append("status = ?")
        values.append(status.value)
    with database.read() as db:
        rows = db.execute(
            f"""SELECT {_COLUMNS} FROM customer_messages WHERE {" AND ".join(clauses)}
                ORDER BY id DESC LIMIT ?""",
            [*values, limit],
        ).fetchall()
    return [_to_message(row) for row in rows]


def edit_message(
    database: Database,
    scope: Scope,
    message_id: int,
    *,
    text: str,
    at: datetime,
    actor: str,
    expected_sha256: str | None = None,
) -> bool:
    """Replace a draft's text (``message.edited``); False if it is not a draft in scope, or
    (with ``expected_sha256``) its text is no longer the one the editor started from."""
    where, params = scope.filter()
    with database.write() as tx:
        row = tx.db.execute(
            f"SELECT incident_id, text FROM customer_messages WHERE id = ? AND status = 'draft' "
            f"AND {where}",
            [message_id, *params],
        ).fetchone()
        if row is None:
            return False
        if expected_sha256 is not None and text_digest(str(row[1])) != expected_sha256:
            return False
        tx.db.execute(
            """UPDATE customer_messages SET text = ?, edited_by = ?, updated_at = ?
                WHERE id = ? AND status = 'draft'""",
            [text, actor, encode_time(at), message_id],
        )
        append_event(
            tx, scope, kind="message.edited", actor=actor, at=at, incident_id=int(row[0]),
            data={"message_id": message_id, "text": text},
        )  # fmt: skip
    return True


def approve_message(
    database: Database,
    scope: Scope,
    message_id: int,
    *,
    text: str,
    channels: Sequence[str],
    at: datetime,
    actor: str,
) -> bool:
    """Approve the draft whose text is ``text`` (what the person saw), to go to
    ``channels``; False if it is no longer that draft (approved, discarded or edited
    meanwhile: compare-and-set on status and text)."""
    where, params = scope.filter()
    at_text = encode_time(at)
    with database.write() as tx:
        row = tx.db.execute(
            f"""SELECT incident_id, organization_id FROM customer_messages
                WHERE id = ? AND status = 'draft' AND text = ? AND {where}""",
            [message_id, text, *params],
        ).fetchone()
        if row is None:
            return False
        changed = tx.db.execute(
            """UPDATE customer_messages SET status = 'approved', decided_by = ?,
                    decided_at = ?, updated_at = ?
                WHERE id = ? AND status = 'draft' AND text = ?""",
            [actor, at_text, at_text, message_id, text],
        ).rowcount
        if changed != 1:
            return False
        for channel in channels:
            tx.db.execute(
                f"""INSERT INTO message_deliveries ({_DELIVERY_COLUMNS})
                    VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, NULL, NULL)""",
                [message_id, channel, row[0], row[1], at_text, at_text],
            )
        append_event(
            tx, scope, kind="message.approved", actor=actor, at=at, incident_id=int(row[0]),
            data={"message_id": message_id, "text": text, "sha256": text_digest(text),
                  "channels": list(channels)},
        )  # fmt: skip
    return True


def discard_message(
    database: Database,
    scope: Scope,
    message_id: int,
    *,
    at: datetime,
    actor: str,
    note: str | None = None,
    only_draft: bool = False,
) -> bool:
    """Discard a draft, or (unless ``only_draft``) an approved message nothing of which was
    sent or is being sent; its pending deliveries are dropped. False if it is neither (or
    not in scope)."""
    where, params = scope.filter()
    at_text = encode_time(at)
    approved_too = (
        ""
        if only_draft
        else """ OR (status = 'approved' AND NOT EXISTS (
                    SELECT 1 FROM message_deliveries
                    WHERE message_id = customer_messages.id
                      AND status IN ('sent', 'sending')))"""
    )
    with database.write() as tx:
        row = tx.db.execute(
            f"""SELECT incident_id FROM customer_messages WHERE id = ? AND {where}
                AND (status = 'draft'{approved_too})""",
            [message_id, *params],
        ).fetchone()
        if row is None:
            return False
        tx.db.execute(
            """UPDATE customer_messages SET status = 'discarded', decided_by = ?,
                    decided_at = ?, updated_at = ? WHERE id = ?""",
            [actor, at_text, at_text, message_id],
        )
        tx.db.execute(
            """UPDATE message_deliveries SET status = 'dropped', ended_at = ?,
                    last_error = 'the message was discarded'
                WHERE message_id = ? AND status = 'pending'""",
            [at_text, message_id],
        )
        append_event(
            tx, scope, kind="message.discarded", actor=actor, at=at, incident_id=int(row[0]),
            data={"message_id": message_id, "note": note},
        )  # fmt: skip
    return True


def approved_text(database: Database, message_id: int) -> str | None:
    """The text the chain says was approved for ``message_id`` (None: no approval event)."""
    with database.read() as db:
        row = db.execute(
            """SELECT json_extract(data, '$.text') FROM incident_events
                WHERE kind = 'message.approved' AND json_extract(data, '$.message_id') = ?
                ORDER BY seq DESC LIMIT 1""",
            [message_id],
        ).fetchone()
    return None if row is None else str(row[0])


def due_deliveries(database: Database, now: datetime, *, limit: int = 50) -> list[MessageDelivery]:
    """Pending deliveries due by ``now``; a channel gets an incident's messages in order
    (each the oldest pending of its channel and incident)."""
    with database.read() as db:
        rows = db.execute(
            f"""SELECT {_DELIVERY_COLUMNS} FROM message_deliveries AS d
                WHERE status = 'pending' AND next_attempt_at <= ?
                  AND NOT EXISTS (SELECT 1 FROM message_deliveries AS earlier
                      WHERE earlier.channel_name = d.channel_name
                        AND earlier.incident_id = d.incident_id
                        AND earlier.status IN ('pending', 'sending')
                        AND earlier.message_id < d.message_id)
                ORDER BY next_attempt_at, message_id LIMIT ?""",
            [encode_time(now), limit],
        ).fetchall()
    return [_to_delivery(row) for row in rows]


def list_deliveries(database: Database, message_id: int) -> list[MessageDelivery]:
    with database.read() as db:
        rows = db.execute(
            f"""SELECT {_DELIVERY_COLUMNS} FROM message_deliveries WHERE message_id = ?
                ORDER BY channel_name""",
            [message_id],
        ).fetchall()
    return [_to_delivery(row) for row in rows]


def sent_before(database: Database, incident_id: int, channel_name: str, before: int) -> bool:
    """Whether a message about ``incident_id`` older than ``before`` reached ``channel_name``."""
    with database.read() as db:
        row = db.execute(
            """SELECT 1 FROM message_deliveries WHERE incident_id = ? AND channel_name = ?
                AND status = 'sent' AND message_id < ? LIMIT 1""",
            [incident_id, channel_name, before],
        ).fetchone()
    return row is not None


def any_sent(database: Database, incident_id: int) -> bool:
    """Whether any message about ``incident_id`` reached a channel."""
    with database.read() as db:
        row = db.execute(
            "SELECT 1 FROM message_deliveries WHERE incident_id = ? AND status = 'sent' LIMIT 1",
            [incident_id],
        ).fetchone()
    return row is not None


def claim_delivery(database: Database, delivery: MessageDelivery) -> bool:
    """Take ``delivery`` for one send (``sending``): a discard cannot end the message while
    its words may be on their way; False if it is no longer pending."""
    with database.write() as tx:
        changed = tx.db.execute(
            """UPDATE message_deliveries SET status = 'sending'
                WHERE message_id = ? AND channel_name = ? AND status = 'pending'""",
            [delivery.message_id, delivery.channel_name],
        ).rowcount
    return changed == 1


def release_claims(database: Database) -> int:
    """At start: sends a stop or crash cut short are pending again (the one case a message
    can reach a channel twice; its key goes with it)."""
    with database.write() as tx:
        return int(
            tx.db.execute(
                "UPDATE message_deliveries SET status = 'pending' WHERE status = 'sending'"
            ).rowcount
        )


def end_delivery(
    database: Database,
    delivery: MessageDelivery,
    status: DeliveryStatus,
    at: datetime,
    *,
    reason: str | None = None,
) -> bool:
    """End one delivery: sent (``message.sent``), given up (``message.given_up``) or
    dropped (``message.given_up`` too, with why); the message is ``sent`` once one of its
    deliveries was and none is pending."""
    at_text = encode_time(at)
    with database.write() as tx:
        changed = tx.db.execute(
            """UPDATE message_deliveries SET status = ?, attempts = attempts + ?, ended_at = ?,
                    last_error = coalesce(?, last_error)
                WHERE message_id = ? AND channel_name = ? AND status IN ('pending', 'sending')""",
            [
                status.value, int(status is DeliveryStatus.SENT), at_text,
                None if reason is None else reason[:MAX_ERROR], delivery.message_id,
                delivery.channel_name,
            ],
        ).rowcount  # fmt: skip
        if changed != 1:
            return False
        tx.db.execute(
            """UPDATE customer_messages SET status = 'sent', updated_at = ?
                WHERE id = ? AND status = 'approved'
                  AND EXISTS (SELECT 1 FROM message_deliveries
                      WHERE message_id = ? AND status = 'sent')
                  AND NOT EXISTS (SELECT 1 FROM message_deliveries
                      WHERE message_id = ? AND status = 'pending')""",
            [at_text, delivery.message_id, delivery.message_id, delivery.message_id],
        )
        data: dict[str, Any] = {
            "message_id": delivery.message_id,
            "channel": delivery.channel_name,
            "attempts": delivery.attempts + int(status is DeliveryStatus.SENT),
        }
        if reason is not None:
            data["reason"] = reason[:MAX_ERROR]
        kind = "message.sent" if status is DeliveryStatus.SENT else "message.given_up"
        append_event(
            tx, Scope.platform(), kind=kind, actor=AGENT, at=at,
            incident_id=delivery.incident_id, data=data,
        )  # fmt: skip
    return True


def delivery_failed(
    database: Database, delivery: MessageDelivery, error: str, retry_at: datetime
) -> None:
    with database.write() as tx:
        tx.db.execute(
            """UPDATE message_deliveries SET status = 'pending', attempts = attempts + 1,
                    last_error = ?, next_attempt_at = ?
                WHERE message_id = ? AND channel_name = ? AND status IN ('pending', 'sending')""",
            [error[:MAX_ERROR], encode_time(retry_at), delivery.message_id, delivery.channel_name],
        )


def pending_for_channels_other_than(
    database: Database, kept: Iterable[str]
) -> list[MessageDelivery]:
    names = sorted(set(kept))
    outside = f"AND channel_name NOT IN ({', '.join('?' for _ in names)})" if names else ""
    with database.read() as db:
        rows = db.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM message_deliveries WHERE status = 'pending' "
            f"{outside}",
            names,
        ).fetchall()
    return [_to_delivery(row) for row in rows]


def _to_message(row: tuple[Any, ...]) -> CustomerMessage:
    return CustomerMessage(
        id=int(row[0]),
        key=row[1],
        incident_id=int(row[2]),
        organization_id=row[3],
        phase=row[4],
        component_status=row[5],
        channel=row[6],
        audience=tuple(decode_json(row[7])),
        why=row[8],
        text=row[9],
        status=MessageStatus(row[10]),
        created_at=decode_time(row[11]),
        updated_at=decode_time(row[12]),
        edited_by=row[13],
        decided_by=row[14],
        decided_at=None if row[15] is None else decode_time(row[15]),
    )


def _to_delivery(row: tuple[Any, ...]) -> MessageDelivery:
    return MessageDelivery(
        message_id=int(row[0]),
        channel_name=row[1],
        incident_id=int(row[2]),
        organization_id=row[3],
        status=DeliveryStatus(row[4]),
        attempts=int(row[5]),
        created_at=decode_time(row[6]),
        next_attempt_at=decode_time(row[7]),
        last_error=row[8],
        ended_at=None if row[9] is None else decode_time(row[9]),
    )


def delivery_counts(database: Database) -> dict[tuple[str, str], int]:
    """Deliveries by (channel, status) since the store began: what /metrics exposes."""
    with database.read() as db:
        rows = db.execute(
            "SELECT channel_name, status, count(*) FROM message_deliveries "
            "GROUP BY channel_name, status"
        ).fetchall()
    return {(str(channel), str(status)): int(count) for channel, status, count in rows}
