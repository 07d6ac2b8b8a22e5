"""Who is looking at a page: the session's caller, and the scope the page reads through.

Pages under ``/company/<org>/ops`` read through :func:`~calmopsd.serve.narrow.narrowed`
— another organization's id is a 404 page, as in the API — and pages under ``/ops``
are the super-admin's, across organizations (to anyone else they do not exist). What
a viewer may *do* (approve, reject, resolve) is always decided by
:class:`~calmopsd.serve.operations.Operations` on the real caller, never here.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from calmopsd.errors import NotFound
from calmopsd.serve.dashboard.sessions import Session
from calmopsd.serve.narrow import narrowed
from calmopsd.serve.tokens import Caller
from calmopsd.serve.web import g

log = structlog.get_logger("calmopsd.serve")


@dataclass(frozen=True)
class Viewer:
    caller: Caller  # who signed in: what Operations authorizes and audits
    reader: Caller  # the same, narrowed to the page's organization for reads
    organization: str | None  # the page's organization; None under /ops
    session: Session

    @property
    def base(self) -> str:
        """Where this viewer's pages are: ``/ops`` or ``/company/<org>/ops``."""
        return "/ops" if self.organization is None else f"/company/{self.organization}/ops"

    def trace(self, what: str) -> None:
        """A super-admin reading an organization's page, for reads Operations does not log."""
        if self.caller.super_admin and self.organization is not None:
            log.warning(
                "api.bypass_read", token=self.caller.name, what=what,
                organizations=[self.organization],
            )  # fmt: skip


def viewer(organization: str | None) -> Viewer:
    """The signed-in viewer of a page of ``organization`` (None: the /ops pages)."""
    caller: Caller = g.caller
    session: Session = g.session
    if organization is None:
        if not caller.super_admin:
            raise NotFound("no such page")
        return Viewer(caller, caller, None, session)
    return Viewer(caller, narrowed(caller, organization), organization, session)


def home(caller: Caller) -> str:
    """Where a caller lands after signing in."""
    if caller.super_admin:
        return "/ops/incidents"
    return f"/company/{caller.scope.organization_id}/ops/incidents"
