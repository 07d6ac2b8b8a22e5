"""The helper's unix socket: who may connect, one request per connection, and stopping.

Every connection's peer is read with ``SO_PEERCRED`` at once: a uid other than the
allowed user's is answered with a refusal and closed before a byte of its request is
read. The socket is made ``0660``, group the allowed user's primary group (as root;
otherwise it stays ``0600``), so others cannot even connect; the peer check holds whatever the
file's mode. Each accepted connection is handled on a thread of its own, at most
:data:`MAX_REQUESTS` at a time (more are refused as busy), so a slow sender, bounded by
:data:`calmopsd.privsep.wire.REQUEST_WITHIN`, never holds up a revert.

SIGTERM or SIGINT stop accepting, let the requests being carried out finish (at most
:data:`STOP_WAIT` seconds) and remove the socket; SIGHUP calls the reload hook.
Signals arrive on a socket pair (``signal.set_wakeup_fd``), as in the daemon.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from calmopsd.act.action import Refused
from calmopsd.model import RefusalReason
from calmopsd.privsep import wire
from calmopsd.privsep.dispatch import Dispatcher

log = structlog.get_logger("calmopsd.privsep")

PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
MAX_REQUESTS = 8
STOP_WAIT = 120.0  # seconds a stop waits for requests being carried out
BACKLOG = 16
MAX_REFUSING = 4  # refusals being sent at once (each drains its client for DRAIN_WITHIN)
DRAIN_WITHIN = 1.0  # seconds a refused or answered client's leftover bytes are read
DRAIN_LIMIT = 1 << 20
_STOP = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int


def peer_of(conn: socket.socket) -> Peer:
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size)
    return Peer(*PEERCRED.unpack(raw))


class Listener:
    """The socket at ``path``, answering the uid ``allowed_uid`` only."""

    def __init__(
        self,
        path: Path,
        allowed_uid: int,
        allowed_gid: int,
        dispatcher: Dispatcher,
        *,
        request_within: float = wire.REQUEST_WITHIN,
        max_requests: int = MAX_REQUESTS,
    ) -> None:
        self.path = path
        self.allowed_uid = allowed_uid
        self.allowed_gid = allowed_gid
        self.dispatcher = dispatcher
        self.request_within = request_within
        self.max_requests = max_requests
        self.server: socket.socket | None = None
        self._inode: tuple[int, int] | None = None
        self._running: set[threading.Thread] = set()
        self._refusing = 0
        self._guard = threading.Lock()

    # -- the socket -----------------------------------------------------------------

    def open(self) -> None:
        """Bind and listen; a stale socket at ``path`` is replaced, anything else is not."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        with contextlib.suppress(FileNotFoundError):
            found = self.path.lstat()
            if not stat.S_ISSOCK(found.st_mode):
                raise OSError(f"{self.path} exists and is not a socket: not replaced")
            self.path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old_umask = os.umask(0o177)  # created 0600: nobody may connect before the chmod
        try:
            server.bind(str(self.path))
        except BaseException:
            server.close()
            raise
        finally:
            os.umask(old_umask)
        try:
            os.chown(self.path, -1, self.allowed_gid)
            self.path.chmod(0o660)
        except PermissionError:  # not root (a developer's try): it stays 0600, our uid's
            log.warning("helper.socket_group_unset", socket=str(self.path), gid=self.allowed_gid)
        server.listen(BACKLOG)
        server.setblocking(False)
        info = self.path.lstat()
        self._inode = (info.st_dev, info.st_ino)
        self.server = server

    def serve(self, wakeup: socket.socket, reload: Callable[[], None] | None = None) -> str:
        """Accept until a stop signal arrives on ``wakeup``; the signal's name."""
        assert self.server is not None, "open() first"  # noqa: S101  # a programming error
        while True:
            ready, _, _ = select.select([self.server, wakeup], [], [])
            if wakeup in ready:
                try:
                    received = wakeup.recv(64)
                except BlockingIOError:
                    received = b""
                stops = [signal.Signals(n) for n in received if n in _STOP]
                if stops:
                    return stops[-1].name
                if signal.SIGHUP in received and reload is not None:
                    reload()
            if self.server in ready:
                self._accept()

    def close(self, wait: float = STOP_WAIT) -> int:
        """Stop accepting, wait (bounded) for the requests running; how many still run."""
        if self.server is not None:
            self.server.close()
            self.server = None
        with contextlib.suppress(OSError):
            info = self.path.lstat()
            if (info.st_dev, info.st_ino) == self._inode:
                self.path.unlink()
        deadline = time.monotonic() + wait
        for thread in list(self._running):
            thread.join(max(0.0, deadline - time.monotonic()))
        return sum(t.is_alive() for t in list(self._running))

    # -- one connection -------------------------------------------------------------

    def _accept(self) -> None:
        assert self.server is not None  # noqa: S101
        try:
            conn, _ = self.server.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        conn.setblocking(True)
        peer = peer_of(conn)
        if peer.uid != self.allowed_uid:
            log.warning("helper.peer_refused", uid=peer.uid, pid=peer.pid)
            why = f"uid {peer.uid} may not use the helper: only uid {self.allowed_uid} may"
            self._refuse_peer(conn, wire.refusal(Refused(RefusalReason.NOT_ALLOWED, why)))
            return
        with self._guard:
            busy = len(self._running) >= self.max_requests
            if not busy:
                thread = threading.Thread(
                    target=self._handle, args=(conn, peer), name="helper-request", daemon=True
                )
                self._running.add(thread)
        if busy:
            why = f"{self.max_requests} requests are being carried out already"
            self._refuse_peer(conn, wire.refusal(Refused(RefusalReason.BUSY, why)))
            return
        thread.start()

    def _handle(self, conn: socket.socket, peer: Peer) -> None:
        try:
            try:
                request = wire.decode(
                    wire.read_message(conn, wire.MAX_REQUEST, self.request_within)
                )
            except (wire.WireError, OSError) as exc:
                log.warning("helper.request_refused", uid=peer.uid, pid=peer.pid, why=str(exc))
                self._reply(conn, wire.refusal(Refused(RefusalReason.BAD_PARAMETER, str(exc))))
                return
            began = time.monotonic()
            answer = self.dispatcher.answer(request)
            _logged(request, answer, peer, round(time.monotonic() - began, 3))
            self._reply(conn, answer)
        finally:
            with self._guard:
                self._running.discard(threading.current_thread())

    def _reply(self, conn: socket.socket, answer: dict[str, Any]) -> None:
        """Send the answer, then read what the client still sends (bounded) before the close:
        closing with unread bytes resets the connection, and the client loses the answer."""
        with conn, contextlib.suppress(OSError):  # the client went away: nothing to tell
            conn.settimeout(5.0)
            conn.sendall(wire.encode(answer))
            conn.shutdown(socket.SHUT_WR)
            deadline, drained = time.monotonic() + DRAIN_WITHIN, 0
            while drained < DRAIN_LIMIT and (left := deadline - time.monotonic()) > 0:
                conn.settimeout(left)
                chunk = conn.recv(1 << 16)
                if not chunk:
                    break
                drained += len(chunk)

    def _refuse_peer(self, conn: socket.socket, answer: dict[str, Any]) -> None:
        """A refused peer is answered on a thread of its own, a few at a time; past that its
        connection is closed unanswered (it may not hold up the accept loop)."""
        with self._guard:
            room = self._refusing < MAX_REFUSING
            self._refusing += room
        if not room:
            conn.close()
            return

        def reply() -> None:
            try:
                self._reply(conn, answer)
            finally:
                with self._guard:
                    self._refusing -= 1

        threading.Thread(target=reply, name="helper-refusal", daemon=True).start()


def _logged(request: dict[str, Any], answer: dict[str, Any], peer: Peer, took: float) -> None:
    facts: dict[str, Any] = {
        "op": str(request.get("op"))[:20],
        "action": str(request.get("action"))[:40],
        "pid": peer.pid,
        "duration_s": took,
    }
    refused = wire.refusal_of(answer)
    if refused is not None:
        log.warning("helper.refused", reason=refused.reason.value, detail=refused.detail, **facts)
    elif isinstance(answer.get("result"), dict):
        log.info("helper.done", ok=answer["result"].get("ok"), **facts)
    else:
        log.info("helper.done", **facts)
