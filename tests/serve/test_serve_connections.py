"""The API under a flood of idle and half-sent connections, from the attacker's side: real
sockets on 127.0.0.1 (and other loopback addresses as other clients), real waitress.

A connection must send each whole request within ``Limits.receive_s`` however it trickles;
a listener makes room for a new connection by closing the one that has waited longest
for its request (of the same client at its own limit), so a client that asks at once
always gets its answer. The kernel accepts connections in the order they were made, so
which ones are closed is exact.
"""

from __future__ import annotations

import http.client
import os
import pwd
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from support.api import StackMaker, Template, secret
from support.process import calmopsd, clean_env

from calmopsd.cli.client import DaemonApi, Endpoint
from calmopsd.config import load_config
from calmopsd.daemon import Daemon, Source
from calmopsd.record.audit import list_events
from calmopsd.record.scope import Scope
from calmopsd.serve.connections import CHECK_S, Limits
from calmopsd.serve.server import ApiServer
from calmopsd.serve.tokens import digest

HALF = b"GET /api/ops/health HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bea"
LONG = 60.0  # a receive bound no test waits for


def wait_until(condition: Callable[[], bool], deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def closed(sock: socket.socket) -> bool:
    """Whether the server has closed this connection (without waiting)."""
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset: closed with our bytes unread
        return True


def still_open(sockets: Iterable[socket.socket]) -> int:
    return sum(not closed(s) for s in sockets)


class Flood:
    """Half-sent connections, each from a given loopback address; all closed at teardown."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []

    def open(self, port: int, count: int, source: str = "127.0.0.1") -> list[socket.socket]:
        opened = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), 5, source_address=(source, 0))
            self.sockets.append(sock)
            sock.sendall(HALF)
            sock.setblocking(False)
            opened.append(sock)
        return opened

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def flood() -> Iterator[Flood]:
    made = Flood()
    yield made
    made.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., ApiServer]]:
    """Start an ApiServer with the given limits; every one stopped at teardown."""
    started: list[ApiServer] = []

    def start(app: Any, limits: Limits, **where: Any) -> ApiServer:
        server = ApiServer(app, listen=where.pop("listen", "127.0.0.1:0"), limits=limits, **where)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(2.0)


def plain(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def test_150_half_sent_connections_leave_the_operator_and_the_cli_their_answers_then_close(
    make_stack: StackMaker, template: Template, flood: Flood, serve: Callable[..., ApiServer]
) -> None:
    stack = make_stack()
    bound = 5.0
    server = serve(stack.server.app, Limits(receive_s=bound))
    assert server.port is not None and server.url is not None
    elsewhere = flood.open(server.port, 1, source="127.0.0.2")
    began = time.monotonic()
    attackers = flood.open(server.port, 150)

    answer = requests.get(
        f"{server.url}/api/ops/health", headers={"Authorization": f"Bearer {secret('root')}"},
        timeout=5,
    )  # fmt: skip
    assert answer.status_code == 200
    cli = DaemonApi(Endpoint(server.url, None), secret("local-cli"), "dana")
    incident = template.incident["acme"]
    change = {"status": "resolved", "note": "restarted the worker"}
    resolved = cli.call("PATCH", f"/incidents/{incident}", change, timeout_s=5)
    assert (resolved["id"], resolved["status"]) == (incident, "resolved")

    # Room was made, not waited for: of 127.0.0.1's 32 places the flood keeps all but the
    # two the operator and the CLI took, its newest 30; another address keeps its own.
    wait_until(lambda: still_open(attackers) == 30)
    assert [closed(s) for s in attackers] == [True] * 120 + [False] * 30
    assert still_open(elsewhere) == 1

    wait_until(lambda: still_open(attackers + elsewhere) == 0, bound + 10)
    assert time.monotonic() - began >= bound


def test_a_full_listener_makes_room_by_closing_the_connection_that_waited_longest(
    flood: Flood, serve: Callable[..., ApiServer]
) -> None:
    server = serve(plain, Limits(receive_s=LONG, connections=100, per_client=32))
    assert server.port is not None
    first = [flood.open(server.port, 10, source=f"127.0.0.{n}") for n in range(2, 12)]
    held = [sock for client in first for sock in client]
    newcomers = flood.open(server.port, 5, source="127.0.0.12")
    wait_until(lambda: still_open(held[:5]) == 0)
    assert still_open(held[5:] + newcomers) == 100
    answer = requests.get(f"http://127.0.0.1:{server.port}/", timeout=5)
    assert answer.text == "ok"
    wait_until(lambda: closed(held[5]))
    assert still_open(held[6:] + newcomers) == 99


def test_bytes_trickled_do_not_extend_the_time_to_send_a_request(
    flood: Flood, serve: Callable[..., ApiServer]
) -> None:
    bound = 1.5
    server = serve(plain, Limits(receive_s=bound))
    assert server.port is not None
    opened_at = time.monotonic()
    slow = flood.open(server.port, 5)
    closed_at: dict[int, float] = {}
    deadline = opened_at + bound + 5 * CHECK_S + 5
    while len(closed_at) < len(slow):
        assert time.monotonic() < deadline, f"still open: {len(slow) - len(closed_at)}"
        for index, sock in enumerate(slow):
            if index in closed_at:
                continue
            if closed(sock):
                closed_at[index] = time.monotonic()
            else:
                sock.send(b"a")  # one more byte of a header that never ends
        time.sleep(0.1)  # the attacker's pace
    assert min(closed_at.values()) - opened_at >= bound


def test_an_answer_slower_than_the_bound_is_not_cut_and_each_answer_restarts_the_time(
    serve: Callable[..., ApiServer],
) -> None:
    def slow(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        time.sleep(1.2)  # an approval waiting for its action's outcome, say
        return plain(environ, start_response)

    bound = 0.5
    server = serve(slow, Limits(receive_s=bound))
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for _ in range(2):  # the same kept-alive connection
            connection.request("GET", "/")
            assert connection.getresponse().read() == b"ok"
        assert connection.sock is not None
        connection.sock.setblocking(False)
        answered = time.monotonic()
        wait_until(lambda: closed(connection.sock), bound + 5)
        assert time.monotonic() - answered >= bound - 0.05  # measured from the answer
    finally:
        connection.close()


def test_a_client_at_its_limit_with_every_connection_busy_is_refused_and_the_busy_are_answered(
    flood: Flood, serve: Callable[..., ApiServer]
) -> None:
    release = threading.Event()
    inside: list[int] = []

    def held(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        inside.append(1)
        release.wait(10)
        return plain(environ, start_response)

    server = serve(held, Limits(receive_s=LONG, per_client=2))
    assert server.port is not None
    busy = [socket.create_connection(("127.0.0.1", server.port), 5) for _ in range(2)]
    flood.sockets.extend(busy)
    for sock in busy:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
    wait_until(lambda: len(inside) == 2)
    (third,) = flood.open(server.port, 1)
    wait_until(lambda: closed(third))
    release.set()
    for sock in busy:
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.0 200 OK") and answer.endswith(b"\r\n\r\nok")


def test_a_flood_of_the_tcp_port_leaves_the_unix_socket_its_own_room(
    tmp_path: Path, flood: Flood, serve: Callable[..., ApiServer]
) -> None:
    path = tmp_path / "api.sock"
    server = serve(plain, Limits(receive_s=LONG, connections=3), unix_socket=path)
    assert server.port is not None
    tcp = [flood.open(server.port, 1, source=f"127.0.0.{n}")[0] for n in (2, 3, 4)]
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(5)
        client.connect(str(path))
        client.sendall(b"GET / HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := client.recv(4096):
            answer += chunk
    assert answer.endswith(b"\r\n\r\nok")
    assert still_open(tcp) == 3


def test_the_cli_pauses_actions_through_a_daemon_whose_port_is_flooded(
    tmp_path: Path, flood: Flood
) -> None:
    config = tmp_path / "calmops.yaml"
    entry = f"{{name: ops, super_admin: true, role: viewer, sha256: {digest('ops-secret')}}}"
    config.write_text(
        f"state_dir: state\nlog:\n  format: json\napi:\n  listen: 127.0.0.1:0\n"
        f"  tokens:\n    - {entry}\n"
    )
    daemon = Daemon(Source(config), load_config(config), planner=lambda c, k: [])
    daemon.start()
    try:
        assert daemon.serving is not None and daemon.serving.server is not None
        server = daemon.serving.server
        assert server.port is not None
        flood.open(server.port, 150)
        began = time.monotonic()
        env = {k: v for k, v in clean_env().items() if k != "SUDO_UID"}
        paused = calmopsd("actions", "pause", "--config", str(config), env=env)
        assert (paused.returncode, paused.stderr) == (0, "")
        assert time.monotonic() - began < 20  # the CLI's own timeout is 30 s
        auth = {"Authorization": "Bearer ops-secret"}
        health = requests.get(f"{server.url}/api/ops/health", headers=auth, timeout=5)
        assert health.status_code == 200
        assert daemon.database is not None
        (event,) = [e for e in list_events(daemon.database, Scope.platform())
                    if e.kind == "actions.paused"]  # fmt: skip
        assert event.actor == f"cli:{pwd.getpwuid(os.getuid()).pw_name}"
    finally:
        assert daemon.stop() == 0
