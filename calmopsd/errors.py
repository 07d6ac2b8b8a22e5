"""The exception tree of calmopsd.

    CalmopsError                  base of everything calmopsd raises on purpose
    ├── ConfigError               the config cannot be read or is invalid; carries every problem
    ├── StoreError                the SQLite store cannot be used as asked
    │   ├── SchemaTooNewError     the database was written by a newer calmopsd
    │   └── ScopeError            a scope tried to write outside what it may touch
    ├── AuditError                the audit log cannot be appended to (head file unwritable, …)
    └── TransitionError           an incident status change the lifecycle does not allow

Anything else escaping a stage is a bug; the CLI turns CalmopsError into a
readable message and an exit code, never a traceback.
"""

from __future__ import annotations


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


class SchemaTooNewError(StoreError):
    """The database has migrations this version does not know; refusing to touch it."""


class ScopeError(StoreError):
    """A write was attempted outside the caller's scope."""


class AuditError(CalmopsError):
    """The audit log could not be appended to or anchored."""


class TransitionError(CalmopsError):
    """An incident cannot move from its status to the one asked (e.g. resolved → monitoring)."""
