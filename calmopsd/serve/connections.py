"""Who holds a connection to the API, and how long a client may take to ask.

waitress bounds a connection only by idleness (``channel_timeout``: any byte from the
client starts it again) and all of them by one count over its whole socket map
(``connection_limit``), past which it stops accepting. So a local process that opens
about a hundred connections and sends half a request on each, a byte now and then,
keeps every operator and the CLI out. Each listener here admits connections itself:

- A connection must deliver each whole request, head and body, within
  :attr:`Limits.receive_s` of being accepted or of its previous answer going out,
  however it trickles bytes; past that it is closed (looked at every ``CHECK_S``).
- A listener holds at most :attr:`Limits.connections`, one client address at most
  :attr:`Limits.per_client`. A new connection over either limit takes the place of the
  connection that has waited longest for its request — of that client, when it is that
  client's limit: one idle or half-sent, never one whose request is being answered or
  whose answer is still going out. Only when every connection is busy does a listener
  stop accepting until one ends (waitress's own behaviour), or refuse a client at its
  own limit. A client that sends its request at once therefore always gets in, however
  many half-sent connections others hold.

Each listener counts its own connections (waitress counts the shared map), so a flood
of the TCP port leaves the unix socket's room alone. Everything here runs on the
server's loop thread except :meth:`Channel.service`, on a worker.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import structlog
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, TcpWSGIServer, UnixWSGIServer
from waitress.task import ThreadedTaskDispatcher

from calmopsd.serve.transport import JsonErrorTask

if TYPE_CHECKING:
    from socket import _RetAddress  # typeshed's alias: an address as accept() gives it

log = structlog.get_logger("calmopsd.serve")

CHECK_S = 0.5  # how often a listener looks for connections past their time


@dataclass(frozen=True)
class Limits:
    """How many connections a listener holds, and how long each may take to send a request."""

    receive_s: float = 10.0
    connections: int = 100
    per_client: int = 32


class Channel(HTTPChannel):
    """waitress's connection, knowing since when it waits for a request (and JSON errors)."""

    error_task_class = JsonErrorTask

    def __init__(
        self, server: BaseWSGIServer, sock: socket.socket, addr: _RetAddress,
        adj: Adjustments, map: Any = None,
    ) -> None:  # fmt: skip
        self.client = str(addr[0])
        # Monotonic time since this connection waits for its next request. The worker
        # answering one sets it to infinity first and to now once the answer is handed
        # over, so the moment between its taking the request off the list and its end
        # never reads as a long wait.
        self.waiting_since = time.monotonic()
        super().__init__(server, sock, addr, adj, map)

    def service(self) -> None:
        self.waiting_since = math.inf
        try:
            super().service()
        finally:
            self.waiting_since = time.monotonic()

    def handle_write(self) -> None:
        pending = self.total_outbufs_len
        super().handle_write()
        if pending and not self.total_outbufs_len and not self.requests:
            self.waiting_since = time.monotonic()  # its answer went out just now

    def waiting(self) -> float | None:
        """Since when this connection waits for (the rest of) a request; None while it has
        a request in hand or an answer to send, or is already being closed."""
        if self.will_close or self.requests or self.total_outbufs_len:
            return None
        return self.waiting_since


@dataclass
class Shed:
    """Connections a listener closed to keep room, since it last said so."""

    evicted: int = 0
    timed_out: int = 0
    refused: int = 0

    def tell(self, listener: str) -> None:
        if self.evicted or self.timed_out or self.refused:
            log.warning("api.connections_shed", listener=listener, evicted=self.evicted,
                        timed_out=self.timed_out, refused=self.refused)  # fmt: skip
            self.evicted = self.timed_out = self.refused = 0


class _Admitting(BaseWSGIServer):
    """A waitress listener that makes room for a new connection (see the module)."""

    channel_class = Channel

    def setup(self, limits: Limits, name: str) -> None:
        self.limits = limits
        self.name = name
        self.shed = Shed()
        self.next_check = 0.0

    def channels(self) -> list[Channel]:
        """This listener's connections, but those already being closed."""
        every = cast(dict[int, Channel], self.active_channels)  # a dict, whatever the stubs say
        return [c for c in every.values() if not c.will_close]

    def readable(self) -> bool:
        if time.monotonic() >= self.next_check:
            self.next_check = time.monotonic() + CHECK_S
            self.maintenance(int(time.time()))  # waitress's clock, the wall's
        if not self.accepting:
            return False
        channels = self.channels()
        return len(channels) < self.limits.connections or _longest_waiting(channels) is not None

    def maintenance(self, now: int) -> None:
        super().maintenance(now)  # waitress's channel_timeout: idle with nothing to do
        cutoff = time.monotonic() - self.limits.receive_s
        for channel in self.channels():
            since = channel.waiting()
            if since is not None and since < cutoff:
                channel.will_close = True  # closed by the loop, as waitress closes its own
                self.shed.timed_out += 1
        self.shed.tell(self.name)

    def handle_accept(self) -> None:
        try:
            accepted = self.accept()
            if accepted is None:
                return
            conn, addr = accepted
            self.set_socket_options(conn)
        except OSError:
            return  # gone before it was taken, as waitress tolerates
        addr = self.fix_addr(addr)
        if not self._make_room(str(addr[0])):
            conn.close()
            self.shed.refused += 1
            return
        self.channel_class(self, conn, addr, self.adj, map=self._map)  # type: ignore[attr-defined]  # dispatcher's map

    def _make_room(self, client: str) -> bool:
        channels = self.channels()
        own = [c for c in channels if c.client == client]
        if len(own) >= self.limits.per_client:
            return self._evict(own)
        if len(channels) >= self.limits.connections:
            return self._evict(channels)
        return True

    def _evict(self, channels: Iterable[Channel]) -> bool:
        chosen = _longest_waiting(channels)
        if chosen is None:
            return False
        chosen.will_close = True
        self.shed.evicted += 1
        return True


def _longest_waiting(channels: Iterable[Channel]) -> Channel | None:
    waiting = [(since, c) for c in channels if (since := c.waiting()) is not None]
    return min(waiting, key=lambda pair: pair[0])[1] if waiting else None


class TcpListener(_Admitting, TcpWSGIServer):
    """The API's TCP port."""


class UnixListener(_Admitting, UnixWSGIServer):
    """The API's unix socket."""


def open_listeners(
    app: Any, sockets: list[socket.socket], limits: Limits, map: dict[int, Any], **adjust: Any
) -> ThreadedTaskDispatcher:
    """Serve ``app`` on each bound socket in ``map``, with one pool of ``threads`` workers."""
    adj = Adjustments(**adjust)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    for sock in sockets:
        kind = UnixListener if sock.family == socket.AF_UNIX else TcpListener
        sockinfo = (sock.family, sock.type, sock.proto, sock.getsockname())
        listener = kind(app, map, _sock=sock, dispatcher=dispatcher, adj=adj,
                        sockinfo=sockinfo, bind_socket=False)  # fmt: skip
        listener.setup(limits, _name(sock))
    return dispatcher


def _name(sock: socket.socket) -> str:
    where = sock.getsockname()
    return where if isinstance(where, str) else f"{where[0]}:{where[1]}"
