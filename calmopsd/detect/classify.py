"""Evidence → exactly one incident type, and the row of :data:`CLASSIFICATION` that decided it.

The rows are read top to bottom and the first whose test holds wins, so the
order is the precedence: a host resource measured by its own sampler is that
resource; a failing dependency explains the errors above it; a crash loop whose
memory climbed before each restart is memory, even after a deploy; errors that
(or a crash loop) that began inside the deploy window are the deploy's; a health check that cannot
connect while PM2 says the app is online is the network in between. The last
row falls back to the type the rule names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from calmopsd.model import IncidentType

DEPLOY_WINDOW = timedelta(minutes=15)
# Health-check failures that mean "could not talk to it at all", not "it answered badly".
UNREACHABLE = frozenset({"connection_refused", "timeout", "connection_error"})
# What nginx answers when it cannot reach the app behind it.
BAD_GATEWAY = frozenset({502, 504})


@dataclass(frozen=True)
class Evidence:
    """What classification weighs, gathered around one breach.

    ``since_deploy`` is how long before the breach started the latest PM2
    version or revision change happened (None: none seen). ``apps_online`` is
    True when PM2 reports every app online, None when PM2 gave no answer.
    """

    sampler: str
    rule_type: IncidentType
    since_deploy: timedelta | None = None
    deployed_app: str | None = None
    health_failure: str | None = None
    health_status: int | None = None  # the failing check's HTTP status, if it got one
    health_via_nginx: bool | None = None  # its URL goes through nginx (None: not said)
    failed_dependencies: tuple[str, ...] = ()
    probes_down: tuple[str, ...] = ()
    apps_online: bool | None = None
    crash_looping: tuple[str, ...] = ()
    memory_climbed: tuple[str, ...] = ()  # crash-looping apps whose memory rose before restarts
    deploy_window: timedelta = DEPLOY_WINDOW  # incidents.deploy_window


class Basis(StrEnum):
    """Why an incident got its type; stored with it as the deciding evidence."""

    HOST_MEMORY = "host_memory"
    HOST_DISK = "host_disk"
    DEPENDENCY_PROBE_DOWN = "dependency_probe_down"
    HEALTH_NAMES_FAILED_DEPENDENCY = "health_names_failed_dependency"
    MEMORY_CLIMB_BEFORE_RESTARTS = "memory_climb_before_restarts"
    AFTER_DEPLOY = "after_deploy"
    APP_CRASH_LOOP = "app_crash_loop"
    UNREACHABLE_WHILE_ONLINE = "unreachable_while_online"
    APP_UNREACHABLE_WHILE_ONLINE = "app_unreachable_while_online"
    NGINX_BAD_GATEWAY = "nginx_bad_gateway"
    RULE_TYPE = "rule_type"


@dataclass(frozen=True)
class Classification:
    """The type, the row that decided it, and — when the evidence points at one —
    the resource the problem is really about (the probe that is down, the app that
    was deployed), so the errors it causes join that problem's incident."""

    type: IncidentType
    basis: Basis
    detail: str
    resource: tuple[tuple[str, str], ...] | None = None


def _in_deploy_window(e: Evidence) -> bool:
    """Server errors or a crash loop that began inside the deploy window.

    Only those: a health check, an upload rate or a probe failing right after a
    deploy keeps its own (narrower) explanation.
    """
    errors = e.sampler == "logs" and e.rule_type is not IncidentType.UPLOAD
    if not (errors or e.sampler == "pm2"):
        return False
    return e.since_deploy is not None and timedelta(0) <= e.since_deploy <= e.deploy_window


def _unreachable_while_online(e: Evidence) -> bool:
    """Through nginx (or not said), nothing answers while PM2 says every app is online."""
    return (
        e.health_failure in UNREACHABLE
        and e.apps_online is True
        and e.health_via_nginx is not False
    )


def _app_unreachable_while_online(e: Evidence) -> bool:
    """Straight to an app's own port, nothing answers while PM2 says it is online: the
    app, not the network, is what fails."""
    return e.health_failure in UNREACHABLE and e.apps_online is True and e.health_via_nginx is False


def _nginx_bad_gateway(e: Evidence) -> bool:
    """nginx answers 502 or 504 while PM2 says every app is online: the hop between them."""
    return (
        e.health_via_nginx is not False and e.health_status in BAD_GATEWAY and e.apps_online is True
    )


