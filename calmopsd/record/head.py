"""The audit chain's head, anchored outside the database.

A hash chain shows edits, deletions and reordering, but not rows cut off its
end. So the newest ``(seq, hash)`` is kept in a small file beside the database
(:mod:`.headfile`: two checksummed slots overwritten in place, one ``fdatasync``
a write), and the daemon also logs it as ``audit.head``. ``verify-audit``
checks the chain against this anchor. An empty log is anchored at ``(0,
GENESIS)`` when the database is opened, so a missing head file always means it
was removed, never a crash between the first commit and the first head write.

Each commit group (:mod:`.commits`) writes the file before its COMMIT, naming
the group's last event as ``pending``, and once more after it, on the flusher's
thread (:mod:`.headflush`); the write before also carries any head an earlier
group had not written yet.

The anchor only ever moves forward along the chain it already anchors: if an
append does not extend the anchored head (the tail was cut, the file is
missing), the file is left as it is — it is the evidence — and an error is
logged instead.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import structlog

from calmopsd.errors import AuditError
from calmopsd.record.headfile import HeadFile, decode

log = structlog.get_logger("calmopsd.audit")


@dataclass(frozen=True)
class AuditHead:
    seq: int
    hash: str
    # The last event of a write transaction about to commit: written before its COMMIT,
    # so a crash between the commit and the head's own write leaves the chain ending
    # exactly here; a chain past the head anywhere else was not written by calmopsd.
    pending: AuditHead | None = None
    # Written by a calmopsd before ``pending`` was recorded: how far it may lag is unknown.
    unbounded: bool = False
    # The head file's other slot is damaged: the write after this one was torn (or the
    # file edited). That write came after this one's COMMIT, so the chain reaches
    # ``pending`` (docs/decisions.md, "A torn head slot does not excuse a shorter log").
    torn: bool = False


def head_path_for(database_path: Path) -> Path:
    return database_path.with_name(database_path.name + ".audit-head")


def read_head(path: Path) -> AuditHead | None:
    """The anchored head, or None when no head file exists.

    Anything else wrong with the file (unreadable, not UTF-8, not the JSON
    written here, no intact slot, a negative seq) is an :class:`AuditError`
    naming the path.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditError(
            f"{path}: cannot read the audit head file ({exc.strerror or exc})"
        ) from exc
    try:
        slotted = decode(raw)
        # One JSON document: hand-written, or an older calmopsd's.
        data, torn = slotted if slotted is not None else (json.loads(raw.decode("utf-8")), False)
    except UnicodeDecodeError as exc:
        raise AuditError(f"{path}: unreadable audit head file (not UTF-8 text)") from exc
    except ValueError as exc:
        raise AuditError(f"{path}: unreadable audit head file ({exc})") from exc
    try:
        head = replace(_from_record(data), torn=torn)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AuditError(f"{path}: unreadable audit head file ({exc})") from exc
    if head.seq < 0:
        raise AuditError(f"{path}: unreadable audit head file (negative seq {head.seq})")
    return head


def _from_record(data: Any) -> AuditHead:
    ahead = data.get("pending")
    pending = None if ahead is None else AuditHead(int(ahead["seq"]), str(ahead["hash"]))
    return AuditHead(
        seq=int(data["seq"]),
        hash=str(data["hash"]),
        pending=pending,
        unbounded="pending" not in data,
    )


def _record(head: AuditHead, pending: AuditHead | None) -> dict[str, Any]:
    ahead = None if pending is None else {"seq": pending.seq, "hash": pending.hash}
    return {"seq": head.seq, "hash": head.hash, "pending": ahead}


def write_head(path: Path, head: AuditHead, pending: AuditHead | None = None) -> None:
    """Write a whole new head file (the empty chain's anchor at open)."""
    file = HeadFile(path)
    try:
        file.create(_record(head, pending))
    finally:
        file.close()


class HeadAnchor:
    """Keeps the head file in step with commits, or stays frozen once they diverge.

    :meth:`expect` (before a COMMIT) and :meth:`advance` (right after it) run while the
    group holds the writer connection; :meth:`flush` writes what :meth:`advance` moved,
    after the connection is free for the next group (from :mod:`.headflush`'s thread),
    whose :meth:`expect` may write it first (then the flush has nothing left to do).
    """

    def __init__(
        self,
        path: Path,
        head: AuditHead | None,
        frozen_reason: str | None = None,
        *,
        on_file: bool = False,
    ):
        self.path = path
        self._file = HeadFile(path)
        self._head = head
        self._frozen_reason = frozen_reason
        self._pending: AuditHead | None = None
        # What the file holds: with ``on_file``, ``head`` as read from it, so a process that
        # appends nothing (a refused command) closes without rewriting the file.
        self._written: tuple[AuditHead, AuditHead | None] | None = (
            (head, None) if on_file and head is not None else None
        )
        self._lock = threading.Lock()

    @property
    def head(self) -> AuditHead | None:
        return self._head

    @property
    def frozen_reason(self) -> str | None:
        return self._frozen_reason

    def expect(self, pending: AuditHead) -> None:
        """Before a write transaction's COMMIT: say durably where the chain will end if it
        commits, so that a crash before the head moves leaves a lag the file accounts for."""
        with self._lock:
            if self._frozen_reason is not None or self._head is None:
                return
            self._pending = pending
            self._write(self._head)

    def advance(self, prev_hash: str, new_head: AuditHead) -> None:
        """Right after a COMMIT: take ``new_head`` if the events that end there were appended
        on top of the anchored head (in memory; :meth:`flush` writes it)."""
        with self._lock:
            if self._frozen_reason is not None:
                return
            if self._head is not None and prev_hash != self._head.hash:
                self._frozen_reason = (
                    f"event {new_head.seq} does not extend the anchored head {self._head.seq}"
                )
                log.error("audit.head_mismatch", reason=self._frozen_reason, path=str(self.path))
                return
            # The database is the truth and has committed: follow it in memory even if
            # the file cannot be written now; the next write carries it.
            self._head = new_head
            if self._pending is not None and self._pending.seq <= new_head.seq:
                self._pending = None  # reached: the transaction is all anchored

    @property
    def unwritten(self) -> bool:
        """Whether :meth:`flush` has something to write."""
        with self._lock:
            return self._needs_write()

    def flush(self) -> None:
        """Write the head :meth:`advance` took, unless the file holds it already."""
        with self._lock:
            if self._needs_write():
                assert self._head is not None  # noqa: S101  # _needs_write says so
                self._write(self._head)

    def close(self) -> None:
        """Let go of the head file (after the last :meth:`flush`)."""
        with self._lock:
            self._file.close()

    def _needs_write(self) -> bool:
        if self._frozen_reason is not None or self._head is None:
            return False
        return self._written != (self._head, self._pending)

    def _write(self, head: AuditHead) -> None:
        try:
            self._file.write(_record(head, self._pending))
        except OSError as exc:
            log.error("audit.head_write_failed", path=str(self.path), error=str(exc))
            return
        self._written = (head, self._pending)
