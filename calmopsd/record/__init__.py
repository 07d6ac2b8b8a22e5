"""record: the SQLite store.

Everything persistent lives here: migrations, organization scopes, the
hash-chained audit log, health snapshots and incidents. This package imports
no other stage; stages call into it with a :class:`Scope`.
"""
