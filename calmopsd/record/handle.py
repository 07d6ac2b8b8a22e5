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

Params = Sequence[Any] | Mapping[str, Any]


class Handle:
    """One connection of the store, for the record layer's statements."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        # As sqlite-utils set it on every connection: a REPLACE that deletes a row fires
        # its delete triggers, so an append-only table refuses it as it refuses a DELETE.
        conn.execute("PRAGMA recursive_triggers = ON")

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: Params = ()) -> Iterator[dict[str, Any]]:
        """The rows of a statement that returns rows, each a dict by column name."""
        cursor = self.conn.execute(sql, params)
        if cursor.description is None:
            raise ValueError("query() is for statements that return rows; use execute()")
        keys = [column[0] for column in cursor.description]
        return (dict(zip(keys, row, strict=True)) for row in cursor)

    def insert(self, table: str, row: Mapping[str, Any]) -> int:
        """Insert one row of already encoded values; its rowid (every table here has an
        INTEGER PRIMARY KEY, so that is its id)."""
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
