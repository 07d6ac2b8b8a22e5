"""The HTTP server: waitress on the configured address (and unix socket), in a thread.

The sockets are bound here, before waitress sees them, so that a port of 0
yields a known port (:attr:`ApiServer.port`) and a bind that fails is an
``OSError`` at :meth:`ApiServer.start`, not later in a thread. The event loop
runs one short poll at a time and checks for a stop between polls, so
:meth:`ApiServer.stop` ends it from the loop's own thread (waitress's loop is
not thread-safe) within a bounded time. Each listener admits its connections by
:class:`~calmopsd.serve.connections.Limits` (a whole request within 10 s, room made
for a new connection by closing the one that has waited longest for its request) and
answers waitress's own refusals as JSON (:mod:`calmopsd.serve.transport`).
"""

from __future__ import annotations

import contextlib
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

import structlog
from waitress import wasyncore
from waitress.task import ThreadedTaskDispatcher

from calmopsd.config.api import split_listen
from calmopsd.serve.connections import Limits, open_listeners

log = structlog.get_logger("calmopsd.serve")

POLL_S = 0.2
THREADS = 8
# Bodies above the API's own 64 KiB limit get its JSON 413; this bounds what waitress
# buffers at all (above it, waitress answers 413 itself: as JSON, by serve/transport.py).
MAX_BUFFERED_BODY = 1024 * 1024
SHIPPED_LIMITS = Limits()


class ApiServer:
    """Serves a WSGI app on ``listen`` (``IP:PORT``) and/or ``unix_socket``."""

    def __init__(
        self, app: Any, *, listen: str | None, unix_socket: Path | None = None,
        limits: Limits = SHIPPED_LIMITS,
    ):  # fmt: skip
        self.app = app
        self.listen = listen
        self.unix_socket = unix_socket
        self.limits = limits
        self.port: int | None = None  # the bound TCP port, once started
        self._map: dict[int, Any] = {}
        self._workers: ThreadedTaskDispatcher | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._closing = threading.Lock()
        self._closed = False

    @property
    def url(self) -> str | None:
        if self.listen is None or self.port is None:
            return None
        host, _ = split_listen(self.listen)
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def start(self) -> None:
        """Bind and start serving; an ``OSError`` if an address cannot be bound."""
        sockets = []
        try:
            if self.listen is not None:
                sockets.append(self._tcp_socket(self.listen))
            if self.unix_socket is not None:
                sockets.append(_unix_socket(self.unix_socket))
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        self._workers = open_listeners(
            self.app, sockets, self.limits, self._map,
            threads=THREADS, max_request_body_size=MAX_BUFFERED_BODY, ident="calmopsd",
            channel_timeout=30,
        )  # fmt: skip
        self._thread = threading.Thread(target=self._serve, name="api-server", daemon=True)
        self._thread.start()
        log.info("api.listening", url=self.url, unix_socket=_shown(self.unix_socket))

    def _tcp_socket(self, listen: str) -> socket.socket:
        host, port = split_listen(listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        return sock

    def _serve(self) -> None:
        while not self._stopping.is_set():
            wasyncore.loop(timeout=POLL_S, map=self._map, use_poll=True, count=1)
        with self._closing:  # in the loop's thread: listeners, connections, the trigger
            wasyncore.close_all(self._map)
            self._closed = True

    def _wake(self) -> None:
        """Interrupt the loop's poll (waitress's trigger is a pipe in the same map).

        Never after the loop closed it: its descriptor number may belong to another
        file by then, which must not receive the trigger's byte.
        """
        with self._closing:
            if self._closed:
                return
            self._pull()

    def _pull(self) -> None:
        for dispatcher in list(self._map.values()):
            pull = getattr(dispatcher, "pull_trigger", None)
            if pull is not None:
                pull()
                return

    def stop(self, timeout_s: float = 2.0) -> bool:
        """Let running requests finish and their answers go out, for at most ``timeout_s``,
        then stop the loop and close every socket; False if something was still running.

        The workers stop first, while the loop still runs, because a worker that ends
        its request pulls the loop's trigger, which must not be closed before it.
        """
        deadline = time.monotonic() + timeout_s
        clean = True
        if self._workers is not None:
            workers = self._workers
            left = max(0.0, deadline - time.monotonic())
            workers.shutdown(cancel_pending=True, timeout=left)  # type: ignore[arg-type]  # seconds, any number
            clean = not workers.threads
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(max(0.1, deadline - time.monotonic()))
            clean = clean and not self._thread.is_alive()
        if self.unix_socket is not None:
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(self.unix_socket.lstat().st_mode):
                    self.unix_socket.unlink()
        log.info("api.stopped", clean=clean)
        return clean


def _unix_socket(path: Path) -> socket.socket:
    """A socket file at ``path`` (a stale one is replaced; any other file is left alone)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(mode):
            raise FileExistsError(f"{path} exists and is not a socket; not replacing it")
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        # Tokens are required on the socket too, so the moment before chmod gives nothing away.
        path.chmod(0o600)
    except BaseException:
        sock.close()
        raise
    return sock


def _shown(path: Path | None) -> str | None:
    return str(path) if path is not None else None
