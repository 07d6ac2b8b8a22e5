"""Disk: per mount point, space and inodes in use, and how fast space is filling.

The fill rate is the growth of used bytes over ``fill_rate_window``, from this
sampler's own recent readings (which the daemon can seed from stored
snapshots after a restart), once they span a quarter of the window. A disk
that is not growing has no time until full. Space freed at once (a clean-up: at
least :data:`FREED_SHARE` of the disk since the last reading) starts the history
afresh, so the fill rate after it is judged from after it, not from a window that
still holds the fill it undid.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from calmopsd.clock import Clock, SystemClock
from calmopsd.config.sensing import DiskSamplerConfig

FREED_SHARE = 0.01  # of the disk's size, freed between two readings


class DiskSampler:
    name = "disk"

    def __init__(self, config: DiskSamplerConfig, clock: Clock | None = None):
        self.mounts = list(config.mounts)
        self.window = config.fill_rate_window
        self.clock = clock or SystemClock()
        self._history: dict[str, deque[tuple[datetime, int]]] = {
            str(m): deque() for m in self.mounts
        }

    def seed(self, points: Iterable[tuple[str, datetime, int]]) -> None:
        """Prime the fill-rate history with ``(mount, taken_at, used_bytes)`` from earlier runs."""
        for mount, taken_at, used in sorted(points, key=lambda p: p[1]):
            if mount in self._history:
                self._history[mount].append((taken_at, used))

    def sample(self) -> dict[str, Any]:
        now = self.clock.now()
        return {"mounts": {str(m): self._mount(m, now) for m in self.mounts}}

    def _mount(self, mount: Path, now: datetime) -> dict[str, Any]:
        try:
            usage = psutil.disk_usage(str(mount))
            inodes = os.statvfs(mount)
        except OSError as exc:
            return {"error": exc.strerror or str(exc)}
        rate = self._fill_rate(str(mount), now, usage.used, usage.total)
        inode_percent = (
            100.0 * (inodes.f_files - inodes.f_ffree) / inodes.f_files if inodes.f_files else 0.0
        )
        return {
            "used_percent": round(usage.percent, 2),
            "used_bytes": usage.used,
            "free_bytes": usage.free,
            "total_bytes": usage.total,
            "inodes_used_percent": round(inode_percent, 2),
            "fill_bytes_per_hour": round(rate * 3600) if rate is not None else None,
            "hours_until_full": round(usage.free / rate / 3600, 2) if rate and rate > 0 else None,
        }

    def _fill_rate(self, mount: str, now: datetime, used: int, total: int) -> float | None:
        """Bytes per second since the newest reading at least ``window`` old (or the oldest)."""
        history = self._history[mount]
        if history and history[-1][1] - used >= FREED_SHARE * total:
            history.clear()  # freed at once: the fill before it says nothing of what follows
        history.append((now, used))
        while len(history) > 2 and history[1][0] <= now - self.window:
            history.popleft()
        oldest_at, oldest_used = history[0]
        seconds = (now - oldest_at).total_seconds()
        # A rate over seconds (right after a start) turns one log write into "full in
        # 10 hours": no rate until the history spans a quarter of the window.
        if seconds < self.window.total_seconds() / 4:
            return None
        return (used - oldest_used) / seconds
