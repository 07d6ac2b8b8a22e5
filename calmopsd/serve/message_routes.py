"""The API's customer-message routes, under the same prefix, tokens and JSON errors as
the rest (registered by :func:`calmopsd.serve.app.create_app`).

``GET /messages[?incident_id=&status=]``, ``GET /messages/<id>``,
``PATCH /messages/<id>`` ``{"text"}`` (edit a draft), ``POST /messages/<id>/approve``
``{"text"?}`` (the text the approver read), ``POST /messages/<id>/discard`` ``{"note"?}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from calmopsd.record.messages import CustomerMessage, MessageDelivery, text_digest
from calmopsd.serve.bodies import Body, Query, parse_body, parse_id, parse_query
from calmopsd.serve.messages import MAX_MESSAGE, MAX_NOTE, Messages, MessageView
from calmopsd.serve.tokens import Caller
from calmopsd.serve.web import App, g, request
from calmopsd.typed import Field


class MessagesQuery(Query):
    incident_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    status: Annotated[str, Field(max_length=20)] | None = None


class EmptyQuery(Query):
    pass


class MessageEdit(Body):
    text: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE)]


class MessageApproval(Body):
    """What the approver read: its text, or its SHA-256 (one of them is required)."""

    text: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE)] | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class MessageDiscard(Body):
    note: Annotated[str, Field(max_length=MAX_NOTE)] | None = None


def register(app: App, prefix: str, messages: Messages) -> None:
    def listed() -> dict[str, Any]:
        q = parse_query(MessagesQuery, _args())
        found = messages.list(_caller(), incident_id=q.incident_id, status=q.status)
        return {"messages": [message_view(m) for m in found]}

    def one(message_id: str) -> dict[str, Any]:
        parse_query(EmptyQuery, _args())
        return shown(messages.show(_caller(), parse_id(message_id, "message")))

    def edit(message_id: str) -> dict[str, Any]:
        parse_query(EmptyQuery, _args())
        body = parse_body(MessageEdit, request.get_data(cache=True))
        return shown(messages.edit(_caller(), parse_id(message_id, "message"), body.text))

    def approve(message_id: str) -> dict[str, Any]:
        parse_query(EmptyQuery, _args())
        body = parse_body(MessageApproval, request.get_data(cache=True), optional=True)
        number = parse_id(message_id, "message")
        return shown(messages.approve(_caller(), number, body.text, body.sha256))

    def discard(message_id: str) -> dict[str, Any]:
        parse_query(EmptyQuery, _args())
        body = parse_body(MessageDiscard, request.get_data(cache=True), optional=True)
        return shown(messages.discard(_caller(), parse_id(message_id, "message"), body.note))

    for path, methods, view in (
        ("/messages", ["GET"], listed),
        ("/messages/<message_id>", ["GET"], one),
        ("/messages/<message_id>", ["PATCH"], edit),
        ("/messages/<message_id>/approve", ["POST"], approve),
        ("/messages/<message_id>/discard", ["POST"], discard),
    ):
        app.add_url_rule(
            prefix + path,
            endpoint=f"messages_{view.__name__}",
            view_func=view,
            methods=methods,
            provide_automatic_options=False,
        )


def message_view(message: CustomerMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "incident_id": message.incident_id,
        "organization_id": message.organization_id,
        "phase": message.phase,
        "component_status": message.component_status,
        "channel": message.channel,
        "audience": list(message.audience),
        "why": message.why,
        "text": message.text,
        "sha256": text_digest(message.text),
        "status": message.status.value,
        "created_at": message.created_at.isoformat(),
        "updated_at": message.updated_at.isoformat(),
        "edited_by": message.edited_by,
        "decided_by": message.decided_by,
        "decided_at": None if message.decided_at is None else message.decided_at.isoformat(),
    }


def delivery_view(delivery: MessageDelivery) -> dict[str, Any]:
    return {
        "channel": delivery.channel_name,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "ended_at": None if delivery.ended_at is None else delivery.ended_at.isoformat(),
    }


def shown(view: MessageView) -> dict[str, Any]:
    return {
        **message_view(view.message),
        "deliveries": [delivery_view(d) for d in view.deliveries],
        "leaks": view.leaks,
    }


def _caller() -> Caller:
    caller: Caller = g.caller
    return caller


def _args() -> dict[str, list[str]]:
    return {key: request.args.getlist(key) for key in request.args}
