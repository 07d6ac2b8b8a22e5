"""What the root-cause decision weighs, gathered from one incident's events and the
snapshots around it (pure: the caller reads the store).

Snapshots are read through their typed shapes (:mod:`calmopsd.shapes`), so an old or
odd one reads as empty rather than failing the review. Only snapshots up to the
incident's resolution count: what came after is another story.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from calmopsd.learn.timeline import Run, runs
from calmopsd.learn.timings import first_breach_at
from calmopsd.model import AuditEvent, HealthSnapshot, Incident
from calmopsd.shapes import DiskValues, Pm2Values, ProbeValues

DEPLOY_WINDOW = timedelta(minutes=15)  # as incidents.deploy_window ships
LOOKBACK = timedelta(minutes=60)  # snapshots read before the first breach


@dataclass(frozen=True)
class MemoryPoint:
    at: datetime
    memory_bytes: int
    restarted: bool  # PM2 counted a restart since the sample before


@dataclass(frozen=True)
class Deployed:
    at: datetime
    app: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class Clues:
    incident_type: str
    basis: str | None  # the classification row that typed it
    detail: str | None  # that row's sentence
    first_breach_at: datetime | None
    opened_at: datetime | None
    resolved_at: datetime | None
    runs: tuple[Run, ...] = ()
    memory: Mapping[str, tuple[MemoryPoint, ...]] = field(default_factory=dict)  # by app
    deploys: tuple[Deployed, ...] = ()
    probes_down: Mapping[str, datetime] = field(default_factory=dict)  # first seen down
    disk_used: Mapping[str, tuple[tuple[datetime, float], ...]] = field(default_factory=dict)
    deploy_window: timedelta = DEPLOY_WINDOW


def gather(
    incident: Incident,
    events: Sequence[AuditEvent],
    snapshots: Iterable[HealthSnapshot],
    *,
    deploy_window: timedelta = DEPLOY_WINDOW,
) -> Clues:
    """The clues of ``incident`` from its ``events`` (oldest first) and ``snapshots``."""
    classified = [e for e in events if e.kind in ("incident.classified", "incident.reclassified")]
    first = classified[0].data if classified else {}
    opened = next((e.at for e in events if e.kind == "incident.opened"), None)
    resolved = [
        e.at
        for e in events
        if e.kind == "incident.status_changed" and e.data.get("to") == "resolved"
    ]
    until = resolved[-1] if resolved else None
    kept = [s for s in snapshots if s.ok and (until is None or s.taken_at <= until)]
    kept.sort(key=lambda s: s.taken_at)
    return Clues(
        incident_type=str(incident.type),
        basis=str(first.get("basis")) if first.get("basis") else None,
        detail=str(first.get("detail")) if first.get("detail") else None,
        first_breach_at=first_breach_at(incident.evidence),
        opened_at=opened,
        resolved_at=until,
        runs=runs(events),
        memory=_memory([s for s in kept if s.sampler == "pm2"]),
        deploys=_deploys([s for s in kept if s.sampler == "pm2"]),
        probes_down=_probes_down([s for s in kept if s.sampler == "dependencies"]),
        disk_used=_disk([s for s in kept if s.sampler == "disk"]),
        deploy_window=deploy_window,
    )


def _memory(snapshots: list[HealthSnapshot]) -> dict[str, tuple[MemoryPoint, ...]]:
    points: dict[str, list[MemoryPoint]] = {}
    for snapshot in snapshots:
        for name, app in Pm2Values.parse(snapshot.readings).apps.items():
            if app.memory_bytes is None:
                continue
            restarted = bool(app.restart_increase)
            points.setdefault(name, []).append(
                MemoryPoint(snapshot.taken_at, app.memory_bytes, restarted)
            )
    return {name: tuple(found) for name, found in points.items()}


def _deploys(snapshots: list[HealthSnapshot]) -> tuple[Deployed, ...]:
    found = []
    for snapshot in snapshots:
        for name, app in sorted(Pm2Values.parse(snapshot.readings).apps.items()):
            if app.deploy is not None:
                before, after = app.deploy.before, app.deploy.after
                found.append(Deployed(
                    snapshot.taken_at, name, before.version or before.revision,
                    after.version or after.revision,
                ))  # fmt: skip
    return tuple(found)


def _probes_down(snapshots: list[HealthSnapshot]) -> dict[str, datetime]:
    down: dict[str, datetime] = {}
    for snapshot in snapshots:
        for name, probe in ProbeValues.parse(snapshot.readings).probes.items():
            if probe.up is False:
                down.setdefault(name, snapshot.taken_at)
    return down


def _disk(snapshots: list[HealthSnapshot]) -> dict[str, tuple[tuple[datetime, float], ...]]:
    used: dict[str, list[tuple[datetime, float]]] = {}
    for snapshot in snapshots:
        for mount, values in DiskValues.parse(snapshot.readings).mounts.items():
            if values.used_percent is not None:
                used.setdefault(mount, []).append((snapshot.taken_at, values.used_percent))
    return {mount: tuple(points) for mount, points in used.items()}
