"""Support for tests/privsep: the helper as a real root process, clients and executors
as other users (setpriv).

Users are made once per machine when missing (``useradd --system --no-create-home``):
``calmopsd-test`` (the daemon's user: the helper's allowed_user), ``calmopsd-test-other``
(anyone else) and ``calmopsd-test-app`` (the app's user, whose PM2 the helper drives).
Everything lives in a directory of the test's own under /tmp that those users may
enter (pytest's tmp_path is root's alone), removed at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DAEMON_USER = "calmopsd-test"
OTHER_USER = "calmopsd-test-other"
APP_USER = "calmopsd-test-app"

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("useradd") is None,
    reason="the helper runs as root, and these tests make users and switch to them "
    "(root, setpriv and useradd needed)",
)


def ensure_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return pwd.getpwnam(name)


def as_user(user: pwd.struct_passwd, *argv: str, groups: list[int] | None = None) -> list[str]:
    """``argv`` run as ``user`` with no way back to root (setpriv, NoNewPrivileges)."""
    ids = ["--reuid", str(user.pw_uid), "--regid", str(user.pw_gid)]
    grouping = ["--groups", ",".join(map(str, groups))] if groups else ["--init-groups"]
    return ["setpriv", *ids, *grouping, "--no-new-privs", "--", *argv]


def read_only_but(writable: Path) -> list[str]:
    """A prefix that runs its command in a mount namespace where ``/`` is read-only but
    ``writable`` (ProtectSystem=strict with a StateDirectory); it execs the command, so the
    pid stays the command's."""
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro / && shift && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh",
            str(writable)]  # fmt: skip


def write_config(path: Path, data: dict[str, Any], group: int | None = None) -> Path:
    """The config as production keeps it: root's, 0640, group the daemon's."""
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    path.chmod(0o640)
    if group is not None:
        os.chown(path, 0, group)
    return path


class HelperProcess:
    """``calmopsd helper`` as a real root subprocess; its JSON log lines read on a thread."""

    def __init__(self, config: Path, socket: Path, env: dict[str, str] | None = None) -> None:
        self.socket = socket
        base = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "CALMOPS_CONFIG")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "calmopsd", "helper", "--config", str(config),
             "--socket", str(socket)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**base, **(env or {})}, start_new_session=True,
        )  # fmt: skip
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.lines.put(json.loads(line))

    def wait_for(self, event: str, timeout: float = 20.0, **fields: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for line in self.seen:
            if line.get("event") == event and all(line.get(k) == v for k, v in fields.items()):
                return line
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if line.get("event") == event and all(line.get(k) == v for k, v in fields.items()):
                return line
        stderr = (
            self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
        )
        raise AssertionError(f"no {event} {fields} within {timeout}s: {self.seen} {stderr}")

    def stop(self) -> int:
        """SIGTERM, a bounded wait, SIGKILL to its group if it is still there; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            raise AssertionError("the helper did not stop within 15 s of SIGTERM") from None


@contextlib.contextmanager
def running_helper(
    config: Path, socket: Path, env: dict[str, str] | None = None
) -> Iterator[HelperProcess]:
    helper = HelperProcess(config, socket, env)
    try:
        helper.wait_for("helper.started")
        yield helper
    finally:
        helper.stop()


def ask(
    socket: Path,
    payload: bytes | dict[str, Any],
    user: pwd.struct_passwd,
    *,
    groups: list[int] | None = None,
    half: bool = False,
) -> dict[str, Any]:
    """What the helper answers ``payload`` sent by ``user`` (tests/privsep/ask.py)."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode() + b"\n"
    argv = [sys.executable, str(HERE / "ask.py"), str(socket), *(["--half"] if half else [])]
    done = subprocess.run(
        as_user(user, *argv, groups=groups), input=raw, capture_output=True, timeout=60,
        check=False, cwd="/",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    said: dict[str, Any] = json.loads(done.stdout.decode().splitlines()[-1])
    return said
