"""How the CLI talks to a running daemon about actions: small files in the state dir.

``actions.paused`` is the kill switch (its presence refuses every action, read on
each request); ``control/revert-ID`` asks the daemon to end one action in force
(read on its next tick). Files, not a socket: they work whether or not the
daemon runs, need no listener, and the state dir's permissions guard them.
Whatever the daemon does about them goes to the audit log.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

PAUSE_FLAG = "actions.paused"
CONTROL_DIR = "control"
_REVERT = re.compile(r"revert-([0-9]{1,12})")
_ACTOR = re.compile(r"[^A-Za-z0-9_.@-]")


@dataclass(frozen=True)
class RevertRequest:
    active_id: int
    by: str
    path: Path


def actor_name(text: str) -> str:
    """Who asked, as recorded: letters, digits and ``_.@-`` only, at most 64."""
    cleaned = _ACTOR.sub("", text.strip())[:64]
    return cleaned or "cli"


def pause(state_dir: Path, by: str) -> bool:
    """Set the kill switch; False if it was already set."""
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(
            state_dir / PAUSE_FLAG, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640
        )
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as flag:
        flag.write(actor_name(by) + "\n")
    return True


def resume(state_dir: Path) -> bool:
    """Lift the kill switch; False if it was not set."""
    try:
        (state_dir / PAUSE_FLAG).unlink()
    except FileNotFoundError:
        return False
    return True


def paused_by(state_dir: Path) -> str | None:
    """Who paused actions (None: not paused)."""
    try:
        with (state_dir / PAUSE_FLAG).open(encoding="utf-8", errors="replace") as flag:
            return actor_name(flag.read(200))
    except FileNotFoundError:
        return None
    except OSError:
        return "cli"  # unreadable but present: still paused


def ask_revert(state_dir: Path, active_id: int, by: str) -> Path:
    """Leave a request for the daemon to end action ``active_id`` on its next tick."""
    directory = state_dir / CONTROL_DIR
    directory.mkdir(parents=True, exist_ok=True, mode=0o750)
    path = directory / f"revert-{int(active_id)}"
    path.write_text(actor_name(by) + "\n", encoding="utf-8")
    return path


def pending_reverts(state_dir: Path) -> list[RevertRequest]:
    """Revert requests waiting; anything else in the directory is ignored."""
    directory = state_dir / CONTROL_DIR
    found: list[RevertRequest] = []
    with contextlib.suppress(FileNotFoundError):
        for entry in sorted(directory.iterdir())[:100]:
            match = _REVERT.fullmatch(entry.name)
            if match is None or entry.is_symlink() or not entry.is_file():
                continue
            try:
                by = actor_name(entry.read_text(encoding="utf-8", errors="replace")[:200])
            except OSError:
                by = "cli"
            found.append(RevertRequest(int(match.group(1)), by, entry))
    return found
