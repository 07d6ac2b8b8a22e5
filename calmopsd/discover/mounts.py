"""Filesystems worth a disk sampler: those that hold data and can fill.

psutil's own filter (``all=False``) keeps filesystems on a device; of those,
read-only ones (a squashfs snap, an ISO), what is mounted under ``/proc``,
``/sys``, ``/dev``, ``/run`` or ``/snap``, files bind-mounted over files (a
container's ``/etc/hosts``) and second mounts of one device (a bind mount
shows the same space) are left out. ``/`` is always watched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psutil

from calmopsd.discover.findings import Mount

READ_ONLY_TYPES = frozenset({"squashfs", "iso9660", "udf", "erofs", "cramfs"})
SYSTEM_TREES = ("/proc", "/sys", "/dev", "/run", "/snap")

Partitions = Callable[[], Iterable[Any]]  # psutil.disk_partitions()' sdiskpart entries


def discover(partitions: Partitions = psutil.disk_partitions) -> list[Mount]:
    found: dict[str, Mount] = {}
    devices: set[str] = set()
    for part in sorted(partitions(), key=lambda p: len(p.mountpoint)):
        skipped = _skipped(part)
        if skipped or part.device in devices or part.mountpoint in found:
            continue
        devices.add(part.device)
        found[part.mountpoint] = Mount(part.mountpoint, _why(part))
    if "/" not in found:
        found = {"/": Mount("/", "the root filesystem, always watched"), **found}
    return list(found.values())


def _skipped(part: Any) -> bool:
    mountpoint: str = part.mountpoint
    if "ro" in part.opts.split(",") or part.fstype in READ_ONLY_TYPES:
        return True
    if any(mountpoint == t or mountpoint.startswith(t + "/") for t in SYSTEM_TREES):
        return True
    return not Path(mountpoint).is_dir()


def _why(part: Any) -> str:
    try:
        used = f", {psutil.disk_usage(part.mountpoint).percent:.0f} % used"
    except OSError:
        used = ""
    return f"{part.fstype} on {part.device}{used}"
