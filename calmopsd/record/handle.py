"""A connection as the record layer uses it: statements, rows as dicts, one-row inserts.

It stands where sqlite-utils' ``Database`` stood in the daemon. Only these three calls
were ever made on it, and importing sqlite-utils (with pluggy, dateutil and its plugin
scan) was 2.9 MiB of the daemon's memory. The store's connections are in autocommit mode
(``isolation_level=None``, ``connection.py``), so sqlite-utils' own transaction handling
never applied; its one setting that did, ``recursive_triggers``, is kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

Params = Sequence[Any] | Mapping[str, Any] | None
Stored = (str, int, float, bytes, type(None))  # what a column takes as it is; the rest is encoded


class Handle:
    """One connection of the store, for the record layer's statements."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        # As sqlite-utils set it on every connection: a REPLACE that deletes a row fires
        # its delete triggers, so an append-only table refuses it as it refuses a DELETE.
        conn.execute("PRAGMA recursive_triggers = ON")

    def execute(self, sql: str, params: Params = None) -> sqlite3.Cursor:
        return self.conn.execute(sql, () if params is None else params)

    def query(self, sql: str, params: Params = None) -> Iterator[dict[str, Any]]:
        """The rows of a SELECT, each a dict by column name. (sqlite-utils ran a statement
        that returns no rows under a savepoint to undo it; here it is the caller's to know.)"""
        cursor = self.execute(sql, params)
        if cursor.description is None:
            raise ValueError("query() is for statements that return rows; use execute()")
        keys = [column[0] for column in cursor.description]
        if len(set(keys)) != len(keys):
            raise ValueError(f"query() needs a name for each column, got {keys}")
        return (dict(zip(keys, row, strict=True)) for row in cursor)

    def insert(self, table: str, row: Mapping[str, Any]) -> int:
        """Insert one row of already encoded values; its rowid (every table here has an
        INTEGER PRIMARY KEY, so that is its id)."""
        for name, value in row.items():
            if not isinstance(value, Stored):
                # sqlite3 would store a datetime in its own format: codec.py's is the store's.
                raise TypeError(f"{table}.{name}: encode {type(value).__name__} first (codec.py)")
        columns = ", ".join(_quoted(name) for name in row)
        marks = ", ".join("?" for _ in row)
        cursor = self.conn.execute(
            f"INSERT INTO {_quoted(table)} ({columns}) VALUES ({marks})", list(row.values())
        )
        if cursor.lastrowid is None:
            raise sqlite3.InterfaceError(f"INSERT INTO {table} gave no rowid")
        return cursor.lastrowid


def _quoted(name: str) -> str:
    """An SQL identifier quoted, for names the code passes (never a request's text)."""
    return '"' + name.replace('"', '""') + '"'