def _always(e: Evidence) -> bool:
    return True


T = IncidentType
RULE = None  # the type the breached rule names

CLASSIFICATION: tuple[tuple[Basis, Callable[[Evidence], bool], IncidentType | None], ...] = (
    # basis                                  when                                    type
    (Basis.HOST_MEMORY,                      lambda e: e.sampler == "memory",        T.MEMORY),
    (Basis.HOST_DISK,                        lambda e: e.sampler == "disk",          T.DISK),
    (Basis.DEPENDENCY_PROBE_DOWN,            lambda e: bool(e.probes_down),          T.DEPENDENCY),
    (Basis.HEALTH_NAMES_FAILED_DEPENDENCY,   lambda e: bool(e.failed_dependencies),  T.DEPENDENCY),
    (Basis.MEMORY_CLIMB_BEFORE_RESTARTS,     lambda e: bool(e.memory_climbed),       T.MEMORY),
    (Basis.AFTER_DEPLOY,                     _in_deploy_window,                      T.DEPLOY),
    (Basis.APP_CRASH_LOOP,                   lambda e: bool(e.crash_looping),        T.APP),
    (Basis.UNREACHABLE_WHILE_ONLINE,         _unreachable_while_online,              T.NETWORK),
    (Basis.APP_UNREACHABLE_WHILE_ONLINE,     _app_unreachable_while_online,          T.APP),
    (Basis.NGINX_BAD_GATEWAY,                _nginx_bad_gateway,                     T.NETWORK),
    (Basis.RULE_TYPE,                        _always,                                RULE),
)  # fmt: skip


def classify(evidence: Evidence) -> Classification:
    """The first row of :data:`CLASSIFICATION` that holds for ``evidence``."""
    for basis, holds, incident_type in CLASSIFICATION:
        if holds(evidence):
            chosen = incident_type or evidence.rule_type
            detail = describe(basis, evidence, chosen)
            return Classification(chosen, basis, detail, _resource(basis, evidence))
    raise AssertionError("the last row always holds")


def _resource(basis: Basis, e: Evidence) -> tuple[tuple[str, str], ...] | None:
    if basis is Basis.DEPENDENCY_PROBE_DOWN:
        return (("probe", e.probes_down[0]),)
    if basis is Basis.MEMORY_CLIMB_BEFORE_RESTARTS:
        return (("app", e.memory_climbed[0]),)
    if basis is Basis.AFTER_DEPLOY and e.deployed_app:
        return (("app", e.deployed_app),)
    if basis is Basis.APP_CRASH_LOOP:
        return (("app", e.crash_looping[0]),)
    return None


def describe(basis: Basis, e: Evidence, chosen: IncidentType) -> str:
    """One plain sentence naming the evidence that decided."""
    texts = {
        Basis.HOST_MEMORY: "host memory in use crossed its threshold",
        Basis.HOST_DISK: "disk space on the host crossed its threshold",
        Basis.DEPENDENCY_PROBE_DOWN: f"dependency probe down: {', '.join(e.probes_down)}",
        Basis.HEALTH_NAMES_FAILED_DEPENDENCY: "health check reports failed dependency: "
        + ", ".join(e.failed_dependencies),
        Basis.MEMORY_CLIMB_BEFORE_RESTARTS: "memory climbed before each restart of "
        + ", ".join(e.memory_climbed),
        Basis.AFTER_DEPLOY: f"began {_minutes(e.since_deploy)} after a deploy of "
        f"{e.deployed_app or 'an app'}",
        Basis.APP_CRASH_LOOP: "crashing while PM2 restarts it: " + ", ".join(e.crash_looping),
        Basis.UNREACHABLE_WHILE_ONLINE: f"health check {e.health_failure} while PM2 reports "
        "every app online",
        Basis.APP_UNREACHABLE_WHILE_ONLINE: f"health check {e.health_failure} on the app's "
        "own port while PM2 reports every app online",
        Basis.NGINX_BAD_GATEWAY: f"nginx answers {e.health_status} while PM2 reports every "
        "app online",
        Basis.RULE_TYPE: f"no stronger evidence; the rule's type is {chosen}",
    }
    return texts[basis]


def _minutes(delta: timedelta | None) -> str:
    minutes = int((delta or timedelta(0)).total_seconds() // 60)
    return "under a minute" if minutes < 1 else f"{minutes} min"
