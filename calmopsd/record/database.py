"""The SQLite file: one writer connection taken in turns, reader connections as reads need.

Why this shape (see docs/decisions.md): with several threads each writing on
its own connection, deferred transactions fail with "database is locked"
under load; a single writer whose transactions start with ``BEGIN IMMEDIATE``
never does. Each read has a connection of its own while it lasts (WAL lets them run
beside the writer; a few are kept open between reads), opened ``query_only`` so a read
path can never write.
``synchronous=FULL`` on the writer fsyncs every commit: audit events must
survive a power cut. Writers that arrive together share one transaction, each
in a savepoint, and its one COMMIT (:mod:`.commits`, issue 16).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calmopsd.errors import StoreClosed, StoreError, StoreInUse
from calmopsd.record.anchor import reconcile_anchor
from calmopsd.record.audit import append_queued
from calmopsd.record.commits import Group, Turns
from calmopsd.record.connection import connect as connect  # re-exported (cli, tests)
from calmopsd.record.connection import os_reason as os_reason  # re-exported (daemon)
from calmopsd.record.handle import Handle
from calmopsd.record.head import AuditHead, HeadAnchor, head_path_for
from calmopsd.record.headflush import HeadFlusher
from calmopsd.record.migrations import LATEST, migrate
from calmopsd.record.queued import AppendQueue, QueuedAppend
from calmopsd.record.statedir import PRIVATE_FILE, prepare

if TYPE_CHECKING:
    from calmopsd.model import AuditEvent

DATABASE_FILE = "calmopsd.db"
# Reader connections kept open between reads: about 170 KiB each before any page is
# cached, up to READER_CACHE_KIB more. Reads beyond these at once open one for the read.
IDLE_READERS = 3


def database_path(state_dir: Path) -> Path:
    """Where the database lives inside calmopsd's state directory."""
    return state_dir / DATABASE_FILE


class Tx:
    """An open write transaction: the writer's handle plus work to do after COMMIT."""

    def __init__(self, db: Handle, anchor: HeadAnchor):
        self.db = db
        self.anchor = anchor
        self._after_commit: list[Callable[[], None]] = []
        self.appended: AuditHead | None = None  # the last event this transaction appended
        self.first_prev: str | None = None  # the hash its first event links to

    def appended_after(self, prev_hash: str, event: AuditHead) -> None:
        """Note an event appended in this transaction, linked to ``prev_hash``."""
        if self.first_prev is None:
            self.first_prev = prev_hash
        self.appended = event

    def insert(self, table: str, row: dict[str, Any]) -> int:
        """Insert one row; return its primary key."""
        return self.db.insert(table, row)

    def on_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def _committed(self) -> None:
        for callback in self._after_commit:
            callback()


def _lock_path(database: Path) -> Path:
    """The file whose flock says which calmopsd has the database open."""
    return database.with_name(database.name + ".lock")


