"""Memory: used %, available bytes, swap, and the biggest processes as evidence.

``used_percent`` is psutil's ``(total - available) / total``, the figure the
kernel's own MemAvailable estimate supports (what ``free`` shows as available),
not ``used / total``, which ignores reclaimable cache.
"""

from __future__ import annotations

from typing import Any

import psutil

from calmopsd.config.sensing import MemorySamplerConfig


class MemorySampler:
    name = "memory"

    def __init__(self, config: MemorySamplerConfig):
        self.top_processes = config.top_processes

    def sample(self) -> dict[str, Any]:
        memory = psutil.virtual_memory()
        swap = psutil.swap_memory()
        return {
            "used_percent": round(memory.percent, 2),
            "total_bytes": memory.total,
            "available_bytes": memory.available,
            "swap_used_percent": round(swap.percent, 2),
            "swap_total_bytes": swap.total,
            "top_processes": biggest_processes(self.top_processes),
        }


def biggest_processes(count: int) -> list[dict[str, Any]]:
    """The ``count`` processes with the most resident memory: name, pid, RSS."""
    if count == 0:
        return []
    found = []
    for proc in psutil.process_iter(["pid", "name", "memory_info"]):
        info = proc.info
        if info.get("memory_info") is None:  # vanished or not ours to read
            continue
        found.append(
            {"name": info["name"], "pid": info["pid"], "rss_bytes": info["memory_info"].rss}
        )
    found.sort(key=lambda p: p["rss_bytes"], reverse=True)
    return found[:count]
