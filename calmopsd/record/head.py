"""The audit chain's head, anchored outside the database.

A hash chain shows edits, deletions and reordering, but not rows cut off its
end. So after every append the newest ``(seq, hash)`` is written to a small
file beside the database (atomically: temp file, fsync, rename), and the
daemon also logs it as ``audit.head``. ``verify-audit`` checks the chain
against this anchor. An empty log is anchored at ``(0, GENESIS)`` when the
database is opened, so a missing head file always means it was removed, never
a crash between the first commit and the first head write.

The anchor only ever moves forward along the chain it already anchors: if an
append does not extend the anchored head (the tail was cut, the file is
missing), the file is left as it is — it is the evidence — and an error is
logged instead.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import structlog

from calmopsd.errors import AuditError

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


def head_path_for(database_path: Path) -> Path:
    return database_path.with_name(database_path.name + ".audit-head")


def read_head(path: Path) -> AuditHead | None:
    """The anchored head, or None when no head file exists.

    Anything else wrong with the file (unreadable, not UTF-8, not the JSON
    written here, a negative seq) is an :class:`AuditError` naming the path.
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditError(
            f"{path}: cannot read the audit head file ({exc.strerror or exc})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise AuditError(f"{path}: unreadable audit head file (not UTF-8 text)") from exc
    try:
        data = json.loads(raw)
        ahead = data.get("pending")
        pending = None if ahead is None else AuditHead(int(ahead["seq"]), str(ahead["hash"]))
        head = AuditHead(
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            pending=pending,
            unbounded="pending" not in data,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AuditError(f"{path}: unreadable audit head file ({exc})") from exc
    if head.seq < 0:
        raise AuditError(f"{path}: unreadable audit head file (negative seq {head.seq})")
    return head


def write_head(path: Path, head: AuditHead, pending: AuditHead | None = None) -> None:
    tmp = path.with_name(path.name + ".tmp")
    ahead = None if pending is None else {"seq": pending.seq, "hash": pending.hash}
    payload = json.dumps({"seq": head.seq, "hash": head.hash, "pending": ahead}) + "\n"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a temp file left by a crash keeps its own mode through O_TRUNC
        os.write(fd, payload.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class HeadAnchor:
    """Keeps the head file in step with appends, or stays frozen once they diverge."""

    def __init__(self, path: Path, head: AuditHead | None, frozen_reason: str | None = None):
        self.path = path
        self._head = head
        self._frozen_reason = frozen_reason
        self._pending: AuditHead | None = None
        self._lock = threading.Lock()

    @property
    def head(self) -> AuditHead | None:
        return self._head

    @property
    def frozen_reason(self) -> str | None:
        return self._frozen_reason

    def expect(self, pending: AuditHead) -> None:
        """Before a write transaction's COMMIT: say where the chain will end if it commits,
        so that a crash before :meth:`advance` leaves a lag the head file accounts for."""
        with self._lock:
            if self._frozen_reason is not None or self._head is None:
                return
            self._pending = pending
            try:
                write_head(self.path, self._head, pending)
            except OSError as exc:
                log.error("audit.head_write_failed", path=str(self.path), error=str(exc))

    def advance(self, prev_hash: str, new_head: AuditHead) -> None:
        """Record ``new_head`` if the event it names was appended on top of the anchored head."""
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
            # the file cannot be written now; the next append writes it again.
            self._head = new_head
            pending = self._pending
            if pending is not None and pending.seq <= new_head.seq:
                pending = self._pending = None  # reached: the transaction is all anchored
            try:
                write_head(self.path, new_head, pending)
            except OSError as exc:
                log.error("audit.head_write_failed", path=str(self.path), error=str(exc))