def _lock_exclusively(lock_path: Path) -> int:
    """Hold an flock for as long as the database is open: one writing process per file.

    Two daemons on one state directory would each keep the audit head in memory
    and overwrite each other's anchor.
    """
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreInUse(f"{lock_path}: in use by another calmopsd (pid {holder})") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def holder_of(path: Path) -> str | None:
    """The pid of the calmopsd holding the database at ``path`` open, or None if none does.

    Reads the lock file without taking the lock for longer than the check.
    """
    lock_path = _lock_path(path)
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class Database:
    """calmopsd's store. Open with :meth:`open`; use :meth:`write` and :meth:`read`."""

    def __init__(self, path: Path, writer: sqlite3.Connection):
        self.path = path
        self._writer = writer
        self._writer_db = Handle(writer)
        self._turns = Turns()
        self._queue = AppendQueue()  # lone appends for the next group's COMMIT (:mod:`.queued`)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []  # every reader connection open
        self._idle: list[Handle] = []  # of those, the ones no read is using
        self._closed = False  # close() has run: no read begins
        self._readers_lock = threading.Lock()
        self.anchor = HeadAnchor(head_path_for(path), None)
        # The head's write after a COMMIT, off the writer's path (:mod:`.headflush`).
        self._flusher = HeadFlusher(lambda: self.anchor.flush(), lambda: self._turns.taken())
        self._lock_fd: int | None = None
        self.write_transactions = 0  # begun since open: what the agent's one-per-input test counts
        self.commit_groups = 0  # COMMITs since open: writers that shared one count once

    @classmethod
    def open(cls, path: Path, *, upto: int = LATEST) -> Database:
        """Open (creating if needed) and migrate the database, and check the audit anchor.

        A file that is not a database, a state directory that cannot be made or
        entered, any SQLite or OS error on the way: a :class:`StoreError` naming
        ``path``, never a traceback. The directory and calmopsd's files in it are made
        private first (:mod:`calmopsd.record.statedir`).
        """
        try:
            return cls._open(path, upto)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the database ({exc})") from exc
        except OSError as exc:
            raise StoreError(f"{path}: cannot open the database ({os_reason(exc)})") from exc

    @classmethod
    def _open(cls, path: Path, upto: int) -> Database:
        head = head_path_for(path)
        prepare(path, beside=(_lock_path(path), head, head.with_name(head.name + ".tmp")))
        lock_fd = _lock_exclusively(_lock_path(path))
        try:
            writer = connect(path)
        except BaseException:
            os.close(lock_fd)
            raise
        try:
            migrate(writer, upto=upto)
        except BaseException:
            writer.close()
            os.close(lock_fd)
            raise
        database = cls(path, writer)
        database._lock_fd = lock_fd
        try:
            with database.read() as db:
                database.anchor = reconcile_anchor(path, db)
        except BaseException:
            database.close()
            raise
        return database

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One write transaction (``BEGIN IMMEDIATE``), serialised with every other writer.

        Inside :meth:`unit` on the same thread, it joins the unit's transaction
        instead: everything one input of the agent changes commits together.
        """
        joined: Tx | None = getattr(self._local, "unit", None)
        if joined is None:
            with self._transaction() as tx:
                yield tx
            return
        # A savepoint: a write that fails half-way inside the unit is undone whole (an
        # UPDATE never stays without the audit event that should go with it), while the
        # unit's other writes stand if the caller carries on.
        name = f"write_{len(joined._after_commit)}_{id(joined) & 0xFFFF}"
        mark = len(joined._after_commit)
        appended = (joined.first_prev, joined.appended)
        self._writer.execute(f"SAVEPOINT {name}")
        try:
            yield joined
        except BaseException:
            self._writer.execute(f"ROLLBACK TO {name}")
            self._writer.execute(f"RELEASE {name}")
            del joined._after_commit[mark:]
            joined.first_prev, joined.appended = appended  # its events are undone too
            raise
        self._writer.execute(f"RELEASE {name}")

    @property
    def in_unit(self) -> bool:
        """Whether this thread is inside a :meth:`unit` (its writes join it)."""
        return getattr(self._local, "unit", None) is not None

    def append_alone(self, item: QueuedAppend) -> AuditEvent:
        """Append one event, already checked against its scope, in the next commit group;
        back once that group has committed (:mod:`.queued`). Not inside a unit."""
        try:
            if self._queue.put(item, self._turns.gathering) and not item.taken:
                with self._transaction():
                    pass  # its group's COMMIT writes the queue, this event with it
        except BaseException as exc:
            if not item.taken:  # no group has it: it was not written, and is not
                self._queue.abandon(item, exc, self._turns.gathering)
                raise
            if not isinstance(exc, Exception):
                raise  # an interrupt is the caller's; its event goes with its group
            # else its group took it and failed: it is settled with that group's error
        item.done.wait()
        if item.error is not None:
            raise item.error
        assert item.event is not None  # noqa: S101  # settled with one or the other
        return item.event

    @contextmanager
    def unit(self) -> Iterator[Tx]:
        """A unit of work: one transaction that every :meth:`write` (and :meth:`read`)
        on this thread joins until it ends, so all it changes commits at once or not
        at all. Nested units join the outer one."""
        if getattr(self._local, "unit", None) is not None:
            yield self._local.unit
            return
        with self._transaction() as tx:
            self._local.unit = tx
            try:
                yield tx
            finally:
                self._local.unit = None

    @contextmanager
    def _transaction(self) -> Iterator[Tx]:
        """One writer's transaction: a savepoint in its commit group's transaction, and
        back only once the group has committed (or failed to)."""
        group, leading = self._join()
        tx = Tx(self._writer_db, self.anchor)
        failure: BaseException | None = None
        try:
            try:
                self._writer.execute("SAVEPOINT member")
                self.write_transactions += 1
                yield tx
                self._writer.execute("RELEASE member")
                group.take(tx.first_prev, tx.appended)
            except BaseException as exc:
                failure = exc
                try:
                    self._undo(group, exc)
                except BaseException:
                    self._turns.lose(group, exc)  # its part may stand: nothing commits
                    raise
            finally:
                self._turns.leave()
        finally:
            if leading:  # whatever happened above: the others in its group wait for it
                self._commit(group)
        if not leading:
            group.done.wait()
        if failure is not None:
            raise failure
        problem = group.error or group.lost
        if problem is not None:
            if leading and problem is group.error:
                raise problem  # its own COMMIT's error, as a lone writer would see it
            reason = f"another write in its commit group failed ({problem})"
            raise StoreError(f"{self.path}: not committed: {reason}") from problem
        tx._committed()

    def _join(self) -> tuple[Group, bool]:
        """Take the writer connection; join the open group, or begin one (True)."""
        group = self._turns.enter()
        if group is not None:
            return group, False
        try:
            if self._writer.in_transaction:  # left open by a ROLLBACK that failed: again
                self._writer.execute("ROLLBACK")
            self._writer.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._turns.leave()
            self._hand_over_head()  # the flusher may have left it to this group
            raise
        return self._turns.begun(), True

    def _undo(self, group: Group, error: BaseException) -> None:
        """Undo one writer's changes, or, when its error ended the whole transaction
        (disk full, I/O error) or its part cannot be undone alone, fail the group: the
        others' changes are gone too. The group is marked lost before anything else may
        fail here, so its first writer still ends it and no writer in it waits forever."""
        if self._writer.in_transaction:
            try:
                self._writer.execute("ROLLBACK TO member")
                self._writer.execute("RELEASE member")
                return
            except sqlite3.Error:
                pass
        self._turns.lose(group, error)
        if self._writer.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the first writer tries again
                self._writer.execute("ROLLBACK")

    def _commit(self, group: Group) -> None:
        """The group's first writer commits for everyone in it: the head file names the
        group's last event before the COMMIT, and names it as the head after."""
        self._turns.seal(group)
        queued = self._queue.take()
        try:
            if group.lost is not None:  # every writer in it fails
                if self._writer.in_transaction:  # a ROLLBACK that failed in _undo
                    self._writer.execute("ROLLBACK")
            elif group.size == 0 and not queued:
                self._writer.execute("ROLLBACK")
            else:
                appended = append_queued(self._writer, queued)
                if appended is not None:
                    group.extend(*appended)
                if group.appended is not None:
                    self.anchor.expect(group.appended[1])  # where the chain ends if it commits
                # Inside the try: a failed COMMIT (deferred constraint, disk full, I/O
                # error) can leave the transaction open, and every later BEGIN would fail.
                self._writer.execute("COMMIT")
                self.commit_groups += 1
                if group.appended is not None:
                    self.anchor.advance(*group.appended)
        except BaseException as exc:
            group.error = exc
            if self._writer.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the error above is the one told
                    self._writer.execute("ROLLBACK")
        finally:
            self._turns.leave()
            group.done.set()
            self._settle(group, queued)
        # Written on the flusher's thread, unless a group already begun writes this head:
        # its own before its COMMIT if it appends, or the flush it hands over here if it
        # does not. So the file lags a committed head by one group at most.
        self._hand_over_head()

    def _settle(self, group: Group, queued: list[QueuedAppend]) -> None:
        """Tell each queued append's caller what became of it with its group."""
        problem = group.error or group.lost
        for item in queued:
            if item.error is not None or problem is None:
                item.settle(item.event, item.error)  # its own INSERT's error, or committed
                continue
            reason = f"its commit group did not commit ({problem!r})"
            item.settle(None, StoreError(f"{self.path}: not appended: {reason}"))

    def _hand_over_head(self) -> None:
        """Have the flusher write the head, if the file does not hold it yet."""
        if self.anchor.unwritten:
            self._flusher.request()

    def settle_head(self, timeout: float | None = None) -> bool:
        """Wait until the head file holds the head of every group committed so far (the
        write after a COMMIT is made on a thread of its own); False on ``timeout``."""
        return self._flusher.settle(timeout)

    @contextmanager
    def read(self) -> Iterator[Handle]:
        """A consistent read snapshot on a query-only connection of its own while it lasts.

        Inside a :meth:`unit`, reads go through the unit's transaction, so they see
        what it wrote and has not committed yet; a read inside a read on one thread
        shares its snapshot.
        """
        unit: Tx | None = getattr(self._local, "unit", None)
        if unit is not None:
            yield unit.db
            return
        current: Handle | None = getattr(self._local, "reading", None)
        if current is not None:
            yield current
            return
        db = self._take_reader()
        self._local.reading = db
        try:
            db.conn.execute("BEGIN")
            yield db
        finally:
            self._local.reading = None
            self._end_read(db)

    def _take_reader(self) -> Handle:
        """An idle reader connection, or a new one: never a wait, so no read waits for
        another thread's (issue 16: a connection per thread held 14 in the daemon)."""
        with self._readers_lock:
            self._check_open()
            if self._idle:
                return self._idle.pop()
        conn = connect(self.path, query_only=True)
        with self._readers_lock:
            if self._closed:
                conn.close()
            self._check_open()
            self._readers.append(conn)
        return Handle(conn)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"{self.path}: the store is closed")

    def _end_read(self, db: Handle) -> None:
        """End the read's snapshot and keep its connection idle, or close it if the
        snapshot cannot be ended (never handed on in a transaction) or enough are idle."""
        try:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
        except sqlite3.Error:  # ProgrammingError too: closed by close() under this read
            self._drop_reader(db)
            raise
        with self._readers_lock:
            if not self._closed and len(self._idle) < IDLE_READERS:
                self._idle.append(db)
                return
        self._drop_reader(db)

    def _drop_reader(self, db: Handle) -> None:
        with self._readers_lock:
            if db.conn in self._readers:
                self._readers.remove(db.conn)
        db.conn.close()

    @property
    def writers_waiting(self) -> int:
        """Writers waiting for the writer connection now (they will join the open group)."""
        return self._turns.waiting

    @property
    def appends_queued(self) -> int:
        """Lone appends waiting for the next group's COMMIT (:meth:`append_alone`)."""
        return len(self._queue)

    def changes(self) -> int:
        """Rows the writer connection has changed since it opened (SQLite's total_changes):
        whether a piece of work inside a unit wrote anything."""
        return self._writer.total_changes

    def schema_version(self) -> int:
        with self.read() as db:
            row = db.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def close(self) -> None:
        """Close the store once the commit group under way, if any, has committed."""
        self._flusher.close()
        self._turns.shut()  # the group under way commits; no other begins
        try:
            self.anchor.flush()
            self.anchor.close()
            self._writer.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None
        finally:
            self._turns.leave()
        with self._readers_lock:  # a reader in use is closed by its read's end, never under it
            self._closed = True
            idle, self._idle = self._idle, []
            for db in idle:
                self._readers.remove(db.conn)
        for db in idle:
            db.conn.close()
