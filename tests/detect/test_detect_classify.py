"""Classification: the table, case by case, and the Context that gathers its evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from calmopsd.config.rules import default_rules
from calmopsd.detect import Basis, Breach, Context, Detector, Evidence, Reason, classify
from calmopsd.detect.evidence import MemorySample, climbed
from calmopsd.model import IncidentType, Reading, Severity

T0 = datetime(2026, 1, 1, 14, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
T = IncidentType

CASES: list[tuple[str, Evidence, IncidentType, Basis]] = [
    ("host memory", Evidence("memory", T.MEMORY), T.MEMORY, Basis.HOST_MEMORY),
    ("host disk", Evidence("disk", T.DISK), T.DISK, Basis.HOST_DISK),
    ("disk stays disk right after a deploy",
     Evidence("disk", T.DISK, since_deploy=2 * MIN), T.DISK, Basis.HOST_DISK),
    ("server errors 5 min after a version change",
     Evidence("logs", T.NETWORK, since_deploy=5 * MIN, deployed_app="api"),
     T.DEPLOY, Basis.AFTER_DEPLOY),
    ("server errors exactly 15 min after the deploy",
     Evidence("logs", T.NETWORK, since_deploy=15 * MIN), T.DEPLOY, Basis.AFTER_DEPLOY),
    ("server errors 16 min after the deploy are not the deploy's",
     Evidence("logs", T.NETWORK, since_deploy=16 * MIN), T.NETWORK, Basis.RULE_TYPE),
    ("errors that began before the deploy are not the deploy's",
     Evidence("logs", T.NETWORK, since_deploy=-MIN), T.NETWORK, Basis.RULE_TYPE),
    ("health check refused while PM2 says online",
     Evidence("http", T.NETWORK, health_failure="connection_refused", apps_online=True),
     T.NETWORK, Basis.UNREACHABLE_WHILE_ONLINE),
    ("health check refused inside a deploy window is still the network",
     Evidence("http", T.NETWORK, health_failure="connection_refused", apps_online=True,
              since_deploy=2 * MIN), T.NETWORK, Basis.UNREACHABLE_WHILE_ONLINE),
    ("upload failures inside a deploy window stay uploads",
     Evidence("logs", T.UPLOAD, since_deploy=2 * MIN), T.UPLOAD, Basis.RULE_TYPE),
    ("health check timing out while PM2 says online",
     Evidence("http", T.NETWORK, health_failure="timeout", apps_online=True),
     T.NETWORK, Basis.UNREACHABLE_WHILE_ONLINE),
    ("health check refused while the app is down falls back to the rule",
     Evidence("http", T.NETWORK, health_failure="connection_refused", apps_online=False),
     T.NETWORK, Basis.RULE_TYPE),
    ("dependency probe down",
     Evidence("dependencies", T.DEPENDENCY, probes_down=("postgres",)),
     T.DEPENDENCY, Basis.DEPENDENCY_PROBE_DOWN),
    ("server errors while a probe is down",
     Evidence("logs", T.NETWORK, probes_down=("postgres",)),
     T.DEPENDENCY, Basis.DEPENDENCY_PROBE_DOWN),
    ("health body names a failed dependency",
     Evidence("http", T.NETWORK, health_failure="body_check_failed", failed_dependencies=("db",),
              apps_online=True),
     T.DEPENDENCY, Basis.HEALTH_NAMES_FAILED_DEPENDENCY),
    ("a failed dependency outranks a recent deploy",
     Evidence("logs", T.NETWORK, since_deploy=3 * MIN, failed_dependencies=("redis",)),
     T.DEPENDENCY, Basis.HEALTH_NAMES_FAILED_DEPENDENCY),
    ("crash loop whose memory climbed before each restart",
     Evidence("pm2", T.NETWORK, crash_looping=("api",), memory_climbed=("api",)),
     T.MEMORY, Basis.MEMORY_CLIMB_BEFORE_RESTARTS),
    ("crash loop right after a deploy, memory flat",
     Evidence("pm2", T.NETWORK, since_deploy=MIN, crash_looping=("api",)),
     T.DEPLOY, Basis.AFTER_DEPLOY),
    ("crash loop with memory flat and no deploy is the app's own",
     Evidence("pm2", T.APP, crash_looping=("api",)), T.APP, Basis.APP_CRASH_LOOP),
    ("a health check failing while an app crash-loops is that app's",
     Evidence("http", T.NETWORK, health_failure="connection_refused", apps_online=True,
              crash_looping=("api",)), T.APP, Basis.APP_CRASH_LOOP),
    ("refused straight on the app's port while PM2 says online is the app",
     Evidence("http", T.NETWORK, health_failure="connection_refused", apps_online=True,
              health_via_nginx=False), T.APP, Basis.APP_UNREACHABLE_WHILE_ONLINE),
    ("refused through nginx while PM2 says online is the network",
     Evidence("http", T.NETWORK, health_failure="connection_refused", apps_online=True,
              health_via_nginx=True), T.NETWORK, Basis.UNREACHABLE_WHILE_ONLINE),
    ("nginx answering 502 while PM2 says online is the hop between them",
     Evidence("http", T.NETWORK, health_failure="unexpected_status", health_status=502,
              apps_online=True, health_via_nginx=True), T.NETWORK, Basis.NGINX_BAD_GATEWAY),
    ("a 502 from the app's own port is no nginx fault",
     Evidence("http", T.NETWORK, health_failure="unexpected_status", health_status=502,
              apps_online=True, health_via_nginx=False), T.NETWORK, Basis.RULE_TYPE),
    ("a 500 through nginx is the app's answer, not nginx's",
     Evidence("http", T.NETWORK, health_failure="unexpected_status", health_status=500,
              apps_online=True, health_via_nginx=True), T.NETWORK, Basis.RULE_TYPE),
    ("upload failures with nothing else", Evidence("logs", T.UPLOAD), T.UPLOAD, Basis.RULE_TYPE),
    ("memory in the host outranks a probe down",
     Evidence("memory", T.MEMORY, probes_down=("postgres",)), T.MEMORY, Basis.HOST_MEMORY),
]  # fmt: skip


@pytest.mark.parametrize(
    ("evidence", "kind", "basis"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_table_decides_one_type_and_names_why(
    evidence: Evidence, kind: IncidentType, basis: Basis
) -> None:
    decided = classify(evidence)
    assert (decided.type, decided.basis) == (kind, basis)


def test_the_detail_names_the_deciding_evidence() -> None:
    decided = classify(Evidence("logs", T.NETWORK, since_deploy=5 * MIN, deployed_app="api"))
    assert decided.detail == "began 5 min after a deploy of api"


def test_the_fallback_detail_says_nothing_stronger_was_found() -> None:
    assert classify(Evidence("logs", T.UPLOAD)).detail == (
        "no stronger evidence; the rule's type is upload"
    )


def sample(minute: int, mb: int, restarted: bool = False) -> MemorySample:
    return MemorySample(T0 + minute * MIN, mb * 2**20, restarted)


def test_memory_that_climbed_before_every_restart_counts_as_climbed() -> None:
    saw = [sample(0, 100), sample(1, 200), sample(2, 90, True), sample(3, 250), sample(4, 80, True)]
    assert climbed(saw) is True


def test_one_flat_stretch_between_restarts_means_not_climbed() -> None:
    saw = [sample(0, 100), sample(1, 200), sample(2, 90, True), sample(3, 95), sample(4, 80, True)]
    assert climbed(saw) is False


def test_memory_that_rose_without_any_restart_is_not_a_climb_before_restarts() -> None:
    assert climbed([sample(0, 100), sample(1, 300), sample(2, 500)]) is False


def read(sampler: str, minute: float, values: dict[str, Any]) -> Reading:
    return Reading(sampler, T0 + timedelta(minutes=minute), True, 1.0, values)


def app(**fields: Any) -> dict[str, Any]:
    base = {"status": "online", "restart_increase": 0, "deploy": None, "crash_loop": None}
    return base | {"memory_bytes": 100 * 2**20} | fields


def breach(sampler: str, rule_type: IncidentType, minute: float, **labels: str) -> Breach:
    when = T0 + timedelta(minutes=minute)
    return Breach(
        "r", rule_type, Severity.WARNING, tuple(sorted(labels.items())), 1, when, when,
        {"sampler": sampler},
    )  # fmt: skip


def test_server_errors_after_a_pm2_version_change_are_the_deploys() -> None:
    context = Context()
    deploy = {
        "from": {"version": "1.0", "revision": None},
        "to": {"version": "1.1", "revision": None},
    }
    context.observe(read("pm2", 0, {"state": "ok", "apps": {"api": app(deploy=deploy)}}))
    context.observe(read("pm2", 1, {"state": "ok", "apps": {"api": app()}}))
    evidence = context.evidence(breach("logs", T.NETWORK, 6))
    assert (evidence.since_deploy, evidence.deployed_app) == (6 * MIN, "api")
    assert classify(evidence).type is T.DEPLOY


def test_a_refused_health_check_while_pm2_says_online_is_network() -> None:
    context = Context()
    context.observe(read("pm2", 0, {"state": "ok", "apps": {"api": app(), "worker": app()}}))
    web = {"up": False, "failure": "connection_refused", "failed_dependencies": []}
    context.observe(read("http", 0, {"checks": {"web": web}}))
    decided = classify(context.evidence(breach("http", T.NETWORK, 1, check="web")))
    assert (decided.type, decided.basis, decided.detail) == (
        T.NETWORK,
        Basis.UNREACHABLE_WHILE_ONLINE,
        "health check connection_refused while PM2 reports every app online",
    )


def test_a_health_body_naming_a_failed_dependency_is_dependency() -> None:
    context = Context()
    web = {"up": False, "failure": "body_check_failed", "failed_dependencies": ["db"]}
    context.observe(read("http", 0, {"checks": {"web": web, "admin": {"up": True}}}))
    evidence = context.evidence(breach("http", T.NETWORK, 1, check="web"))
    assert evidence.failed_dependencies == ("db",)
    assert classify(evidence).basis is Basis.HEALTH_NAMES_FAILED_DEPENDENCY


def test_a_crash_loop_with_memory_climbing_before_each_restart_is_memory() -> None:
    context = Context()
    memory_mb = [(100, 0), (300, 0), (90, 1), (320, 0), (95, 2)]
    for minute, (mb, restarts) in enumerate(memory_mb):
        looping = "restarting" if restarts else None
        fields = app(memory_bytes=mb * 2**20, restart_increase=restarts, crash_loop=looping)
        context.observe(read("pm2", minute, {"state": "ok", "apps": {"api": fields}}))
    decided = classify(context.evidence(breach("pm2", T.NETWORK, 5, app="api")))
    assert (decided.type, decided.basis) == (T.MEMORY, Basis.MEMORY_CLIMB_BEFORE_RESTARTS)


def test_detector_and_context_together_classify_a_dependency_outage() -> None:
    detector, context = Detector(default_rules()), Context()
    decided = []
    for i in range(3):
        probe = read("dependencies", i / 4, {"probes": {"postgres": {"up": False}}})
        context.observe(probe)
        for t in detector.evaluate(probe):
            if t.reason is Reason.BREACH_CONFIRMED and t.breach is not None:
                decided.append(classify(context.evidence(t.breach)))
    assert [(d.type, d.detail) for d in decided] == [
        (T.DEPENDENCY, "dependency probe down: postgres")
    ]
