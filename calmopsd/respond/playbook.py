"""Stabilize first: the next safe action for an incident, or the named reason for none.

The playbook (config) lists, per incident type, the actions the agent may try
on its own, in order. Each action also has a fit test in :data:`FITS`, read
against the current :class:`Situation`: a PM2 restart needs an app to restart,
an nginx reload needs nginx to be the failing hop, and so on. The first
listed action that fits and was not tried yet for this incident wins. Budgets
and cooldowns are the executor's; this only decides what to ask for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from calmopsd.model import IncidentType, SafeAction
from calmopsd.shapes import Pm2App


class HoldReason(StrEnum):
    """Why the agent asks for nothing; recorded and shown in the summary."""

    PLAYBOOK_EMPTY = "playbook_empty"  # the type has no automatic actions (deploy)
    DEPLOY_WINDOW = "deploy_window"  # the app was just deployed: no restarting around it
    NOTHING_FITS = "nothing_fits"  # listed actions do not match what is failing
    ALL_TRIED = "all_tried"  # every fitting action was tried already


@dataclass(frozen=True)
class Situation:
    """What the playbook looks at: the incident and the latest readings around it."""

    incident_type: IncidentType
    resource: dict[str, str]  # the incident's labels: app, mount, check, probe
    apps: Mapping[str, Pm2App] = field(default_factory=dict)  # PM2 apps by name
    # A failing health check through nginx answered 502/504 while every app is online:
    # nginx shows the fault, and a reload may help.
    nginx_bad_gateway: bool = False
    # Whether a failing health check goes through nginx (None: none fails, or not said).
    failing_via_nginx: bool | None = None
    disk_breached: bool = False  # a disk rule is firing: the disk is the cause
    deployed: str | None = None  # an app inside its deploy window
    organization: str | None = None  # the incident's organization; None: platform-wide
    # nginx can limit one organization's uploads (actions.rate_limit_uploads.
    # organizations_map_file is set): the limit then fits an organization's incident.
    limits_organizations: bool = False
    # Apps a pause of calmopsd's own (pause_jobs) holds stopped: stopped on purpose, and
    # never restarted behind the pause's back (found by a tester: a probe down, the paused
    # worker was restarted for a failing web check).
    paused_apps: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Step:
    action: SafeAction
    params: dict[str, Any]
    reason: str  # why this action, in plain words


@dataclass(frozen=True)
class Hold:
    reason: HoldReason
    detail: str


def _largest_app(s: Situation) -> Step | str:
    memory = {n: a.memory_bytes or 0 for n, a in s.apps.items()}
    app = s.resource.get("app") or (max(memory, key=lambda n: memory[n]) if memory else None)
    if app is None:
        return "no PM2 app to restart"
    return Step(SafeAction.PM2_RESTART, {"app": app}, f"`{app}` holds the most memory")


def _down_app(s: Situation) -> Step | str:
    down = sorted(
        n
        for n, a in s.apps.items()
        if a.status in ("errored", "stopped") and n not in s.paused_apps
    )
    app = s.resource.get("app")
    if app is not None and app in s.paused_apps:
        return f"`{app}` is stopped by calmopsd's own pause of background jobs"
    if app is not None and app in down:
        return Step(SafeAction.PM2_RESTART, {"app": app}, f"`{app}` is {s.apps[app].status}")
    if app is None and down:
        return Step(SafeAction.PM2_RESTART, {"app": down[0]}, f"`{down[0]}` is not running")
    if app is not None and app in s.apps and s.apps[app].crash_loop:
        return f"`{app}` crashes while PM2 restarts it: another restart would not help"
    if app is not None and app in s.apps:
        return f"`{app}` is {s.apps[app].status}, not errored or stopped"
    return "no PM2 app is errored or stopped"


def _pm2_restart(s: Situation) -> Step | str:
    return _largest_app(s) if s.incident_type is IncidentType.MEMORY else _down_app(s)


def _nginx_reload(s: Situation) -> Step | str:
    """Only when the failing path goes through nginx and nginx shows the fault."""
    if s.nginx_bad_gateway:
        return Step(SafeAction.NGINX_RELOAD, {}, "nginx answers 502/504 while the apps are online")
    if s.failing_via_nginx is False:
        return "the failing health check does not go through nginx"
    return "nginx shows no fault (no 502 or 504 from it)"


def _pause_jobs(s: Situation) -> Step | str:
    return Step(SafeAction.PAUSE_JOBS, {}, "stop piling work on a failing dependency")


def _rate_limit_uploads(s: Situation) -> Step | str:
    if s.disk_breached:
        return "the disk, not load, is the cause"
    if s.organization is not None and s.limits_organizations:
        return Step(
            SafeAction.RATE_LIMIT_UPLOADS,
            {"organization": s.organization},
            f"{s.organization}'s upload failures look like overload: limit its uploads alone",
        )
    if s.organization is not None:
        # The limit is host-wide: it would throttle every organization for one's problem.
        return f"an upload limit is host-wide, and only {s.organization}'s uploads fail"
    return Step(SafeAction.RATE_LIMIT_UPLOADS, {}, "upload failures look like overload")


def _clear_temp(s: Situation) -> Step | str:
    if s.incident_type is IncidentType.DISK or s.disk_breached:
        mount = s.resource.get("mount")
        where = f" on {mount}" if mount else ""
        return Step(SafeAction.CLEAR_TEMP, {}, f"free space{where} held by old temp uploads")
    return "the disk is not the cause"


FITS: dict[SafeAction, Callable[[Situation], Step | str]] = {
    SafeAction.PM2_RESTART: _pm2_restart,
    SafeAction.NGINX_RELOAD: _nginx_reload,
    SafeAction.PAUSE_JOBS: _pause_jobs,
    SafeAction.RATE_LIMIT_UPLOADS: _rate_limit_uploads,
    SafeAction.CLEAR_TEMP: _clear_temp,
}


def choose(
    actions: list[SafeAction], situation: Situation, tried: frozenset[SafeAction] = frozenset()
) -> Step | Hold:
    """The first listed, fitting, untried action; else why there is none."""
    if not actions and situation.incident_type is IncidentType.DEPLOY:
        app = f"`{situation.deployed}`" if situation.deployed else "an app"
        return Hold(HoldReason.DEPLOY_WINDOW, f"{app} was just deployed")
    if not actions:
        return Hold(
            HoldReason.PLAYBOOK_EMPTY, f"nothing is automatic for {situation.incident_type}"
        )
    misfits: list[str] = []
    for action in actions:
        if action in tried:
            continue
        fit = FITS[action](situation)
        if isinstance(fit, str):
            misfits.append(fit)
        elif action is SafeAction.PM2_RESTART and fit.params.get("app") == situation.deployed:
            return Hold(HoldReason.DEPLOY_WINDOW, f"`{situation.deployed}` was just deployed")
        else:
            return fit
    if not misfits:
        return Hold(HoldReason.ALL_TRIED, "every action in the playbook was tried")
    return Hold(HoldReason.NOTHING_FITS, "; ".join(misfits))
