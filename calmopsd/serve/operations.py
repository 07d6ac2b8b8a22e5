"""What people can do to calmopsd, for the HTTP API and the CLI alike.

Every method takes the :class:`~calmopsd.serve.tokens.Caller` and works
through its scope, so isolation is the store's, and answers with values or
one of :class:`~calmopsd.errors.OperationError`'s subclasses:

    NotFound        404  no such thing *that this caller may see* (never "forbidden":
                         another organization's ids do not leak)
    Forbidden       403  visible, but not this caller's to do: a viewer acting, an
                         organization approving a host-wide action (:mod:`.reach`)
    InvalidRequest  400  a malformed cursor, filter, note
    Conflict        409  the state does not allow it (transition, lost race, refusal)
    Unavailable     503  it needs the running daemon

Checks run in that order: visibility, then role, then the request's own sense.
Every change is an audit event whose actor is the caller's (``token:NAME``,
or ``cli:USER`` for the local CLI). A super-admin changing an organization's
incident is a *bypass*: the status or opening event says ``"bypass": true``,
and approvals, rejections and reverts (whose events other layers write) are
preceded by an ``access.bypass`` event. A super-admin reading organization
data is logged as ``api.bypass_read``.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable
from typing import Any

import structlog

from calmopsd.clock import Clock
from calmopsd.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    TransitionError,
    Unavailable,
)
from calmopsd.model import (
    CONFIG_CHANGES,
    MANUAL_FINGERPRINT,
    Incident,
    IncidentStatus,
    IncidentType,
    Reading,
    Recommendation,
    Resolution,
    Severity,
)
from calmopsd.record.actions import ActiveAction, get_active, list_active
from calmopsd.record.audit import Verdict, list_events, record_event, verify_file
from calmopsd.record.codec import decode_json
from calmopsd.record.database import Database
from calmopsd.record.incidents import (
    change_status,
    get_incident,
    list_children,
    list_incidents,
    update_incident,
)
from calmopsd.record.incidents import open_incident as store_incident
from calmopsd.record.pages import IncidentFilter, page_incidents
from calmopsd.record.recommendations import get_recommendation, list_recommendations
from calmopsd.record.scope import ORGANIZATION_ID, Scope
from calmopsd.record.snapshots import latest_snapshots
from calmopsd.respond.approvals import Decision, reject
from calmopsd.respond.lifecycle import check_transition
from calmopsd.respond.summary import manual_summary
from calmopsd.serve.answers import Health, Hooks, IncidentDetail, Page
from calmopsd.serve.cursors import decode_cursor, encode_cursor
from calmopsd.serve.reach import host_wide
from calmopsd.serve.tokens import Caller
from calmopsd.shapes import LogsValues

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_TEXT",
    "MAX_TITLE",
    "Health",
    "Hooks",
    "IncidentDetail",
    "Operations",
    "Page",
]

log = structlog.get_logger("calmopsd.serve")

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_TITLE = 200
MAX_TEXT = 4000
MANUAL = MANUAL_FINGERPRINT


class Operations:
    """The business layer over one store, and the daemon's :class:`Hooks` when it runs."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        hooks: Hooks | None = None,
        *,
        trace_reads: bool = True,
    ):
        self.database = database
        self.clock = clock
        self.hooks = hooks or Hooks()
        # False for the CLI reading the database file on this host: whoever can read the
        # file sees every organization anyway, so there is no boundary being bypassed.
        self.trace_reads = trace_reads

    # -- incidents -------------------------------------------------------------------

    def list_incidents(
        self,
        caller: Caller,
        wanted: IncidentFilter | None = None,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        """Incidents the caller may see, newest first, ``limit`` (1-200) at a time."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidRequest(f"limit must be 1-{MAX_LIMIT} (got {limit})", "invalid_limit")
        after = decode_cursor(cursor) if cursor is not None else None
        incidents, key = page_incidents(
            self.database, caller.scope, wanted or IncidentFilter(), limit=limit, after=after
        )
        self._bypass_read(caller, "incidents", [i.organization_id for i in incidents])
        return Page(incidents, encode_cursor(key) if key else None)

    def incident(self, caller: Caller, incident_id: int) -> IncidentDetail:
        """One incident with its timeline, actions and recommendations."""
        incident = self._visible(caller, incident_id)
        scope = caller.scope
        detail = IncidentDetail(
            incident,
            list_events(self.database, scope, incident_id=incident.id),
            [_action_row(row) for row in
             list_children(self.database, scope, "incident_actions", incident.id)],
            [r for r in list_recommendations(self.database, scope, incident.id)
             if _shown_to(caller, r)],
        )  # fmt: skip
        self._bypass_read(caller, "incident", [incident.organization_id])
        return detail

    def open_incident(
        self,
        caller: Caller,
        *,
        title: str,
        type: IncidentType,
        severity: Severity,
        description: str = "",
        organization: str | None = None,
    ) -> Incident:
        """A person's incident (fingerprint ``manual:UUID``), audited as ``incident.opened``.

        An organization's token opens it for its organization; a super-admin for the
        platform, or for ``organization`` (a bypass).
        """
        if organization is not None and not ORGANIZATION_ID.fullmatch(organization):
            raise InvalidRequest(f"not an organization id: {organization[:70]!r}", "invalid_field")
        owner = caller.scope.organization_id if not caller.super_admin else organization
        if organization is not None and organization != owner:
            raise NotFound(f"no organization {organization!r}")
        self._must_act(caller)
        _check_text("title", title.strip(), MAX_TITLE, required=True)
        _check_text("description", description, MAX_TEXT)

        def work() -> Incident:
            opened = store_incident(
                self.database, caller.scope, organization_id=owner,
                fingerprint=f"{MANUAL}{uuid.uuid4().hex}", type=type, severity=severity,
                title=title.strip(), description=description, at=self.clock.now(),
                actor=caller.actor, data=_bypass(caller, owner),
            )  # fmt: skip
            return self._summarize_manual(caller, opened, caller.actor)

        found: Incident = self._through_agent(None, work)
        return found

    def _summarize_manual(
        self, caller: Caller, incident: Incident, by: str, note: str | None = None
    ) -> Incident:
        """A person's incident is not the agent's: its summary is written here."""
        update_incident(
            self.database, caller.scope, incident.id, at=incident.updated_at,
            actor=caller.actor, event=None, summary=manual_summary(incident, by, note),
        )  # fmt: skip
        return self._visible(caller, incident.id)

    def change_status(
        self, caller: Caller, incident_id: int, status: IncidentStatus, note: str | None = None
    ) -> Incident:
        """A person moves the incident (validated by the lifecycle table, compare-and-set).

        Resolving needs a ``note``; the resolution is ``manual`` and the note goes into
        the event. ``stabilizing`` is calmopsd's own (an action running): refused.
        """
        incident = self._visible(caller, incident_id)
        self._must_act(caller)
        if status is IncidentStatus.STABILIZING:
            raise InvalidRequest(
                "stabilizing is set by calmopsd while an action runs", "bad_status"
            )
        if status is IncidentStatus.RESOLVED and not (note or "").strip():
            raise InvalidRequest("resolving needs a note: what was done", "note_required")
        _check_text("note", note or "", MAX_TEXT)
        try:
            check_transition(incident.status, status)
        except TransitionError as exc:
            raise Conflict(str(exc), "invalid_transition") from None
        data: dict[str, Any] = {**_bypass(caller, incident.organization_id)}
        if note:
            data["note"] = note

        def work() -> Incident:
            won = change_status(
                self.database, caller.scope, incident.id, expected=incident.status, new=status,
                at=self.clock.now(), actor=caller.actor, data=data,
                resolution=Resolution.MANUAL if status is IncidentStatus.RESOLVED else None,
            )  # fmt: skip
            if not won:
                raise Conflict("the incident changed meanwhile; read it again", "conflict")
            changed = self._visible(caller, incident.id)
            if changed.fingerprint.startswith(MANUAL):
                opened_by = next(
                    (e.actor for e in list_events(self.database, caller.scope,
                                                  incident_id=incident.id)
                     if e.kind == "incident.opened"), "a person",
                )  # fmt: skip
                return self._summarize_manual(caller, changed, opened_by, note)
            return changed

        changed: Incident = self._through_agent(incident.id, work)
        return changed

    # -- recommendations -------------------------------------------------------------

    def approve(self, caller: Caller, incident_id: int, recommendation_id: int) -> Decision:
        """Approve; a safe action runs through the daemon's executor, once, and its outcome
        is in the decision. A refusal (stale, expired, decided, lost race) is a Conflict.

        A safe action whose effect reaches the whole host (:mod:`.reach`: every one today)
        is a super-admin's to approve: an organization's operator is Forbidden, before
        anything is written, and the recommendation stays proposed."""
        incident, rec = self._recommendation(caller, incident_id, recommendation_id)
        self._must_act(caller)
        self._must_reach(caller, rec)
        approve = self.hooks.approve
        if approve is None:
            raise Unavailable("approvals are carried out by the running daemon")
        self._bypass_event(caller, incident, "approve", recommendation_id=rec.id)
        return _decided(approve(caller.scope, rec.id, caller.actor))

    def reject(
        self, caller: Caller, incident_id: int, recommendation_id: int, note: str | None = None
    ) -> Decision:
        incident, rec = self._recommendation(caller, incident_id, recommendation_id)
        self._must_act(caller)
        self._must_reach_config(caller, rec)  # a rejection of it stands for the whole host
        _check_text("note", note or "", MAX_TEXT)
        self._bypass_event(caller, incident, "reject", recommendation_id=rec.id)

        def work() -> Decision:
            return reject(self.database, caller.scope, rec.id, actor=caller.actor,
                          at=self.clock.now(), note=note)  # fmt: skip

        decision: Decision = self._through_agent(incident.id, work)
        return _decided(decision)

    # -- actions in force ------------------------------------------------------------

    def active_actions(self, caller: Caller) -> list[ActiveAction]:
        """Reversible actions in force; an organization sees those of its own incidents."""
        found = [a for a in list_active(self.database) if self._sees_action(caller, a)]
        self._bypass_read(caller, "actions", [a.organization_id for a in found])
        return found

    def revert(self, caller: Caller, active_id: int) -> str:
        """End an action in force now (the daemon's executor runs the undo)."""
        active = get_active(self.database, active_id)
        if active is None or not self._sees_action(caller, active):
            raise NotFound(f"no action in force with id {active_id}")
        self._must_act(caller)
        if not caller.super_admin:
            # Every safe action acts on the whole host (a pause stops every tenant's jobs):
            # ending one early is not one organization's call.
            raise Forbidden(
                "actions in force act on the whole host: only a super-admin may end one early"
            )
        if active.reverted_at is not None:
            raise Conflict(f"action {active_id} was already reverted", "already_reverted")
        revert = self.hooks.revert
        if revert is None:
            raise Unavailable("reverts are carried out by the running daemon")
        if caller.super_admin and active.organization_id is not None and active.incident_id:
            incident = self._visible(caller, active.incident_id)
            self._bypass_event(caller, incident, "revert", active_id=active.id)
        done, why = revert(active.id, caller.actor)
        if not done:
            raise Conflict(f"not reverted: {why}", "not_reverted")
        return why

    # -- the kill switch --------------------------------------------------------------

    def pause(self, caller: Caller) -> bool:
        """Refuse every action from now on: the flag is set and ``actions.paused`` recorded
        before this answers; False if actions were already paused."""
        return self._switch(caller, paused=True)

    def resume(self, caller: Caller) -> bool:
        """Lift the pause (``actions.resumed``); False if actions were not paused."""
        return self._switch(caller, paused=False)

    def _switch(self, caller: Caller, *, paused: bool) -> bool:
        self._must_act(caller)
        if not caller.super_admin:
            raise Forbidden(
                "the kill switch acts on the whole host: only a super-admin may pause or "
                "resume actions"
            )
        switch = self.hooks.pause if paused else self.hooks.resume
        if switch is None:
            raise Unavailable("the kill switch is thrown by the running daemon")
        return switch(caller.actor)

    # -- health and audit ------------------------------------------------------------

    def health(self, caller: Caller, *, check: bool = False) -> Health:
        """The latest readings and the caller's unresolved incidents; with ``check``, a
        sampling round runs first (and may open incidents)."""
        if check:
            self._must_act(caller)
            check_now = self.hooks.check_now
            if check_now is None:
                raise Unavailable("a health check round needs the running daemon")
            record_event(self.database, caller.scope, kind="health.check_requested",
                         actor=caller.actor, at=self.clock.now())  # fmt: skip
            check_now()
        unresolved = list_incidents(self.database, caller.scope, unresolved=True)
        self._bypass_read(caller, "health", [i.organization_id for i in unresolved])
        return Health(
            [_seen_by(caller, reading) for reading in self._readings()],
            len(unresolved),
            _count(i.severity.value for i in unresolved),
            _count(i.status.value for i in unresolved),
            check,
        )

    def verify_audit(self, caller: Caller) -> Verdict:
        """The hash chain checked end to end: the super-admin's alone (the log is the
        platform's); to an organization's token the route does not exist."""
        if not caller.super_admin:
            raise NotFound("no such route")
        return verify_file(self.database.path)

    # -- helpers ---------------------------------------------------------------------

    def _through_agent(self, incident_id: int | None, work: Callable[[], Any]) -> Any:
        """A person's change to incidents: carried out by the running daemon's agent (one
        writer of incident state, one transaction, followed at once), or here when no
        daemon runs (the CLI on the store)."""
        in_agent = self.hooks.in_agent
        return in_agent(incident_id, work) if in_agent is not None else work()

    def _visible(self, caller: Caller, incident_id: int) -> Incident:
        incident = get_incident(self.database, caller.scope, incident_id)
        if incident is None:
            raise NotFound(f"no incident {incident_id}")
        return incident

    def _recommendation(
        self, caller: Caller, incident_id: int, recommendation_id: int
    ) -> tuple[Incident, Recommendation]:
        incident = self._visible(caller, incident_id)
        rec = get_recommendation(self.database, caller.scope, recommendation_id)
        if rec is None or rec.incident_id != incident.id or not _shown_to(caller, rec):
            raise NotFound(f"no recommendation {recommendation_id} on incident {incident_id}")
        return incident, rec

    def _sees_action(self, caller: Caller, active: ActiveAction) -> bool:
        if caller.super_admin:
            return True
        if active.incident_id is None:
            return False
        return get_incident(self.database, caller.scope, active.incident_id) is not None

    def _must_act(self, caller: Caller) -> None:
        if not caller.may_act:
            raise Forbidden(f"token {caller.name!r} is a viewer: it may read, not act")

    def _must_reach_config(self, caller: Caller, rec: Recommendation) -> None:
        """A config change is the host's, shared by every organization: a super-admin's
        to decide either way (:func:`_shown_to` keeps it from others' views already)."""
        if rec.kind in CONFIG_CHANGES and not caller.super_admin:
            raise Forbidden(
                f"a {rec.kind} recommendation changes the config, which is the host's: a "
                f"super-admin must decide it (token {caller.name!r} acts for "
                f"{caller.scope.organization_id} only)",
                "super_admin_required",
            )

    def _must_reach(self, caller: Caller, rec: Recommendation) -> None:
        """An organization's operator approves only what acts on its organization alone."""
        if caller.super_admin:
            return
        self._must_reach_config(caller, rec)
        if rec.kind != "safe_action":
            return
        why = host_wide(rec.action)
        if why is not None:
            raise Forbidden(
                f"{rec.action} {why}: a super-admin must approve it "
                f"(token {caller.name!r} acts for {caller.scope.organization_id} only)",
                "super_admin_required",
            )

    def _bypass_event(self, caller: Caller, incident: Incident, operation: str, **ids: int) -> None:
        """A super-admin acting on an organization's incident leaves this trace first."""
        if not caller.super_admin or incident.organization_id is None:
            return
        record_event(
            self.database, caller.scope, kind="access.bypass", actor=caller.actor,
            at=self.clock.now(), incident_id=incident.id,
            data={"bypass": True, "operation": operation, "token": caller.name, **ids},
        )  # fmt: skip

    def _bypass_read(self, caller: Caller, what: str, owners: list[str | None]) -> None:
        organizations = sorted({o for o in owners if o is not None})
        if caller.super_admin and organizations and self.trace_reads:
            # Warning, not info: the trace must survive log.level: warning.
            log.warning(
                "api.bypass_read", token=caller.name, what=what, organizations=organizations
            )

    def _readings(self) -> list[Reading]:
        if self.hooks.latest is not None:
            return sorted(self.hooks.latest().values(), key=lambda r: r.sampler)
        return [
            Reading(s.sampler, s.taken_at, s.ok, s.duration_ms,
                    s.readings if s.ok else {}, None if s.ok else str(s.readings.get("error")))
            for s in latest_snapshots(self.database, Scope.platform())
            if s.organization_id is None
        ]  # fmt: skip


def _seen_by(caller: Caller, reading: Reading) -> Reading:
    """A reading as the caller may see it: whole for the super-admin; for an organization,
    only whether each sampler worked, and its own log rates (the host's processes, mounts
    and other organizations' traffic are not its business)."""
    if caller.super_admin:
        return reading
    own = caller.scope.organization_id or ""
    values: dict[str, Any] = {}
    if reading.sampler == "logs":
        rates = LogsValues.parse(reading.values).organizations.get(own)
        values = {"organizations": {own: rates.to_values()}} if rates is not None else {}
    return Reading(reading.sampler, reading.taken_at, reading.ok, reading.duration_ms, values,
                   None if reading.ok else "failed")  # fmt: skip


def _bypass(caller: Caller, organization_id: str | None) -> dict[str, Any]:
    return {"bypass": True} if caller.super_admin and organization_id is not None else {}


def _decided(decision: Decision) -> Decision:
    if decision.status == "not_found":
        raise NotFound(decision.detail)
    if decision.status == "refused":
        raise Conflict(decision.detail, "refused")
    return decision


def _check_text(field: str, text: str, most: int, *, required: bool = False) -> None:
    if required and not text:
        raise InvalidRequest(f"{field} must not be empty", f"invalid_{field}")
    if len(text) > most:
        raise InvalidRequest(f"{field} is longer than {most} characters", f"invalid_{field}")
    # Titles and notes end up on an operator's terminal: no control characters (escape
    # sequences, carriage returns, a newline faking a row); a description may break lines.
    allowed = "\n" if field == "description" else ""
    if any(unicodedata.category(c) in ("Cc", "Cf") and c not in allowed for c in text):
        raise InvalidRequest(f"{field} must not contain control characters", f"invalid_{field}")


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def _action_row(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "params": decode_json(row["params"]), "outcome": decode_json(row["outcome"])}


def _shown_to(caller: Caller, rec: Recommendation) -> bool:
    """A config change (alert tuning, a playbook order) is the host's: shown to
    super-admins only, with its backtest across organizations and the config's diff."""
    return caller.super_admin or rec.kind not in CONFIG_CHANGES
