"""The daemon's user, with the groups the service really runs with."""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_USER = "calmopsd"


@dataclass(frozen=True)
class DaemonUser:
    """``groups``: the user's own (``/etc/group``, as ``initgroups`` gives them) and the
    unit's ``SupplementaryGroups=``."""

    name: str
    uid: int
    gid: int
    groups: frozenset[int]
    home: Path

    def group_names(self) -> list[str]:
        return sorted(group_name(gid) for gid in self.groups)

    def in_group(self, gid: int) -> bool:
        return gid in self.groups


def find_user(name: str, supplementary: Iterable[str] = ()) -> DaemonUser | None:
    """``name`` as the service runs it; None when there is no such user. A supplementary
    group that does not exist is left out (systemd would refuse to start the unit)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    groups = set(os.getgrouplist(name, entry.pw_gid))
    for group in supplementary:
        gid = group_id(group)
        if gid is not None:
            groups.add(gid)
    return DaemonUser(name, entry.pw_uid, entry.pw_gid, frozenset(groups), Path(entry.pw_dir))


def group_id(group: str) -> int | None:
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
