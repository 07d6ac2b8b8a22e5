"""What calmopsd reads of PM2's files, for both the sampler and the actions.

Where ``PM2_HOME`` is, which pid ``pm2.pid`` names (only a live one), the
JSON list inside ``pm2 jlist`` output, and the one reader of that list's
entries (:func:`read_instance`). ``sense`` and ``act`` may not import each
other, so the facts they share live here, below both.

``pm2_env`` embeds the app's whole environment (secrets included); only the
fields :class:`Pm2Instance` names are ever copied out, and nothing here keeps,
logs or quotes the rest.
"""

from __future__ import annotations

import json
import math
import os
import pwd
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calmopsd.config.sensing import Pm2SamplerConfig


def home_of(user: str) -> str:
    """``user``'s home directory; LookupError when there is no such user."""
    try:
        return pwd.getpwnam(user).pw_dir
    except KeyError:
        raise LookupError(f"no user named {user!r}") from None


def pm2_home(config: Pm2SamplerConfig, environ: Mapping[str, str]) -> Path:
    """config ``home``, else ``$PM2_HOME``, else ``~user/.pm2`` (or our own user's).

    LookupError when ``config.user`` does not exist.
    """
    if config.home is not None:
        return Path(config.home)
    if environ.get("PM2_HOME"):
        return Path(environ["PM2_HOME"])
    if config.user:
        return Path(home_of(config.user)) / ".pm2"
    return Path(environ.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir) / ".pm2"


@dataclass(frozen=True)
class PidFile:
    """What ``pm2.pid`` says: a live pid, or why not (``unreadable``: the file, not PM2)."""

    pid: int | None
    problem: str | None = None
    unreadable: bool = False


def live_pid(home: Path) -> PidFile:
    """The pid in ``home/pm2.pid`` if that process is alive (ours or another user's)."""
    try:
        text = (home / "pm2.pid").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return PidFile(None, f"no pm2.pid in {home}")
    except OSError as exc:
        return PidFile(None, f"pm2.pid: {exc.strerror or exc}", unreadable=True)
    found = re.fullmatch(r"[0-9]{1,10}", text.strip())  # ASCII digits only, within pid range
    pid = int(found.group()) if found else 0
    if not 0 < pid < 2**31:
        return PidFile(None, "pm2.pid holds no pid")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return PidFile(None, f"pm2.pid names pid {pid}, which is gone")
    except PermissionError:
        pass  # alive, and someone else's: the socket decides
    return PidFile(pid)


def decode_jlist(text: str) -> Any | None:
    """The JSON process list in ``pm2 jlist`` output, or None when there is none.

    PM2 may print lines before it (``>>>> In-memory PM2 is out-of-date``, or
    ``[PM2] …`` notices), so every line that starts with ``[`` is tried and the
    first one that decodes to a list wins; bytes after it are ignored.
    """
    decoder = json.JSONDecoder()
    offset = 0
    for line in text.splitlines(keepends=True):
        start = offset + len(line) - len(line.lstrip())
        offset += len(line)
        if not text.startswith("[", start):
            continue
        try:
            decoded, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(decoded, list):
            return decoded
    return None


@dataclass(frozen=True)
class Pm2Instance:
    """One entry of ``pm2 jlist``: a fork app, or one instance of a cluster app.

    A field PM2 left out, or gave in a type it should not have (a string
    where a number belongs, a bool, NaN), is None — or 0 for the restart
    counters, ``"unknown"`` for the status.
    """

    name: str
    pm_id: int | None
    pid: int | None  # None when PM2 runs no process for it (PM2 says 0)
    status: str
    restart_time: int
    unstable_restarts: int
    started_ms: int | None  # pm_uptime: when PM2 last started it, ms since the epoch
    memory_bytes: int | None
    cpu_percent: float | None
    exec_mode: str | None  # "fork_mode" or "cluster_mode"
    version: str | None  # package.json's; PM2's "N/A" is None
    revision: str | None  # versioning.revision (git), when PM2 parsed it
    exit_code: int | None

    def uptime_s(self, now_ms: int) -> float | None:
        """Seconds since PM2 started it; only an online instance has an uptime."""
        if self.status != "online" or self.started_ms is None:
            return None
        return round(max(0, now_ms - self.started_ms) / 1000, 1)

    def as_values(self, now_ms: int) -> dict[str, Any]:
        """The instance as the PM2 sampler reports it (JSON values, uptime for pm_uptime)."""
        return {
            "name": self.name,
            "pm_id": self.pm_id,
            "pid": self.pid,
            "status": self.status,
            "restart_time": self.restart_time,
            "unstable_restarts": self.unstable_restarts,
            "uptime_s": self.uptime_s(now_ms),
            "memory_bytes": self.memory_bytes,
            "cpu_percent": self.cpu_percent,
            "exec_mode": self.exec_mode,
            "version": self.version,
            "revision": self.revision,
            "exit_code": self.exit_code,
        }


def read_instance(entry: Any) -> Pm2Instance | None:
    """The named fields of one decoded entry; None if it has no name to report it under."""
    if not isinstance(entry, dict):
        return None
    env = _mapping(entry.get("pm2_env"))
    monit = _mapping(entry.get("monit"))
    name = _text(entry.get("name")) or _text(env.get("name"))
    if name is None:
        return None
    return Pm2Instance(
        name=name,
        pm_id=_int(entry.get("pm_id", env.get("pm_id"))),
        pid=_int(entry.get("pid")) or None,
        status=_text(env.get("status")) or "unknown",
        restart_time=_int(env.get("restart_time")) or 0,
        unstable_restarts=_int(env.get("unstable_restarts")) or 0,
        started_ms=_int(env.get("pm_uptime")),
        memory_bytes=_int(monit.get("memory")),
        cpu_percent=_number(monit.get("cpu")),
        exec_mode=_text(env.get("exec_mode")),
        version=_version(env.get("version")),
        revision=_text(_mapping(env.get("versioning")).get("revision")),
        exit_code=_int(env.get("exit_code")),
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _version(value: Any) -> str | None:
    text = _text(value)
    return None if text == "N/A" else text


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return number if math.isfinite(number) else None
