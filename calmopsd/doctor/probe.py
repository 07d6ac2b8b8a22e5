"""What the doctor asks as the daemon's user, answered by whoever runs this module.

Run as the daemon's user (``setpriv … python -I …/doctor/probe.py TASKS``, see
:mod:`.reach`; by its path, so the doctor's package and its checks are not imported),
it answers each task of the JSON list ``TASKS`` with the kernel's own verdict — groups,
ACLs and security modules included — and prints the answers as one JSON list. Each task is one of::

    {"op": "read", "path": P}                 open P for reading (a regular file only)
    {"op": "list", "path": D}                 list directory D (a log glob's directory)
    {"op": "pm2", "home": H, "timeout": S}    pm2.pid, then rpc.sock and getVersion
    {"op": "ping", "socket": P, "timeout": S} the privileged helper's ping op

Nothing here changes anything: a file is opened and one byte read, a directory listed,
PM2's socket asked its version (no ``pm2`` is run, so no daemon is ever spawned), the
helper asked to ping. The heavier imports (PM2's and the helper's protocols) wait
for the task that needs them, so a child that only reads files starts fast.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Answer states.
OK = "ok"
DENIED = "denied"  # permission: ``where`` is the path the kernel refused
MISSING = "missing"  # no such file, or nothing listens (no helper, no PM2)
NOT_RUNNING = "not_running"
NOT_REGULAR = "not_regular"
REFUSED = "refused"  # the helper answered with a refusal
ERROR = "error"
UNKNOWN = "unknown"  # the doctor could not ask as the daemon's user (reach.ByModes)


@dataclass(frozen=True)
class Answer:
    """How one task went. ``where`` names the path a refusal or absence is about;
    ``data`` holds what an ``ok`` found (PM2's version, the helper's pong)."""

    state: str
    detail: str
    where: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.state == OK

    @classmethod
    def from_json(cls, value: Any) -> Answer:
        if not isinstance(value, dict) or not isinstance(value.get("state"), str):
            return cls(ERROR, f"the probe answered {value!r:.100}")
        data = value.get("data")
        where = value.get("where")
        return cls(
            value["state"], str(value.get("detail", "")),
            where if isinstance(where, str) else None, data if isinstance(data, dict) else {},
        )  # fmt: skip


def answer(task: dict[str, Any]) -> Answer:
    """The answer to one task, as this process sees it; never raises for the host's state."""
    op = task.get("op")
    try:
        if op == "read":
            return read(str(task["path"]))
        if op == "list":
            return listing(str(task["path"]))
        if op == "pm2":
            return pm2(Path(task["home"]), float(task["timeout"]))
        if op == "ping":
            return ping(Path(task["socket"]), float(task["timeout"]))
    except (KeyError, TypeError, ValueError) as exc:
        return Answer(ERROR, f"bad task {task!r:.100}: {exc}")
    return Answer(ERROR, f"unknown op {op!r:.40}")


def read(path: str) -> Answer:
    """Whether ``path`` is a regular file this process may read (stat first: a FIFO or a
    device is never opened, as the log reader never opens one)."""
    try:
        info = os.stat(path)  # noqa: PTH116  # paths stay text on the way through
    except OSError as exc:
        return _failed(exc, path)
    if not stat.S_ISREG(info.st_mode):
        from calmopsd.act.nofollow import kind

        return Answer(NOT_REGULAR, f"{path} is {kind(info.st_mode)}, not a log file", path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        return _failed(exc, path)
    try:
        os.read(fd, 1)
    except OSError as exc:
        return _failed(exc, path)
    finally:
        os.close(fd)
    return Answer(OK, f"{path} is readable")


def listing(path: str) -> Answer:
    try:
        os.listdir(path)  # noqa: PTH208  # a listing is what the log reader's glob needs
    except OSError as exc:
        return _failed(exc, path)
    return Answer(OK, f"{path} can be listed")


def pm2(home: Path, timeout: float) -> Answer:
    """PM2's daemon as the sampler finds it: a live pid in ``pm2.pid``, a daemon on
    ``rpc.sock`` that is that pid, and its answer to ``getVersion``."""
    from calmopsd.pm2files import live_pid
    from calmopsd.sense.pm2_rpc import Pm2Socket, RpcError

    pidfile = live_pid(home)
    if pidfile.pid is None:
        state = DENIED if pidfile.unreadable else NOT_RUNNING
        return Answer(state, pidfile.problem or "no live pid", str(home / "pm2.pid"))
    path = home / "rpc.sock"
    try:
        connection = Pm2Socket(path, timeout)
    except (ConnectionRefusedError, FileNotFoundError) as exc:
        detail = f"pm2.pid names live pid {pidfile.pid} but no daemon listens on {path}"
        return Answer(NOT_RUNNING, f"{detail} ({exc.strerror or exc})", str(path))
    except OSError as exc:
        return _failed(exc, str(path))
    with connection:
        peer = connection.peer_pid()
        if peer not in (pidfile.pid, 0):  # 0: outside our pid namespace
            detail = f"{path} is served by pid {peer}, not by pm2.pid's {pidfile.pid}"
            return Answer(ERROR, detail, str(path))
        try:
            version = connection.call("getVersion", {})
        except (RpcError, OSError) as exc:
            return Answer(ERROR, f"{path}: getVersion: {exc}", str(path))
    return Answer(OK, f"PM2 {version} answers on {path}", data={"version": str(version)[:40],
                  "pid": pidfile.pid})  # fmt: skip


def ping(path: Path, timeout: float) -> Answer:
    """The helper's answer to ``{"op": "ping"}`` on ``path``, as the daemon would get it."""
    from calmopsd.privsep import wire

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as conn:
        conn.settimeout(timeout)
        try:
            conn.connect(str(path))
            conn.sendall(wire.encode({"op": "ping"}))
            conn.shutdown(socket.SHUT_WR)
            reply = wire.decode(wire.read_message(conn, wire.MAX_ANSWER, timeout))
        except ConnectionRefusedError:
            return Answer(NOT_RUNNING, f"nothing listens on {path}", str(path))
        except OSError as exc:
            return _failed(exc, str(path))
        except wire.WireError as exc:
            return Answer(ERROR, f"no usable answer on {path}: {exc}", str(path))
    refused = wire.refusal_of(reply)
    if refused is not None:
        return Answer(REFUSED, refused.detail, str(path))
    pong = reply.get("pong")
    if not isinstance(pong, dict):
        return Answer(ERROR, f"{path} answered the ping without a pong", str(path))
    return Answer(OK, f"the helper on {path} answers", data=pong)


def _failed(exc: OSError, path: str) -> Answer:
    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, PermissionError):
        return Answer(DENIED, f"{path}: {reason}", path)
    if isinstance(exc, FileNotFoundError):
        return Answer(MISSING, f"{path} does not exist", path)
    if isinstance(exc, TimeoutError):
        return Answer(ERROR, f"{path}: no answer in time", path)
    return Answer(ERROR, f"{path}: {reason}", path)


def main(argv: list[str]) -> int:
    tasks = json.loads(argv[1]) if len(argv) > 1 else []
    answers = [asdict(answer(task)) for task in tasks if isinstance(task, dict)]
    sys.stdout.write(json.dumps(answers) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
