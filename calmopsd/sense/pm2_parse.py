"""PM2's process list → the few fields calmopsd keeps, per instance and per app.

Pure functions over decoded JSON, so recorded shapes test them as well as a
real PM2 does. Each entry is read by :func:`calmopsd.pm2files.read_instance`,
the reader the PM2 actions use too, which copies out only the fields it names
(``pm2_env`` holds the app's secrets).

Between two samples, :func:`summarize` reports per app:

- ``restart_increase``: restarts since the previous sample. PM2 counts
  ``restart_time`` per instance; a count lower than before means it was reset
  (``pm2 reset``, a new daemon), and then all of it is new, as with Prometheus
  counters. An instance id absent before was created since, so all of its
  restarts are new too. ``None`` when the app was not seen before.
- ``deploy``: ``{"from": …, "to": …}`` when the app's version or git revision
  changed — a deploy marker.
- ``crash_loop``: ``"errored"`` when PM2 gave up on an instance (it then resets
  ``unstable_restarts`` to 0, so that counter alone hides the loop),
  ``"restarting"`` when restarts grew without a deploy to explain them, else
  ``None``. How many restarts make an incident is for detection to decide.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from calmopsd.pm2files import Pm2Instance
from calmopsd.pm2files import read_instance as read_instance  # re-exported: the sampler's reader

Instance = Pm2Instance  # the sampler's name for it (sense/pm2.py, tests)

# Worst first: an app's status is the worst of its instances'.
STATUS_RANK = {
    "errored": 0,
    "stopped": 2,
    "stopping": 3,
    "waiting restart": 4,
    "launching": 5,
    "one-launch-status": 6,
    "online": 7,
}
UNKNOWN_STATUS_RANK = 1  # a status this PM2 did not have: worse than anything but errored


@dataclass(frozen=True)
class AppMark:
    """What one sample remembers of an app to compare with the next."""

    restarts: Mapping[int | None, int]  # restart_time by pm_id
    version: str | None
    revision: str | None


def read_instances(decoded: Any) -> tuple[list[Pm2Instance], int] | None:
    """Instances from the decoded list, and how many entries were not understood.

    None when ``decoded`` is not a list at all (the output is unparsable).
    """
    if not isinstance(decoded, list):
        return None
    instances = [read_instance(entry) for entry in decoded]
    kept = [i for i in instances if i is not None]
    return kept, len(instances) - len(kept)


def summarize(
    instances: Iterable[Pm2Instance], now_ms: int, previous: Mapping[str, AppMark] | None
) -> tuple[dict[str, dict[str, Any]], dict[str, AppMark]]:
    """Per-app values (compared with ``previous`` when given) and the marks for next time."""
    by_app: dict[str, list[Pm2Instance]] = {}
    for instance in instances:
        by_app.setdefault(instance.name, []).append(instance)
    apps: dict[str, dict[str, Any]] = {}
    marks: dict[str, AppMark] = {}
    for name, group in sorted(by_app.items()):
        marks[name] = mark(group)
        before = previous.get(name) if previous is not None else None
        apps[name] = app_values(group, now_ms) | changes(before, marks[name], group)
    return apps, marks


def mark(group: list[Pm2Instance]) -> AppMark:
    """An app's restart counts, and the version of its most recently started instance.

    During a rolling reload instances run two versions; the newest one's is the
    app's, so the deploy marker appears once, when the first instance moves.
    """
    newest = max(group, key=lambda i: i.started_ms or 0)
    return AppMark({i.pm_id: i.restart_time for i in group}, newest.version, newest.revision)


def app_values(group: list[Pm2Instance], now_ms: int) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for instance in group:
        statuses[instance.status] = statuses.get(instance.status, 0) + 1
    uptimes = [u for u in (i.uptime_s(now_ms) for i in group) if u is not None]
    newest = mark(group)
    return {
        "status": min(statuses, key=lambda s: STATUS_RANK.get(s, UNKNOWN_STATUS_RANK)),
        "statuses": dict(sorted(statuses.items())),
        "instances": len(group),
        "online": statuses.get("online", 0),
        "restart_time": sum(i.restart_time for i in group),
        "unstable_restarts": sum(i.unstable_restarts for i in group),
        "uptime_s": min(uptimes) if uptimes else None,
        "memory_bytes": sum(i.memory_bytes or 0 for i in group),
        "cpu_percent": _finite(round(sum(i.cpu_percent or 0.0 for i in group), 1)),
        "exec_mode": group[0].exec_mode,
        "version": newest.version,
        "revision": newest.revision,
    }


def changes(before: AppMark | None, now: AppMark, group: list[Pm2Instance]) -> dict[str, Any]:
    increase = restart_increase(before, now)
    deploy = None
    if before is not None and (before.version, before.revision) != (now.version, now.revision):
        deploy = {
            "from": {"version": before.version, "revision": before.revision},
            "to": {"version": now.version, "revision": now.revision},
        }
    crash_loop = None
    if any(i.status == "errored" for i in group):
        crash_loop = "errored"
    elif increase and deploy is None:
        crash_loop = "restarting"
    return {"restart_increase": increase, "deploy": deploy, "crash_loop": crash_loop}


def restart_increase(before: AppMark | None, now: AppMark) -> int | None:
    if before is None:
        return None
    total = 0
    for pm_id, count in now.restarts.items():
        earlier = before.restarts.get(pm_id)
        total += count - earlier if earlier is not None and count >= earlier else count
    return total


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
