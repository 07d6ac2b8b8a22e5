"""The one reader of ``pm2 jlist`` entries (calmopsd.pm2files.read_instance), shared by
the PM2 sampler and the PM2 actions, on entries shaped like PM2 7.0.4's."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from calmopsd.act.pm2_restart import describe, replaced
from calmopsd.pm2files import Pm2Instance, decode_jlist, read_instance
from calmopsd.sense import pm2_parse

NOW_MS = 1_795_766_600_000
SECRET = "s3cr3t-in-env"  # noqa: S105  # a marker to search for, not a credential

# A cluster instance as `pm2 jlist` prints it (environment cut short): the fields
# PM2 7.0.4 gives, with git versioning filled (PM2_ENABLE_GIT_PARSING=true).
CLUSTER_ENTRY: dict[str, Any] = {
    "pid": 51234,
    "name": "api",
    "pm2_env": {
        "name": "api",
        "pm_id": 3,
        "status": "online",
        "restart_time": 12,
        "unstable_restarts": 2,
        "exec_mode": "cluster_mode",
        "instances": 2,
        "pm_uptime": NOW_MS - 90_500,
        "created_at": NOW_MS - 3_600_000,
        "exit_code": 0,
        "version": "2.4.1",
        "versioning": {
            "type": "git",
            "url": "https://x:" + SECRET + "@example.org/app.git",
            "revision": "9f2c1e7d0b",
            "comment": "release 2.4.1",
            "branch": "main",
        },
        "node_version": "20.20.2",
        "API_TOKEN": SECRET,
        "env": {"API_TOKEN": SECRET},
    },
    "pm_id": 3,
    "monit": {"memory": 73_400_320, "cpu": 12.5},
}


def cluster_entry(**env: Any) -> dict[str, Any]:
    entry = copy.deepcopy(CLUSTER_ENTRY)
    entry["pm2_env"].update(env)
    return entry


def test_a_cluster_instance_reads_every_field_exactly() -> None:
    assert read_instance(cluster_entry()) == Pm2Instance(
        name="api",
        pm_id=3,
        pid=51234,
        status="online",
        restart_time=12,
        unstable_restarts=2,
        started_ms=NOW_MS - 90_500,
        memory_bytes=73_400_320,
        cpu_percent=12.5,
        exec_mode="cluster_mode",
        version="2.4.1",
        revision="9f2c1e7d0b",
        exit_code=0,
    )


def test_no_secret_from_pm2_env_reaches_the_instance_or_its_values() -> None:
    instance = read_instance(cluster_entry())

    assert instance is not None
    assert SECRET not in repr(instance) + repr(instance.as_values(NOW_MS))
    assert instance.as_values(NOW_MS)["uptime_s"] == 90.5


def test_an_entry_without_pm2_env_keeps_its_name_ids_and_monit() -> None:
    # PM2 lists such a bare entry for a process it is still registering.
    bare = {"pid": 700, "name": "worker", "pm_id": 1, "monit": {"memory": 0, "cpu": 0}}

    assert read_instance(bare) == Pm2Instance(
        name="worker",
        pm_id=1,
        pid=700,
        status="unknown",
        restart_time=0,
        unstable_restarts=0,
        started_ms=None,
        memory_bytes=0,
        cpu_percent=0.0,
        exec_mode=None,
        version=None,
        revision=None,
        exit_code=None,
    )


def test_na_version_null_revision_and_null_exit_code_read_as_none() -> None:
    entry = cluster_entry(version="N/A", versioning=None, exit_code=None)
    instance = read_instance(entry)

    assert instance is not None
    assert (instance.version, instance.revision, instance.exit_code) == (None, None, None)
    full = read_instance(cluster_entry())
    assert full is not None
    no_revision = cluster_entry(versioning={"type": "git", "revision": None})
    assert read_instance(no_revision) == dataclasses.replace(full, revision=None)


def test_strings_where_numbers_belong_read_as_missing_not_as_numbers() -> None:
    entry = cluster_entry(restart_time="12", unstable_restarts="2", pm_uptime="soon")
    entry.update(pid="51234", pm_id="3", monit={"memory": "70MB", "cpu": "12.5"})
    instance = read_instance(entry)

    assert instance is not None
    assert (instance.pid, instance.pm_id) == (None, None)
    assert (instance.restart_time, instance.unstable_restarts, instance.started_ms) == (0, 0, None)
    assert (instance.memory_bytes, instance.cpu_percent) == (None, None)


def test_bools_nan_and_floats_in_number_fields() -> None:
    entry = cluster_entry(restart_time=True, pm_uptime=float("nan"), exit_code=1.0)
    entry.update(pid=0, monit={"memory": 1.5e6, "cpu": float("inf")})
    instance = read_instance(entry)

    assert instance is not None
    assert (instance.restart_time, instance.started_ms, instance.exit_code) == (0, None, 1)
    assert (instance.pid, instance.memory_bytes, instance.cpu_percent) == (None, 1_500_000, None)


def test_the_name_falls_back_to_pm2_env_and_an_unnamed_entry_is_not_read() -> None:
    unnamed_top = cluster_entry()
    del unnamed_top["name"]
    no_name = {"pid": 1, "pm2_env": {"status": "online"}}

    assert read_instance(unnamed_top) == read_instance(cluster_entry())
    assert [read_instance(e) for e in (no_name, {"name": ""}, "api", None, 3)] == [None] * 5


def test_the_pm_id_falls_back_to_pm2_env_and_empty_strings_are_missing() -> None:
    entry = cluster_entry(status="", exec_mode="")
    del entry["pm_id"]
    instance = read_instance(entry)

    assert instance is not None
    assert (instance.pm_id, instance.status, instance.exec_mode) == (3, "unknown", None)


def test_the_sampler_and_the_restart_action_read_one_jlist_alike() -> None:
    # What `pm2 jlist` printed for a cluster app mid-reload: one new instance, one stopping.
    second = cluster_entry(pm_id=4, status="stopping")
    second.update(pid=51240, pm_id=4)
    listed = decode_jlist(
        ">>>> In-memory PM2 is out-of-date\n" + json.dumps([cluster_entry(), second])
    )
    assert isinstance(listed, list)

    parsed = pm2_parse.read_instances(listed)
    assert parsed is not None
    sampled, skipped = parsed
    read = [read_instance(entry) for entry in listed]
    assert (sampled, skipped) == (read, 0)
    assert describe(sampled) == "1 online, 1 stopping"
    assert replaced(sampled, {51234}, 2) is False
    assert [i.as_values(NOW_MS)["status"] for i in sampled] == ["online", "stopping"]
