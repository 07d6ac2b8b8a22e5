"""The one place that starts a subprocess.

Always an argv list, never a shell and never a command string: values are
checked against allowlists by callers before they become argv elements, so
nothing here "sanitizes" metacharacters. Every run has a timeout (the child's
whole process group is killed when it passes), a minimal environment unless
the caller passes one, and output read incrementally and kept only up to a
bound, so a child that prints gigabytes costs no memory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

OUTPUT_LIMIT = 1 << 20  # default bytes kept of stdout and of stderr
MINIMAL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Completed:
    """How a run ended. ``returncode`` is None when it was killed for its timeout
    or could not start (``error`` says which); ``truncated`` when output passed the limit."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: bytes
    stderr: bytes
    duration_s: float
    error: str | None = None
    truncated: bool = False

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0


def minimal_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """PATH, LANG and HOME only (plus ``extra``): children never inherit our secrets."""
    env = {
        "PATH": os.environ.get("PATH", MINIMAL_PATH),
        "LANG": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/"),
    }
    env.update(extra or {})
    return env


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    output_limit: int = OUTPUT_LIMIT,
) -> Completed:
    """Run ``argv`` until it exits or ``timeout`` seconds pass; never raises for the child."""
    args = tuple(argv)
    if not args or not all(isinstance(a, str) and a and "\0" not in a for a in args):
        raise ValueError(f"argv must be non-empty strings without NUL: {args!r}")
    began = time.monotonic()
    try:
        identity = _identity(user)
        proc = subprocess.Popen(  # noqa: S603  # argv list, no shell; see module docstring
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else minimal_env(),
            cwd=cwd,
            start_new_session=True,  # its own process group, killed whole on timeout
            **identity,
        )
    except (OSError, LookupError, PermissionError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Completed(
            args, None, b"", b"", time.monotonic() - began, f"could not start: {reason}"
        )
    stdout, stderr = _Capture(proc.stdout, output_limit), _Capture(proc.stderr, output_limit)
    try:
        returncode: int | None = proc.wait(timeout=timeout)
        error = None
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        returncode, error = None, f"timed out after {timeout:g}s"
    stdout.join()
    stderr.join()
    return Completed(
        args,
        returncode,
        stdout.data(),
        stderr.data(),
        time.monotonic() - began,
        error,
        stdout.truncated or stderr.truncated,
    )


def _identity(user: str | None) -> dict[str, Any]:
    """Popen arguments that run the child as ``user``, with that user's groups — not ours.

    ``Popen(user=…)`` alone would keep the parent's groups (root's, when calmopsd
    runs as root).
    """
    if user is None:
        return {}
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise LookupError(f"no such user {user!r}") from None
    if entry.pw_uid == os.geteuid():
        return {}
    if os.geteuid() != 0:
        raise PermissionError(f"running as {user!r} needs calmopsd to run as root")
    groups = os.getgrouplist(user, entry.pw_gid)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": groups}


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class _Capture:
    """Reads a pipe to its end on a thread, keeping at most ``limit`` bytes."""

    def __init__(self, stream: IO[bytes] | None, limit: int):
        self._chunks: list[bytes] = []
        self._kept = 0
        self._limit = limit
        self.truncated = False
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with stream:
            while chunk := stream.read1(_CHUNK):  # type: ignore[attr-defined]  # BufferedReader
                room = self._limit - self._kept
                if len(chunk) > room:
                    self.truncated = True
                if room > 0:
                    self._chunks.append(chunk[:room])
                    self._kept += min(room, len(chunk))

    def join(self) -> None:
        # The group is dead or the child exited; a grandchild holding the pipe open
        # must not hang us, so the wait is bounded.
        self._thread.join(timeout=5)

    def data(self) -> bytes:
        return b"".join(self._chunks)
