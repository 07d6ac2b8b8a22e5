"""Two host scenarios: a disk filled and cleaned (a tmpfs the harness mounts), and a
dependency that flaps.

The disk is a 64 MiB tmpfs mounted for the scenario (this needs root, as the harness
runs here; without it the row says so and nothing is filled): the disk sampler watches
only it, ``clear_temp`` may clear only its ``uploads`` dir, and nothing is written
anywhere else. It is unmounted when the world closes, whatever happened.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

from world import World

SIZE_MIB = 64
FILL_TO = 88.0  # percent: past disk_used's 80, short of its critical 90
FRESH_FILES = 4  # uploads in progress: younger than clear_temp's min_age, to be kept
OLD_AGE_S = 3 * 3600  # the old uploads' age: past the shipped min_age of 60m
MIB = 1024 * 1024


class Unmountable(Exception):
    """The tmpfs could not be mounted: the scenario cannot run here."""


def prepare_disk(w: World) -> None:
    mount = w.tmp / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MIB}m,mode=0755", "calmops-scenario",
         str(mount)],
        capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise Unmountable(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    w.cleanups.append(lambda: unmount(mount))
    w.disk = mount
    w.temp_dir = mount / "uploads"
    w.temp_dir.mkdir()


def unmount(mount: Path) -> None:
    done = subprocess.run(["umount", str(mount)], capture_output=True, timeout=10, check=False)
    if done.returncode != 0:  # something still holds it: detach it now, freed once let go
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=10, check=False)


def used_percent(mount: Path) -> float:
    usage = shutil.disk_usage(mount)
    return 100.0 * usage.used / usage.total


def upload(directory: Path, name: str, age_s: float = 0) -> None:
    path = directory / name
    path.write_bytes(b"\x5a" * MIB)
    if age_s:
        at = time.time() - age_s
        os.utime(path, (at, at))


def disk_filled(w: World) -> None:
    """Uploads of 1 MiB, 10 a second, 4 fresh then old ones (3 h) until the tmpfs is 88 %
    full; ``clear_temp`` should delete the old ones, keep the fresh, and the incident
    resolve without its clean-up being called ineffective."""
    if w.disk is None or w.temp_dir is None:
        raise RuntimeError("the scenario mounted no disk")
    w.fault()
    for i in range(FRESH_FILES):
        upload(w.temp_dir, f"fresh-{i}.part")
        time.sleep(0.1)
    count = 0
    while used_percent(w.disk) < FILL_TO and count < SIZE_MIB:  # bounded by the disk's size
        upload(w.temp_dir, f"upload-{count}.bin", OLD_AGE_S)
        count += 1
        time.sleep(0.1)
    filled = used_percent(w.disk)
    incident = w.first_incident(30)
    w.resolved(incident["id"], 90)
    left = sorted(p.name for p in w.temp_dir.iterdir())
    fresh_kept = len([n for n in left if n.startswith("fresh-")])
    ineffective = w.event_kinds("action.ineffective")
    w.notes.append(
        f"filled to {filled:.0f} % ({count} old + {FRESH_FILES} fresh MiB), "
        f"{used_percent(w.disk):.0f} % after; {fresh_kept} of {FRESH_FILES} fresh files kept, "
        f"{len(left) - fresh_kept} old left; {len(ineffective)} action.ineffective"
    )


DOWN_S = 3.0
UP_S = 8.0
FLAPS = 5


def flapping(w: World) -> None:
    """``db`` down 3 s, up 8 s, five times, then up for good. The clear hold (3 s)
    should grow by 1.5 with each flap (3, 4.5, 6.75, 10.1 s …): once it passes the 8 s
    up-time the incident stays open through the flaps instead of resolving each time."""
    w.fault()
    ups: list[float] = []
    for _ in range(FLAPS):
        w.listener.close()
        time.sleep(DOWN_S)
        w.listener.open()
        ups.append(time.time())
        time.sleep(UP_S)
    incident = w.first_incident(5)
    w.resolved(incident["id"], 90)
    w.notes.append(flap_note(w, ups))


def flap_note(w: World, ups: list[float]) -> str:
    """How long after each return of ``db`` an incident resolved (-: not before ``db``
    went down again), and how often it was reopened."""
    resolved = [
        datetime.fromisoformat(e["event_at"]).timestamp()
        for e in w.event_kinds("incident.status_changed")
        if e.get("to") == "resolved"
    ]
    delays = []
    for i, up in enumerate(ups):
        down_again = ups[i + 1] - DOWN_S if i + 1 < len(ups) else float("inf")
        after = [r - up for r in resolved if up <= r < down_again]
        delays.append(f"{after[0]:.1f}" if after else "-")
    reopened = len(w.event_kinds("incident.reopened"))
    flaps = [f for (f,) in w.query("SELECT flaps FROM incidents ORDER BY id")]
    return (
        f"resolved {' / '.join(delays)} s after each return of db; "
        f"{reopened} incident.reopened; flaps per incident {flaps}"
    )
