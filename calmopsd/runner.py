"""The one place that starts a subprocess.

Always an argv list, never a shell and never a command string: values are
checked against allowlists by callers before they become argv elements, so
nothing here "sanitizes" metacharacters. Every run has a timeout, a minimal
environment unless the caller passes one, and captured output cut to a bound.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

OUTPUT_LIMIT = 1 << 20  # bytes kept of stdout and of stderr
MINIMAL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Completed:
    """How a run ended. ``returncode`` is None when it was killed for its timeout
    or could not start (``error`` says which)."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: bytes
    stderr: bytes
    duration_s: float
    error: str | None = None

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
) -> Completed:
    """Run ``argv`` until it exits or ``timeout`` seconds pass; never raises for the child."""
    args = tuple(argv)
    if not args or not all(isinstance(a, str) and a for a in args):
        raise ValueError(f"argv must be non-empty strings: {args!r}")
    began = time.monotonic()
    try:
        proc = subprocess.run(  # noqa: S603  # argv list, no shell; see module docstring
            args,
            capture_output=True,
            timeout=timeout,
            env=dict(env) if env is not None else minimal_env(),
            cwd=cwd,
            user=user,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        return Completed(
            args,
            None,
            _cut(exc.stdout),
            _cut(exc.stderr),
            time.monotonic() - began,
            f"timed out after {timeout:g}s",
        )
    except OSError as exc:
        return Completed(
            args,
            None,
            b"",
            b"",
            time.monotonic() - began,
            f"could not start: {exc.strerror or exc}",
        )
    return Completed(
        args, proc.returncode, _cut(proc.stdout), _cut(proc.stderr), time.monotonic() - began
    )


def _cut(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    raw = data.encode() if isinstance(data, str) else data
    return raw[:OUTPUT_LIMIT]
