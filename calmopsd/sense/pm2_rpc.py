"""A client for the PM2 daemon's own socket (``$PM2_HOME/rpc.sock``).

``pm2 jlist`` is a whole node process (about 130-230 ms of CPU) that connects
to this socket and asks ``getMonitorData``; asking it ourselves costs well
under a millisecond. The protocol is internal to PM2 (pm2-axon's req/rep
sockets over AMP framing, pm2-axon-rpc's call messages), so the sampler asks
``getVersion`` first, uses this only for the PM2 versions it was checked
against, and falls back to ``pm2 jlist`` on anything it does not expect.

One AMP frame: a byte ``version << 4 | argc``, then per argument a 4-byte
big-endian length and the bytes; an argument ``j:…`` is JSON, ``s:…`` a string.
A request is ``[j:{"type": "call", "method": M, "args": [...]}, s:ID]``; the
reply is ``[j:{"args": [result]} | j:{"error": …}, s:ID]``.

Connecting has no side effects, unlike ``pm2 jlist``, which spawns a daemon
when it finds none.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import struct
import time
from pathlib import Path
from types import TracebackType
from typing import Any

AMP_VERSION = 1
REPLY_LIMIT = 64 << 20  # bytes: a process list with every app's environment fits easily


class RpcError(Exception):
    """The daemon answered in a way this client does not understand, or with an error."""


class Pm2Socket:
    """One connection to a PM2 daemon's rpc.sock; every call shares one deadline.

    Connecting raises ``OSError`` as the socket does: ``ConnectionRefusedError``
    or ``FileNotFoundError`` mean no daemon listens there.
    """

    _ids = itertools.count()

    def __init__(self, path: Path, timeout_s: float):
        self.deadline = time.monotonic() + timeout_s
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(timeout_s)
            self.sock.connect(str(path))
        except BaseException:
            self.sock.close()
            raise

    def peer_pid(self) -> int:
        """The pid of the process serving this socket, as the kernel knows it (SO_PEERCRED)."""
        creds = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, _uid, _gid = struct.unpack("3i", creds)
        return int(pid)

    def __enter__(self) -> Pm2Socket:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.sock.close()

    def call(self, method: str, *args: Any) -> Any:
        """The daemon's answer to ``method(*args)``; raises RpcError, or TimeoutError."""
        call_id = f"calmopsd:{os.getpid()}:{next(self._ids)}"
        request = {"type": "call", "method": method, "args": list(args)}
        self.sock.sendall(encode([b"j:" + json.dumps(request).encode(), b"s:" + call_id.encode()]))
        reply = self._read_frame()
        if len(reply) != 2 or reply[1] != b"s:" + call_id.encode():
            raise RpcError(f"{method}: reply does not match the request")
        body = _json_arg(reply[0], method)
        if not isinstance(body, dict):
            raise RpcError(f"{method}: reply is not an object")
        if "error" in body:
            raise RpcError(f"{method}: the daemon answered with an error: {body['error']!s:.200}")
        results = body.get("args")
        if not isinstance(results, list):
            raise RpcError(f"{method}: reply has no result list")
        return results[0] if results else None

    def _read_frame(self) -> list[bytes]:
        meta = self._read(1)[0]
        if meta >> 4 != AMP_VERSION:
            raise RpcError(f"unknown frame version {meta >> 4}")
        args = []
        total = 0
        for _ in range(meta & 0x0F):
            (length,) = struct.unpack(">I", self._read(4))
            total += length
            if total > REPLY_LIMIT:
                raise RpcError(f"reply larger than {REPLY_LIMIT} bytes")
            args.append(self._read(length))
        return args

    def _read(self, count: int) -> bytes:
        chunks = []
        while count:
            self.sock.settimeout(max(0.001, self.deadline - time.monotonic()))
            chunk = self.sock.recv(min(count, 1 << 20))
            if not chunk:
                raise RpcError("the daemon closed the connection mid-reply")
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)


def encode(args: list[bytes]) -> bytes:
    """One AMP frame holding ``args`` (at most 15)."""
    if len(args) > 0x0F:
        raise ValueError("an AMP frame holds at most 15 arguments")
    parts = [bytes([AMP_VERSION << 4 | len(args)])]
    for arg in args:
        parts += [struct.pack(">I", len(arg)), arg]
    return b"".join(parts)


def _json_arg(arg: bytes, method: str) -> Any:
    if not arg.startswith(b"j:"):
        raise RpcError(f"{method}: reply is not JSON")
    try:
        return json.loads(arg[2:])
    except (ValueError, RecursionError) as exc:  # a reply nested absurdly deep is not PM2's
        raise RpcError(f"{method}: reply is not valid JSON") from exc
