"""The PM2 sampler against a real PM2 daemon (one per module) and real node apps.

``pm2 jlist`` run by the test is the oracle for what the sampler reports.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from structlog.testing import capture_logs
from support.pm2 import Pm2, config_for

from calmopsd.sense.pm2 import RPC_CHECKED_MAJORS, Pm2Sampler

SECRET = "calmops-test-secret-7f3a9c"  # noqa: S105  # a marker to search for, not a credential


class FixedClock:
    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at


def sampler(pm2: Pm2, **options: Any) -> Pm2Sampler:
    return Pm2Sampler(config_for(pm2.home), **options)


def online(entries: list[dict[str, Any]]) -> bool:
    return all(e["pm2_env"]["status"] == "online" for e in entries)


def test_it_reads_an_online_app_as_pm2_jlist_lists_it(pm2: Pm2) -> None:
    app = pm2.app("reads-online")
    pm2.start(app)
    [entry] = pm2.wait_entries(app.name, online, "the app online")

    reading = sampler(pm2).sample()

    assert reading["state"] == "ok"
    assert reading["source"] == "rpc"
    assert int(reading["pm2_version"].split(".")[0]) in RPC_CHECKED_MAJORS
    web = reading["apps"][app.name]
    assert (web["status"], web["instances"], web["online"]) == ("online", 1, 1)
    assert (web["exec_mode"], web["version"], web["restart_time"]) == ("fork_mode", "1.0.0", 0)
    assert web["memory_bytes"] > 0
    [instance] = [i for i in reading["instances"] if i["name"] == app.name]
    assert (instance["pid"], instance["pm_id"]) == (entry["pid"], entry["pm_id"])


def test_uptime_is_counted_from_pm_uptime_on_the_injected_clock(pm2: Pm2) -> None:
    app = pm2.app("uptime")
    pm2.start(app)
    [entry] = pm2.wait_entries(app.name, online, "the app online")
    started = datetime.fromtimestamp(entry["pm2_env"]["pm_uptime"] / 1000, UTC)

    reading = sampler(pm2, clock=FixedClock(started + timedelta(seconds=90))).sample()

    assert reading["apps"][app.name]["uptime_s"] == 90.0


def test_the_jlist_fallback_reads_what_the_socket_reads(pm2: Pm2) -> None:
    app = pm2.app("fallback")
    pm2.start(app)
    pm2.wait_entries(app.name, online, "the app online")

    by_socket = sampler(pm2).sample()
    by_jlist = sampler(pm2, rpc=False).sample()

    assert (by_jlist["state"], by_jlist["source"]) == ("ok", "jlist")
    assert by_jlist["fallback"] == "socket reading turned off"
    steady = ("name", "pm_id", "pid", "status", "restart_time", "exec_mode", "version")
    assert [{k: i[k] for k in steady} for i in by_jlist["instances"]] == [
        {k: i[k] for k in steady} for i in by_socket["instances"]
    ]


def test_no_secret_from_the_apps_environment_reaches_the_reading(pm2: Pm2) -> None:
    app = pm2.app("secretive")
    pm2.start(app, CALMOPS_TEST_TOKEN=SECRET)
    pm2.wait_entries(app.name, online, "the app online")
    assert SECRET in json.dumps(pm2.jlist())  # PM2 itself does expose it

    with capture_logs() as logs:
        readings = [sampler(pm2).sample(), sampler(pm2, rpc=False).sample()]

    for reading in readings:
        assert reading["apps"][app.name]["status"] == "online"
        text = json.dumps(reading)
        assert SECRET not in text
        assert "CALMOPS_TEST_TOKEN" not in text
    assert SECRET not in repr(logs)


def test_a_cluster_app_is_reported_per_instance_and_once_per_app(pm2: Pm2) -> None:
    app = pm2.app("clustered")
    pm2.start(app, "-i", "2")
    entries = pm2.wait_entries(app.name, lambda es: len(es) == 2 and online(es), "2 instances")

    reading = sampler(pm2).sample()

    api = reading["apps"][app.name]
    assert (api["instances"], api["online"], api["exec_mode"]) == (2, 2, "cluster_mode")
    instances = [i for i in reading["instances"] if i["name"] == app.name]
    assert sorted(i["pid"] for i in instances) == sorted(e["pid"] for e in entries)
    assert api["memory_bytes"] == sum(i["memory_bytes"] for i in instances)


def test_a_crash_loop_pm2_gives_up_on_reads_errored_with_the_restarts(pm2: Pm2) -> None:
    app = pm2.app("gives-up")
    pm2.start(app)
    pm2.wait_entries(app.name, online, "the app online")
    watcher = sampler(pm2)
    before = watcher.sample()["apps"][app.name]

    app.set_mode("crash")
    pm2.run("restart", app.name)
    [entry] = pm2.wait_entries(
        app.name, lambda es: es[0]["pm2_env"]["status"] == "errored", "PM2 to give up"
    )
    after = watcher.sample()["apps"][app.name]
    pm2.run("delete", app.name)

    assert (after["status"], after["crash_loop"]) == ("errored", "errored")
    assert after["unstable_restarts"] == 0  # PM2 resets it when it gives up
    expected = entry["pm2_env"]["restart_time"] - before["restart_time"]
    assert expected >= 10
    assert after["restart_increase"] == expected


def test_restarts_pm2_keeps_making_show_as_an_increase_between_samples(pm2: Pm2) -> None:
    app = pm2.app("restarting")
    app.set_mode("crash-later")
    pm2.start_restarting_forever(app)
    pm2.wait_entries(app.name, lambda es: True, "the app listed")
    watcher = sampler(pm2)
    first = watcher.sample()["apps"][app.name]

    pm2.wait_entries(
        app.name,
        lambda es: es[0]["pm2_env"]["restart_time"] >= first["restart_time"] + 2,
        "two more restarts",
    )
    second = watcher.sample()["apps"][app.name]
    pm2.run("delete", app.name)

    assert first["restart_increase"] is None  # nothing to compare with yet
    assert second["restart_increase"] == second["restart_time"] - first["restart_time"]
    assert second["restart_increase"] >= 2
    assert second["crash_loop"] == "restarting"
    assert second["status"] != "errored"


def test_a_new_package_version_after_a_restart_is_a_deploy_marker(pm2: Pm2) -> None:
    app = pm2.app("versioned", version="1.0.0")
    pm2.start(app)
    pm2.wait_entries(app.name, online, "the app online")
    watcher = sampler(pm2)
    watcher.sample()

    app.set_version("1.1.0")
    pm2.run("restart", app.name)
    pm2.wait_entries(
        app.name,
        lambda es: online(es) and es[0]["pm2_env"]["version"] == "1.1.0",
        "version 1.1.0 online",
    )
    deployed = watcher.sample()["apps"][app.name]
    settled = watcher.sample()["apps"][app.name]

    assert deployed["deploy"] == {
        "from": {"version": "1.0.0", "revision": None},
        "to": {"version": "1.1.0", "revision": None},
    }
    assert (deployed["restart_increase"], deployed["crash_loop"]) == (1, None)
    assert (settled["deploy"], settled["restart_increase"]) == (None, 0)


def test_a_new_git_revision_after_a_restart_is_a_deploy_marker(pm2: Pm2) -> None:
    app = pm2.app("git-deployed")
    first = app.commit("first")
    pm2.start(app)
    pm2.wait_entries(app.name, lambda es: revision(es) == first, "the first revision")
    watcher = sampler(pm2)
    assert watcher.sample()["apps"][app.name]["revision"] == first

    app.set_mode("run")
    second = app.commit("second")
    pm2.run("restart", app.name)
    pm2.wait_entries(app.name, lambda es: revision(es) == second, "the second revision")
    reading = watcher.sample()

    assert reading["apps"][app.name]["deploy"] == {
        "from": {"version": "1.0.0", "revision": first},
        "to": {"version": "1.0.0", "revision": second},
    }
    [instance] = [i for i in reading["instances"] if i["name"] == app.name]
    assert instance["revision"] == second


def test_an_app_deleted_since_the_last_sample_is_listed_as_gone(pm2: Pm2) -> None:
    app = pm2.app("short-lived")
    pm2.start(app)
    pm2.wait_entries(app.name, online, "the app online")
    watcher = sampler(pm2)
    watcher.sample()

    pm2.run("delete", app.name)
    reading = watcher.sample()

    assert app.name not in reading["apps"]
    assert reading["gone"] == [app.name]


def revision(entries: list[dict[str, Any]]) -> str | None:
    versioning = entries[0]["pm2_env"].get("versioning") or {}
    rev: str | None = versioning.get("revision")
    return rev


def test_a_running_daemon_is_read_over_its_socket_even_without_pm2_on_path(pm2: Pm2) -> None:
    app = pm2.app("no-binary")
    pm2.start(app)
    pm2.wait_entries(app.name, online, "the app online")

    config = config_for(pm2.home, binary="/nonexistent/pm2")
    reading = Pm2Sampler(config).sample()

    assert (reading["state"], reading["source"]) == ("ok", "rpc")
    assert reading["apps"][app.name]["status"] == "online"
