"""The context classification weighs: what PM2, the health checks and the probes said lately.

:class:`Context` is fed the same readings as the detector (``observe``) and,
for a breach, gathers an :class:`~calmopsd.detect.classify.Evidence`. It keeps
the latest values of every sampler (logs, disk and memory for the agent's
impact and playbook checks), when each app was last
deployed (a ``deploy`` marker in a PM2 reading), and each app's memory over
``memory_window`` so a crash loop can be told apart by whether memory climbed
before each restart. Memory is bounded: one reading per sampler, plus a window
of samples per app currently listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from calmopsd.detect.classify import DEPLOY_WINDOW, Evidence
from calmopsd.model import Breach, Reading
from calmopsd.shapes import (
    CheckResult,
    DiskValues,
    HttpValues,
    LogsValues,
    MemoryValues,
    Pm2App,
    Pm2Values,
    Probe,
    ProbeValues,
)

MEMORY_WINDOW = timedelta(minutes=30)
CLIMB_RATIO = 1.2  # memory at least 20 % above where it started since the last restart


@dataclass(frozen=True)
class MemorySample:
    at: datetime
    memory_bytes: int
    restarted: bool  # this sample is the first after one or more restarts


def climbed(samples: list[MemorySample], ratio: float = CLIMB_RATIO) -> bool:
    """True when memory rose by ``ratio`` between every two restarts seen (at least one).

    A sample marked ``restarted`` already shows the fresh process, so it starts
    the next stretch; each stretch that a restart ended, and that holds two
    samples or more, must end above ``ratio`` times where it began.
    """
    stretches: list[list[int]] = [[]]
    for sample in samples:
        if sample.restarted:
            stretches.append([])
        stretches[-1].append(sample.memory_bytes)
    ended = [s for s in stretches[:-1] if len(s) >= 2]  # the last is still open
    return bool(ended) and all(s[-1] > s[0] * ratio for s in ended)


class Context:
    """Recent PM2, health-check and probe facts, for classification.

    Each sampler's latest values are kept in their typed shape (:mod:`calmopsd.shapes`),
    empty until its first reading that worked.
    """

    def __init__(
        self, memory_window: timedelta = MEMORY_WINDOW, deploy_window: timedelta = DEPLOY_WINDOW
    ):
        self.memory_window = memory_window
        self.deploy_window = deploy_window
        self.pm2 = Pm2Values()
        self.checks: Mapping[str, CheckResult] = {}
        self.logs = LogsValues()
        self.disk = DiskValues()
        self.memory = MemoryValues()
        self.probes: Mapping[str, Probe] = {}
        self.deploys: dict[str, datetime] = {}
        # app → the marker as stored ({"from": …, "to": …}): recommendations carry it as is
        self.deploy_marks: dict[str, dict[str, Any]] = {}
        self.app_memory: dict[str, list[MemorySample]] = {}

    def observe(self, reading: Reading) -> None:
        """Remember what ``reading`` says; failed readings and other samplers change nothing."""
        if not reading.ok:
            return
        if reading.sampler == "logs":
            self.logs = LogsValues.parse(reading.values)
        elif reading.sampler == "disk":
            self.disk = DiskValues.parse(reading.values)
        elif reading.sampler == "memory":
            self.memory = MemoryValues.parse(reading.values)
        elif reading.sampler == "http":
            self.checks = HttpValues.parse(reading.values).checks
        elif reading.sampler == "dependencies":
            self.probes = ProbeValues.parse(reading.values).probes
        elif reading.sampler == "pm2":
            self._pm2(Pm2Values.parse(reading.values), reading.taken_at)

    def _pm2(self, values: Pm2Values, now: datetime) -> None:
        self.pm2 = values
        apps = values.apps
        for name, app in apps.items():
            if app.deploy is not None:
                self.deploys[name] = now
                self.deploy_marks[name] = app.deploy.to_values()
            if app.memory_bytes is not None:
                window = self.app_memory.get(name, [])
                kept = [s for s in window if s.at > now - self.memory_window]
                restarted = bool(app.restart_increase)
                self.app_memory[name] = [*kept, MemorySample(now, app.memory_bytes, restarted)]
        self.app_memory = {name: s for name, s in self.app_memory.items() if name in apps}
        self.deploys = {name: at for name, at in self.deploys.items() if name in apps}
        self.deploy_marks = {n: m for n, m in self.deploy_marks.items() if n in self.deploys}

    def latest_deploy(self, app: str | None = None) -> tuple[str, datetime] | None:
        """The app deployed most recently (or ``app``'s deploy) and when, if any was seen."""
        return self._latest_deploy(app)

    def evidence(self, breach: Breach) -> Evidence:
        """What classification needs about ``breach``, from the latest readings."""
        labels = dict(breach.labels)
        failing = {
            name: check
            for name, check in self.checks.items()
            if check.down and labels.get("check", name) == name
        }
        apps = self.pm2.apps
        app = labels.get("app")  # a breach about one app weighs that app's loop only
        looping = tuple(sorted(n for n, a in apps.items() if a.crash_loop and app in (None, n)))
        deployed = self._latest_deploy(labels.get("app"))
        return Evidence(
            sampler=str(breach.evidence.get("sampler", "")),
            rule_type=breach.type,
            since_deploy=breach.started_at - deployed[1] if deployed else None,
            deployed_app=deployed[0] if deployed else None,
            health_failure=next((c.failure for c in failing.values()), None),
            health_status=next((c.status for c in failing.values()), None),
            health_via_nginx=next((c.via_nginx for c in failing.values()), None),
            failed_dependencies=tuple(
                sorted({d for c in failing.values() for d in c.failed_dependencies})
            ),
            probes_down=tuple(sorted(n for n, p in self.probes.items() if p.down)),
            apps_online=self._all_online(apps),
            crash_looping=looping,
            memory_climbed=tuple(n for n in looping if climbed(self.app_memory.get(n, []))),
            deploy_window=self.deploy_window,
        )

    def _latest_deploy(self, app: str | None) -> tuple[str, datetime] | None:
        candidates = {n: at for n, at in self.deploys.items() if app is None or n == app}
        if not candidates:
            return None
        name = max(candidates, key=lambda n: candidates[n])
        return name, candidates[name]

    def _all_online(self, apps: Mapping[str, Pm2App]) -> bool | None:
        if self.pm2.state != "ok" or not apps:
            return None
        return all(a.status == "online" for a in apps.values())
