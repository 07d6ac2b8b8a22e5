"""What calmopsd reads of PM2's files, for both the sampler and the actions.

Where ``PM2_HOME`` is, which pid ``pm2.pid`` names (only a live one), and the
JSON list inside ``pm2 jlist`` output. ``sense`` and ``act`` may not import
each other, so the facts they share live here, below both.
"""

from __future__ import annotations

import json
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
