"""How the doctor asks the kernel what the daemon's user may do.

Permission is the kernel's to decide — modes, the user's groups, ACLs, security
modules — so the doctor does not work it out from modes when it can ask. Run as the
daemon's user, it answers the tasks of :mod:`.probe` in this process (:class:`Here`).
Run as root, it runs the probe in a child that is the daemon's user:
``setpriv --reuid UID --regid GID --groups G,… --no-new-privs``, the groups being the
user's own and the unit's ``SupplementaryGroups=`` — what the service really runs with
(:class:`AsUser`). The child does what the daemon does — opens the file and reads a
byte, connects to the socket and asks — rather than ``os.access``, which says nothing
about a socket's listener and, for the helper, could not pass its ``SO_PEERCRED``
check as another uid. Switching the doctor's own ids instead would change the groups of
every thread of this process (``setgroups``) and have to be undone; a child is simply
the daemon's user, and ends. Run as anyone else, there is no way to ask; the checks
then judge by modes and say so (:mod:`.access`).

Each check asks its tasks in one call, so one child answers them all.
"""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from calmopsd import runner
from calmopsd.doctor import access, probe
from calmopsd.doctor.probe import Answer
from calmopsd.doctor.user import DaemonUser

Task = dict[str, Any]
# Run by its path, not with -m: the doctor package's table imports every check.
PROBE = Path(probe.__file__)
CHILD_SLACK = 15.0  # seconds for the child's start on top of what its tasks may take


class Reach(Protocol):
    """Asks tasks as the daemon's user; ``how`` says how, for the doctor's answer."""

    how: str

    def ask(self, tasks: Sequence[Task]) -> list[Answer]: ...


class Here:
    """This process is the daemon's user: the tasks are answered right here."""

    def __init__(self, user: DaemonUser) -> None:
        self.how = f"as {user.name} (this process)"

    def ask(self, tasks: Sequence[Task]) -> list[Answer]:
        return [probe.answer(dict(task)) for task in tasks]


class AsUser:
    """Root asks through a child that is the daemon's user (see the module)."""

    def __init__(self, user: DaemonUser, python: str = sys.executable) -> None:
        self.user = user
        self.python = python
        self.how = f"as {user.name} (setpriv)"

    def argv(self, tasks: Sequence[Task]) -> list[str]:
        groups = ",".join(str(gid) for gid in sorted(self.user.groups))
        return [
            "setpriv", "--reuid", str(self.user.uid), "--regid", str(self.user.gid),
            "--groups", groups, "--no-new-privs", "--",
            self.python, "-I", str(PROBE), json.dumps(list(tasks)),
        ]  # fmt: skip

    def ask(self, tasks: Sequence[Task]) -> list[Answer]:
        if not tasks:
            return []
        limit = CHILD_SLACK + sum(float(task.get("timeout", 0)) for task in tasks)
        env = {"PATH": runner.MINIMAL_PATH, "LANG": "C.UTF-8", "HOME": str(self.user.home)}
        done = runner.run(self.argv(tasks), timeout=limit, env=env, cwd=Path("/"))
        problem = done.error or (
            f"exited {done.returncode}: {_last_line(done.stderr)}" if done.returncode else None
        )
        if problem is None:
            try:
                answers = json.loads(done.stdout)
            except ValueError:
                problem = f"printed no answer: {_last_line(done.stderr)}"
            else:
                if isinstance(answers, list) and len(answers) == len(tasks):
                    return [Answer.from_json(value) for value in answers]
                problem = "answered the wrong number of tasks"
        detail = f"could not ask as {self.user.name}: the probe {problem}"
        return [Answer(probe.ERROR, detail) for _ in tasks]


class ByModes:
    """Neither root nor the daemon's user: files are judged by their modes (ACLs and
    security modules unseen), sockets cannot be asked at all (``unknown``)."""

    def __init__(self, user: DaemonUser) -> None:
        self.user = user
        self.how = f"by modes, not as {user.name} (run as root to ask for real)"

    def ask(self, tasks: Sequence[Task]) -> list[Answer]:
        return [self._judge(dict(task)) for task in tasks]

    def _judge(self, task: Task) -> Answer:
        op = task.get("op")
        if op not in ("read", "list"):
            return Answer(probe.UNKNOWN, f"not asked: only {self.user.name} or root can ask")
        path = Path(str(task.get("path")))
        try:
            info = path.stat()
        except OSError as exc:
            return Answer(probe.UNKNOWN, f"{path}: {exc.strerror or exc} (to this process)")
        if op == "read" and not stat.S_ISREG(info.st_mode):
            return probe.read(str(path))  # says what it is, and opens nothing
        refused = access.blockers(path, self.user, "r" if op == "read" else "rx")
        if refused:
            first = refused[0]
            detail = f"{first.path} does not give {self.user.name} {first.bits} (by its mode)"
            return Answer(probe.DENIED, detail, str(path))
        return Answer(probe.OK, f"{path}: its modes let {self.user.name} in")


def reach_for(user: DaemonUser | None, euid: int) -> Reach | None:
    """How to ask as ``user`` from a process of effective uid ``euid``; None: no user."""
    if user is None:
        return None
    if user.uid == euid:
        return Here(user)
    if euid == 0:
        return AsUser(user)
    return ByModes(user)


def _last_line(data: bytes) -> str:
    lines = data.decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:300] if lines else "(nothing on stderr)"
