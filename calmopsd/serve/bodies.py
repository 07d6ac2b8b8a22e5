"""The shapes a request may have: JSON bodies and query strings, checked before anything runs.

Models forbid unknown fields and are strict (``"5"`` is not a number, ``1`` is
not text), so a request means exactly one thing or is refused with a 400 that
says which field is wrong. Validation is calmopsd.typed's, and parsing orjson's: the
JSON parser bounds nesting, refuses invalid UTF-8 and lone surrogates, and never
raises anything but a ``ValidationError``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from calmopsd.errors import InvalidRequest, NotFound
from calmopsd.model import IncidentStatus, IncidentType, Severity
from calmopsd.serve.operations import DEFAULT_LIMIT, MAX_LIMIT, MAX_TEXT, MAX_TITLE
from calmopsd.typed import ConfigDict, Field, Model, TypeAdapter, ValidationError, field_validator

_ID = re.compile(r"[1-9][0-9]{0,17}")  # below 2**63: SQLite's INTEGER
_ORGANIZATION = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_ORGANIZATION_FIELD = Field(pattern=rf"^{_ORGANIZATION.pattern}$")


class Body(Model):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NewIncident(Body):
    title: Annotated[str, Field(min_length=1, max_length=MAX_TITLE)]
    type: IncidentType
    severity: Severity
    description: Annotated[str, Field(max_length=MAX_TEXT)] = ""
    organization: str | None = None

    @field_validator("organization")
    @classmethod
    def _an_organization(cls, value: str | None) -> str | None:
        if value is not None and not _ORGANIZATION.fullmatch(value):
            raise ValueError("must be an organization id (lowercase letters, digits, - and _)")
        return value


_B = TypeVar("_B", bound=Body)


class HealthCheck(Body):
    action: Literal["health_check"]


class StatusChange(Body):
    status: Literal["open", "monitoring", "resolved"]
    note: Annotated[str, Field(max_length=MAX_TEXT)] | None = None

    @property
    def new_status(self) -> IncidentStatus:
        return IncidentStatus(self.status)


class Approval(Body):
    """Approving takes no fields; an empty body or ``{}``."""


class Rejection(Body):
    note: Annotated[str, Field(max_length=MAX_TEXT)] | None = None


class Query(Model):
    """Query strings arrive as text: lax parsing, but no unknown or repeated keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_Q = TypeVar("_Q", bound=Query)


class IncidentsQuery(Query):
    status: IncidentStatus | None = None
    type: IncidentType | None = None
    severity: Severity | None = None
    since: datetime | None = None
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: Annotated[str, Field(max_length=200)] | None = None
    organization_id: Annotated[str, _ORGANIZATION_FIELD] | None = None

    @field_validator("since")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        """A time without a zone is UTC; one that cannot be expressed in UTC is refused."""
        if value is None:
            return None
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("is out of range") from None


class HealthQuery(Query):
    check: Literal["now"] | None = None
    organization_id: Annotated[str, _ORGANIZATION_FIELD] | None = None


class EmptyQuery(Query):
    pass


def parse_id(text: str, what: str) -> int:
    """A path id: 1 to 18 digits, no sign or leading zero; anything else is simply not found."""
    if not _ID.fullmatch(text):
        raise NotFound(f"no {what} {text[:40]!r}")
    return int(text)


def parse_body(model: type[_B], raw: bytes, *, optional: bool = False) -> _B:
    """``raw`` as ``model``; an empty body is ``{}`` when ``optional``."""
    if not raw.strip():
        if optional:
            return model.model_validate({})
        raise InvalidRequest("a JSON object is required", "invalid_json")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _refusal(exc) from None


def parse_query(model: type[_Q], args: dict[str, list[str]]) -> _Q:
    repeated = sorted(key for key, values in args.items() if len(values) > 1)
    if repeated:
        raise InvalidRequest(f"given more than once: {', '.join(repeated)}", "invalid_query")
    try:
        return model.model_validate({key: values[0] for key, values in args.items()})
    except ValidationError as exc:
        raise _refusal(exc, "invalid_query") from None


def body_kind(raw: bytes) -> str:
    """Whether a POST to the incidents collection asks for a health check or a new incident."""
    try:
        data = _OBJECT.validate_json(raw)
    except ValidationError:
        return "incident"  # the incident model then says what is wrong
    return "health_check" if "action" in data else "incident"


_OBJECT: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])


def _refusal(exc: ValidationError, fallback: str = "invalid_field") -> InvalidRequest:
    errors = exc.errors(include_url=False, include_input=False)
    if any(e["type"] == "json_invalid" for e in errors):
        return InvalidRequest(errors[0]["msg"], "invalid_json")
    code = "unknown_field" if any(e["type"] == "extra_forbidden" for e in errors) else fallback
    # A validator's own words stand alone: "must be an organization id", not "Value error, …".
    shown = "; ".join(
        f"{_where(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in errors[:5]
    )
    return InvalidRequest(shown[:500], code)


def _where(loc: tuple[str | int, ...]) -> str:
    """``note``, ``organization.id``; ``''`` for an empty key (``?=x``); ``body`` for none."""
    return ".".join(str(part) if part != "" else "''" for part in loc) if loc else "body"
