"""Real receivers on loopback for what calmopsd sends: a webhook server and an SMTP sink.

The webhook answers each request with the next status of a programmable list (then
200), so a test can make a target fail and recover; both keep what they received.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    answered: int


@dataclass
class Webhook:
    """What the webhook received, and the statuses it is to answer next."""

    port: int = 0
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook", scheme: str = "json") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def delivered(self) -> list[Received]:
        """The requests answered 2xx."""
        with self.lock:
            return [r for r in self.received if 200 <= r.answered < 300]


@contextmanager
def webhook() -> Iterator[Webhook]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server names it
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with hook.lock:
                status = hook.answers.pop(0) if hook.answers else 200
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"raw": raw.decode(errors="replace")}
                hook.received.append(Received(self.path, dict(self.headers), body, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mailbox:
    port: int = 0
    messages: list[Message] = field(default_factory=list)

    def url(self, to: str = "oncall@example.com") -> str:
        return f"mailto://calmops:secret-pw@127.0.0.1:{self.port}?to={to}&from=calmops@example.com"


@contextmanager
def smtp_sink() -> Iterator[Mailbox]:
    """aiosmtpd on loopback, keeping each message it is given."""
    from aiosmtpd.controller import Controller

    box = Mailbox()

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.messages.append(message_from_bytes(envelope.original_content or envelope.content))
            return "250 OK"

        async def handle_AUTH(self, *args: Any) -> str:
            return "235 Authentication successful"

    # aiosmtpd connects to its own port to see it is up, so it needs a real one, not 0.
    controller = Controller(Keep(), hostname="127.0.0.1", port=_free_port(), auth_require_tls=False)
    controller.start()
    box.port = controller.port
    try:
        yield box
    finally:
        controller.stop()
