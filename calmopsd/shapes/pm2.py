"""The ``pm2`` sampler's values (:mod:`calmopsd.sense.pm2`, :mod:`calmopsd.sense.pm2_parse`).

``state`` is ``ok`` when PM2 was read; otherwise (``not_running``,
``not_installed``, ``unparsable``, ``error``) ``detail`` says why and the app
and instance lists are empty. None means the reading did not say (no PM2
reading yet, or one stored without it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from calmopsd.shapes.fields import (
    by_name,
    counts,
    each,
    integer,
    mapping,
    optional_integer,
    optional_number,
    text,
    texts,
)


@dataclass(frozen=True, slots=True)
class AppVersion:
    """An app's package.json version and git revision, either of which PM2 may not know."""

    version: str | None = None
    revision: str | None = None

    @classmethod
    def parse(cls, values: object) -> Self:
        v = mapping(values)
        return cls(text(v.get("version")), text(v.get("revision")))

    def to_values(self) -> dict[str, Any]:
        return {"version": self.version, "revision": self.revision}


@dataclass(frozen=True, slots=True)
class Deploy:
    """A deploy marker: the app's version changed between two samples (``from``, ``to``)."""

    before: AppVersion = AppVersion()
    after: AppVersion = AppVersion()

    @classmethod
    def parse(cls, values: object) -> Self:
        v = mapping(values)
        return cls(AppVersion.parse(v.get("from")), AppVersion.parse(v.get("to")))

    def to_values(self) -> dict[str, Any]:
        return {"from": self.before.to_values(), "to": self.after.to_values()}


@dataclass(frozen=True, slots=True)
class Pm2App:
    """One app, over all its instances; the change fields compare with the sample before.

    ``status`` is the worst of its instances' (``unknown`` when not said);
    ``restart_increase`` is None when the app was not seen before; ``crash_loop``
    is ``errored``, ``restarting`` or None.
    """

    status: str = "unknown"
    statuses: Mapping[str, int] = field(default_factory=dict)  # instances by status
    instances: int = 0
    online: int = 0
    restart_time: int = 0
    unstable_restarts: int = 0
    uptime_s: float | None = None  # the youngest online instance's
    memory_bytes: int | None = None
    cpu_percent: float | None = None
    exec_mode: str | None = None
    version: str | None = None
    revision: str | None = None
    restart_increase: int | None = None
    deploy: Deploy | None = None
    crash_loop: str | None = None

    @classmethod
    def parse(cls, values: object) -> Self:
        v = mapping(values)
        deploy = v.get("deploy")
        return cls(
            status=text(v.get("status")) or "unknown",
            statuses=counts(v.get("statuses")),
            instances=integer(v.get("instances")),
            online=integer(v.get("online")),
            restart_time=integer(v.get("restart_time")),
            unstable_restarts=integer(v.get("unstable_restarts")),
            uptime_s=optional_number(v.get("uptime_s")),
            memory_bytes=optional_integer(v.get("memory_bytes")),
            cpu_percent=optional_number(v.get("cpu_percent")),
            exec_mode=text(v.get("exec_mode")),
            version=text(v.get("version")),
            revision=text(v.get("revision")),
            restart_increase=optional_integer(v.get("restart_increase")),
            deploy=Deploy.parse(deploy) if isinstance(deploy, Mapping) and deploy else None,
            crash_loop=text(v.get("crash_loop")),
        )

    def to_values(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "statuses": dict(self.statuses),
            "instances": self.instances,
            "online": self.online,
            "restart_time": self.restart_time,
            "unstable_restarts": self.unstable_restarts,
            "uptime_s": self.uptime_s,
            "memory_bytes": self.memory_bytes,
            "cpu_percent": self.cpu_percent,
            "exec_mode": self.exec_mode,
            "version": self.version,
            "revision": self.revision,
            "restart_increase": self.restart_increase,
            "deploy": self.deploy.to_values() if self.deploy is not None else None,
            "crash_loop": self.crash_loop,
        }


@dataclass(frozen=True, slots=True)
class AppInstance:
    """One PM2 process: a fork app, or one instance of a cluster app."""

    name: str | None = None
    pm_id: int | None = None
    pid: int | None = None  # None when PM2 runs no process for it
    status: str = "unknown"
    restart_time: int = 0
    unstable_restarts: int = 0
    uptime_s: float | None = None  # only an online instance has one
    memory_bytes: int | None = None
    cpu_percent: float | None = None
    exec_mode: str | None = None
    version: str | None = None
    revision: str | None = None
    exit_code: int | None = None

    @classmethod
    def parse(cls, values: object) -> Self:
        v = mapping(values)
        return cls(
            name=text(v.get("name")),
            pm_id=optional_integer(v.get("pm_id")),
            pid=optional_integer(v.get("pid")),
            status=text(v.get("status")) or "unknown",
            restart_time=integer(v.get("restart_time")),
            unstable_restarts=integer(v.get("unstable_restarts")),
            uptime_s=optional_number(v.get("uptime_s")),
            memory_bytes=optional_integer(v.get("memory_bytes")),
            cpu_percent=optional_number(v.get("cpu_percent")),
            exec_mode=text(v.get("exec_mode")),
            version=text(v.get("version")),
            revision=text(v.get("revision")),
            exit_code=optional_integer(v.get("exit_code")),
        )

    def to_values(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pm_id": self.pm_id,
            "pid": self.pid,
            "status": self.status,
            "restart_time": self.restart_time,
            "unstable_restarts": self.unstable_restarts,
            "uptime_s": self.uptime_s,
            "memory_bytes": self.memory_bytes,
            "cpu_percent": self.cpu_percent,
            "exec_mode": self.exec_mode,
            "version": self.version,
            "revision": self.revision,
            "exit_code": self.exit_code,
        }


@dataclass(frozen=True, slots=True)
class Pm2Values:
    """One PM2 daemon's process list: apps by name, instances by (name, pm_id)."""

    state: str | None = None  # a sense.pm2.Pm2State value
    detail: str | None = None
    pm2_home: str | None = None
    source: str | None = None  # "rpc" or "jlist"
    pm2_version: str | None = None
    fallback: str | None = None  # why the socket was not used
    apps: Mapping[str, Pm2App] = field(default_factory=dict)
    instances: tuple[AppInstance, ...] = ()
    skipped: int = 0  # list entries not understood
    gone: tuple[str, ...] = ()  # apps listed last time and not now

    @classmethod
    def parse(cls, values: object) -> Self:
        v = mapping(values)
        return cls(
            state=text(v.get("state")),
            detail=text(v.get("detail")),
            pm2_home=text(v.get("pm2_home")),
            source=text(v.get("source")),
            pm2_version=text(v.get("pm2_version")),
            fallback=text(v.get("fallback")),
            apps=by_name(v.get("apps"), Pm2App.parse),
            instances=each(v.get("instances"), AppInstance.parse),
            skipped=integer(v.get("skipped")),
            gone=texts(v.get("gone")),
        )

    def to_values(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "detail": self.detail,
            "pm2_home": self.pm2_home,
            "source": self.source,
            "pm2_version": self.pm2_version,
            "fallback": self.fallback,
            "apps": {name: app.to_values() for name, app in self.apps.items()},
            "instances": [i.to_values() for i in self.instances],
            "skipped": self.skipped,
            "gone": list(self.gone),
        }
