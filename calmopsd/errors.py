"""The exception tree of calmopsd.

    CalmopsError                  base of everything calmopsd raises on purpose
    ├── ConfigError               the config cannot be read or is invalid; carries every problem
    ├── StoreError                the SQLite store cannot be used as asked
    │   ├── StoreInUse            another calmopsd (the running daemon) holds the store's lock
    │   ├── SchemaTooNewError     the database was written by a newer calmopsd
    │   └── ScopeError            a scope tried to write outside what it may touch
    ├── AuditError                the audit log cannot be appended to (head file unwritable, …)
    ├── TransitionError           an incident status change the lifecycle does not allow
    └── OperationError            a request of the API or the CLI that cannot be carried out
        ├── Unauthenticated       401  no token, or not one the API knows
        ├── InvalidRequest        400  the request itself is wrong (a bad cursor, filter, note)
        ├── Forbidden             403  the caller's role may not do this (a viewer acting)
        ├── NotFound              404  nothing by that id *that this caller may see*
        ├── Conflict              409  the state does not allow it now (transition, race, refusal)
        └── Unavailable           503  it needs the running daemon, which is not there

Anything else escaping a stage is a bug; the CLI turns CalmopsError into a
readable message and an exit code, never a traceback.
"""

from __future__ import annotations

import sqlite3


class CalmopsError(Exception):
    """Base class for errors calmopsd raises deliberately."""


class ConfigError(CalmopsError):
    """The configuration is unreadable or invalid.

    ``problems`` holds one line per problem, each already formatted as
    ``file:line: key.path: message``; ``str()`` joins them.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class StoreError(CalmopsError):
    """The store cannot do what was asked."""


class StoreClosed(StoreError, sqlite3.ProgrammingError):
    """The store was closed (or is closing): no write or read begins. Also sqlite3's
    ProgrammingError, which a closed connection raised before the store refused first:
    code that treats a closed or broken store as ``sqlite3.Error`` still does."""


class StoreInUse(StoreError):
    """Another calmopsd process holds the store's lock: the running daemon. The CLI then
    asks the daemon's API instead of writing the store itself."""


class SchemaTooNewError(StoreError):
    """The database has migrations this version does not know; refusing to touch it."""


class ScopeError(StoreError):
    """A write was attempted outside the caller's scope."""


class AuditError(CalmopsError):
    """The audit log could not be appended to or anchored."""


class TransitionError(CalmopsError):
    """An incident cannot move from its status to the one asked (e.g. resolved → monitoring)."""


class OperationError(CalmopsError):
    """A request of the HTTP API or the CLI that cannot be carried out.

    ``code`` is a short machine-readable name (``not_found``, ``invalid_transition``);
    ``status`` the HTTP status the API answers with; ``str()`` the detail for people.
    """

    code = "operation_failed"
    status = 400

    def __init__(self, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class Unauthenticated(OperationError):
    """No bearer token, or one that matches none the API knows."""

    code = "unauthorized"
    status = 401


class InvalidRequest(OperationError):
    """The request itself is wrong: a malformed cursor, an unknown filter value."""

    code = "invalid_request"
    status = 400


class Forbidden(OperationError):
    """The caller may see this, but its role may not do it (a viewer approving)."""

    code = "forbidden"
    status = 403


class NotFound(OperationError):
    """Nothing by that id that this caller may see; the same answer whether it exists elsewhere
    or not at all, so ids do not leak across organizations."""

    code = "not_found"
    status = 404


class Conflict(OperationError):
    """The current state does not allow it: a transition the lifecycle refuses, a race lost,
    an approval refused as stale or already decided."""

    code = "conflict"
    status = 409


class Unavailable(OperationError):
    """It needs the running daemon (an approval that runs an action, a health round)."""

    code = "unavailable"
    status = 503
