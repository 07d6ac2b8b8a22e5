"""The pure half of the PM2 sampler, on recorded PM2 7.0.4 shapes (``pm2 jlist`` entries)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from support.jlist import NOW_MS, SECRET, entry

from calmopsd.pm2files import decode_jlist
from calmopsd.sense.pm2_parse import (
    AppMark,
    read_instance,
    read_instances,
    summarize,
)


def apps_of(
    entries: list[Any], previous: dict[str, AppMark] | None = None
) -> tuple[dict[str, Any], dict[str, AppMark]]:
    parsed = read_instances(entries)
    assert parsed is not None
    return summarize(parsed[0], NOW_MS, previous)


OUT_OF_DATE = (
    "\n>>>> In-memory PM2 is out-of-date, do:\n>>>> $ pm2 update\n"
    "In memory PM2 version: 6.0.8\nLocal PM2 version: 7.0.4\n\n"
)


def test_the_list_is_found_after_pm2s_out_of_date_warning() -> None:
    text = OUT_OF_DATE + json.dumps([entry()])

    assert decode_jlist(text) == [entry()]


def test_the_list_is_found_after_colored_and_bracketed_notices() -> None:
    notices = (
        "\x1b[32m[PM2] \x1b[39mSpawning PM2 daemon with pm2_home=/x\n"
        "[PM2][WARN] Applications web not running, starting...\n"
        "[PM2] PM2 Successfully daemonized\n"
    )

    assert decode_jlist(notices + "[]") == []
    assert decode_jlist(notices + json.dumps([entry()]) + "\ntrailing words") == [entry()]


def test_output_without_a_json_list_decodes_to_none() -> None:
    for text in ("", "\n", "[PM2][ERROR] Daemon not launched", '{"not": "a list"}', "[1, 2"):
        assert decode_jlist(text) is None


def test_only_the_listed_fields_are_read_and_no_secret_is_kept() -> None:
    versioning = {"type": "git", "revision": "abc123", "comment": SECRET, "url": SECRET}
    instance = read_instance(entry(versioning=versioning))

    assert instance is not None
    assert instance.as_values(NOW_MS) == {
        "name": "web",
        "pm_id": 0,
        "pid": 4242,
        "status": "online",
        "restart_time": 0,
        "unstable_restarts": 0,
        "uptime_s": 60.0,
        "memory_bytes": 50_000_000,
        "cpu_percent": 1.5,
        "exec_mode": "fork_mode",
        "version": "1.0.0",
        "revision": "abc123",
        "exit_code": None,
    }
    apps, marks = apps_of([entry(versioning=versioning)])
    assert SECRET not in json.dumps(apps) + repr(marks)


def test_an_errored_instance_has_no_pid_no_uptime_and_is_a_crash_loop() -> None:
    # PM2 gave up: status errored, pid 0, unstable_restarts reset to 0.
    gave_up = entry(status="errored", restart_time=16, unstable_restarts=0, exit_code=3)
    gave_up["pid"] = 0
    apps, _ = apps_of([gave_up], {"web": AppMark({0: 1}, "1.0.0", None)})

    assert apps["web"]["status"] == "errored"
    assert apps["web"]["uptime_s"] is None
    assert (apps["web"]["restart_increase"], apps["web"]["crash_loop"]) == (15, "errored")
    instance = read_instance(gave_up)
    assert instance is not None
    assert (instance.pid, instance.exit_code) == (None, 3)


def test_a_cluster_app_sums_its_instances_and_takes_the_worst_status() -> None:
    first = entry("api", 0, exec_mode="cluster_mode", instances=2, restart_time=2)
    second = entry("api", 1, exec_mode="cluster_mode", instances=2, status="stopped")
    second["monit"] = {"memory": 0, "cpu": 0}
    apps, _ = apps_of([first, second])

    api = apps["api"]
    assert (api["instances"], api["online"], api["status"]) == (2, 1, "stopped")
    assert api["statuses"] == {"online": 1, "stopped": 1}
    assert (api["memory_bytes"], api["cpu_percent"], api["restart_time"]) == (50_000_000, 1.5, 2)
    assert api["uptime_s"] == 60.0


def test_the_restart_increase_counts_per_instance_through_resets_and_new_instances() -> None:
    before = {"api": AppMark({0: 10, 1: 5}, "1.0.0", None)}
    now = [
        entry("api", 0, restart_time=13),  # +3
        entry("api", 1, restart_time=2),  # counter reset (pm2 reset): all 2 are new
        entry("api", 2, restart_time=4),  # instance created since: all 4 are new
    ]
    apps, _ = apps_of(now, before)

    assert apps["api"]["restart_increase"] == 9
    assert apps["api"]["crash_loop"] == "restarting"


def test_the_first_sight_of_an_app_has_no_increase_and_no_deploy() -> None:
    apps, marks = apps_of([entry(restart_time=7)])

    assert (apps["web"]["restart_increase"], apps["web"]["deploy"]) == (None, None)
    assert apps["web"]["crash_loop"] is None
    assert marks == {"web": AppMark({0: 7}, "1.0.0", None)}


def test_a_version_change_is_a_deploy_marker_and_explains_its_restart() -> None:
    apps, _ = apps_of(
        [entry(version="1.1.0", restart_time=1)], {"web": AppMark({0: 0}, "1.0.0", None)}
    )

    assert apps["web"]["deploy"] == {
        "from": {"version": "1.0.0", "revision": None},
        "to": {"version": "1.1.0", "revision": None},
    }
    assert (apps["web"]["restart_increase"], apps["web"]["crash_loop"]) == (1, None)


def test_a_rolling_reload_marks_the_deploy_once_when_the_first_instance_moves() -> None:
    old = {"api": AppMark({0: 0, 1: 0}, "1.0.0", None)}
    halfway = [
        entry("api", 0, version="1.0.0", pm_uptime=NOW_MS - 60_000),
        entry("api", 1, version="2.0.0", pm_uptime=NOW_MS - 1_000, restart_time=1),
    ]
    done = [
        entry("api", 0, version="2.0.0", pm_uptime=NOW_MS - 500, restart_time=1),
        entry("api", 1, version="2.0.0", pm_uptime=NOW_MS - 1_000, restart_time=1),
    ]

    first, marks = apps_of(halfway, old)
    second, _ = apps_of(done, marks)

    assert first["api"]["deploy"] is not None
    assert first["api"]["deploy"]["to"] == {"version": "2.0.0", "revision": None}
    assert second["api"]["deploy"] is None


def test_a_version_of_na_means_none() -> None:
    instance = read_instance(entry(version="N/A"))

    assert instance is not None
    assert instance.version is None


def test_entries_that_are_not_understood_are_counted_not_fatal() -> None:
    parsed = read_instances([entry(), "junk", 3, None, {"pm2_env": {}}, {"name": ""}])

    assert parsed is not None
    instances, skipped = parsed
    assert ([i.name for i in instances], skipped) == (["web"], 5)
    assert read_instances({"not": "a list"}) is None


def test_odd_numbers_read_as_missing() -> None:
    odd = entry(restart_time=True, pm_uptime=float("nan"))
    odd["monit"] = {"memory": float("inf"), "cpu": "12"}
    instance = read_instance(odd)

    assert instance is not None
    assert (instance.restart_time, instance.started_ms) == (0, None)
    assert (instance.memory_bytes, instance.cpu_percent) == (None, None)


def test_an_uptime_on_a_clock_behind_pm2s_is_zero() -> None:
    instance = read_instance(entry(pm_uptime=NOW_MS + 5_000))

    assert instance is not None
    assert instance.uptime_s(NOW_MS) == 0.0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
field_names = st.sampled_from(
    ["name", "pm_id", "pid", "status", "restart_time", "unstable_restarts", "pm_uptime",
     "exec_mode", "version", "versioning", "exit_code", "revision", "memory", "cpu"]
)  # fmt: skip
loose_entries = st.fixed_dictionaries(
    {},
    optional={
        "name": json_values | st.text(max_size=4),
        "pm_id": json_values,
        "pid": json_values,
        "pm2_env": st.dictionaries(field_names, json_values) | json_values,
        "monit": st.dictionaries(field_names, json_values) | json_values,
    },
)


@given(st.lists(loose_entries | json_values, max_size=6), st.lists(loose_entries, max_size=6))
def test_any_json_list_is_summarized_without_raising(first: list[Any], second: list[Any]) -> None:
    apps, marks = apps_of(first)
    again, _ = apps_of(second, marks)

    json.dumps([apps, again], allow_nan=False)
