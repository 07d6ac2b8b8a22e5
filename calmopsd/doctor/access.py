"""Access by modes: which directory or file keeps a user out, and the command that lets
the user in.

The kernel's verdict comes from :mod:`.reach`; this module explains it. It walks the
path as the kernel does (each directory needs ``x``, the file itself what is wanted:
``r`` to read, ``w`` to connect to a socket), with the owner's, the group's or the
others' bits as the kernel picks them, and for each blocker proposes the narrowest
lasting fix:

- the group's bits would do and the user is not in that group (not ``root``'s):
  ``usermod -aG GROUP USER``, which the service takes up at its next start;
- otherwise an ACL entry for the user alone: ``setfacl -m u:USER:BITS PATH``, and for a
  log file also a default entry on its directory (``d:u:USER:r``), so the file that
  logrotate creates next is readable too.

ACLs and security modules are not seen here: where modes let the user in but the
kernel did not, the fix is the ACL entry on the path itself.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from calmopsd.doctor.user import DaemonUser, group_name

_BITS = {
    "r": (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH),
    "w": (stat.S_IWUSR, stat.S_IWGRP, stat.S_IWOTH),
    "x": (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH),
}


@dataclass(frozen=True)
class Blocker:
    """``path`` does not give the user ``bits`` (``x`` on a directory on the way)."""

    path: Path
    bits: str
    info: os.stat_result


def allows(info: os.stat_result, user: DaemonUser, bits: str) -> bool:
    """Whether the mode of ``info`` gives ``user`` every one of ``bits``."""
    if user.uid == 0:
        return True
    if info.st_uid == user.uid:
        which = 0
    elif user.in_group(info.st_gid):
        which = 1
    else:
        which = 2
    return all(info.st_mode & _BITS[bit][which] for bit in bits)


def blockers(path: Path, user: DaemonUser, want: str) -> list[Blocker]:
    """What keeps ``user`` from ``want`` on ``path`` by modes, in path order; [] when the
    modes let the user in (or a part of the path cannot be seen even here)."""
    real = Path(os.path.realpath(path))
    found: list[Blocker] = []
    for directory in reversed(real.parents):
        try:
            info = directory.stat()
        except OSError:
            return found
        if not allows(info, user, "x"):
            found.append(Blocker(directory, "x", info))
    try:
        info = real.stat()
    except OSError:
        return found
    if not allows(info, user, want):
        found.append(Blocker(real, want, info))
    return found


def fix_for(
    path: Path, user: DaemonUser, want: str, *, rotated: bool = False, unit: str = "calmopsd"
) -> str:
    """The command that gives ``user`` ``want`` on ``path``; ``rotated``: a log file,
    which logrotate replaces; ``unit``: the service to restart for a new group."""
    found = blockers(path, user, want)
    if not found:  # modes allow it: an ACL or a security module refuses
        real = Path(os.path.realpath(path))
        found = [Blocker(real, want, real.stat())] if real.exists() else []
    commands: list[str] = []
    for blocker in found:
        for command in _commands(blocker, user, rotated=rotated):
            if command not in commands:
                commands.append(command)
    if not commands:
        return f"setfacl -m u:{user.name}:{want} {shlex.quote(str(path))}"
    if any(command.startswith("usermod") for command in commands):
        commands.append(f"systemctl restart {unit}")
    if any(command.startswith("setfacl") for command in commands) and not shutil.which("setfacl"):
        commands.insert(0, "apt-get install -y acl")
    return " && ".join(commands)


def _commands(blocker: Blocker, user: DaemonUser, *, rotated: bool) -> list[str]:
    info = blocker.info
    group_bits = all(info.st_mode & _BITS[bit][1] for bit in blocker.bits)
    if group_bits and info.st_gid != 0 and info.st_uid != user.uid:
        return [f"usermod -aG {group_name(info.st_gid)} {user.name}"]
    where = shlex.quote(str(blocker.path))
    commands = [f"setfacl -m u:{user.name}:{blocker.bits} {where}"]
    if rotated and stat.S_ISREG(info.st_mode):
        parent = shlex.quote(str(blocker.path.parent))
        commands.append(f"setfacl -m d:u:{user.name}:{blocker.bits} {parent}")
    return commands
