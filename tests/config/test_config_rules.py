"""`rules:`, `thresholds:`, `incidents:` and `playbook:` as an operator writes them."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from calmopsd.config import Config, load_config
from calmopsd.errors import ConfigError
from calmopsd.model import SafeAction


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "calmops.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    return [p.split("calmops.yaml", 1)[1] for p in raised.value.problems]


def levels(config: Config) -> dict[str, tuple[object, object, object]]:
    return {r.name: (r.threshold, r.critical, r.clear) for r in config.detection_rules()}


def test_thresholds_tune_the_shipped_rules(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        thresholds:
          memory_percent: 90
          disk_percent: 70
          upload_failure_percent: 25
          server_error_percent: 20
        """,
    )
    got = levels(config)
    assert got["memory_used"] == (90.0, 100.0, 85.0)
    assert got["disk_used"] == (70.0, 80.0, 65.0)
    assert got["upload_failures"] == (0.25, None, None)
    assert got["server_errors"] == (0.2, None, 0.1)


def test_a_threshold_near_the_top_has_no_critical_band(tmp_path: Path) -> None:
    got = levels(load(tmp_path, "thresholds:\n  memory_percent: 95\n"))
    assert got["memory_used"] == (95.0, None, 90.0)


def test_an_empty_rules_key_means_the_shipped_rules(tmp_path: Path) -> None:
    config = load(tmp_path, "rules:\n")
    assert [r.name for r in config.detection_rules()] == [
        "memory_used",
        "disk_used",
        "disk_filling",
        "upload_failures",
        "server_errors",
        "health_check_failing",
        "pm2_app_errored",
        "pm2_app_not_online",
        "pm2_app_restarting",
        "dependency_down",
    ]


def test_own_rules_replace_the_shipped_set_and_an_empty_list_turns_detection_off(
    tmp_path: Path,
) -> None:
    own = load(
        tmp_path,
        """\
        rules:
          - name: root_full
            sampler: disk
            metric: mounts.{mount}.used_percent
            where: {mount: /}
            op: ">"
            threshold: 95
            for: 2m
            type: disk
        """,
    )
    assert [(r.name, r.hold) for r in own.detection_rules()] == [
        ("root_full", timedelta(minutes=2))
    ]
    assert load(tmp_path, "rules: []\n").detection_rules() == []


def test_own_rules_with_thresholds_set_is_refused_naming_both(tmp_path: Path) -> None:
    text = """\
        thresholds:
          memory_percent: 90
        rules:
          - {name: m, sampler: memory, metric: used_percent, op: ">", threshold: 80, type: memory}
        """
    assert problems(tmp_path, text) == [
        ":3: rules: your own rules replace the shipped ones that thresholds.memory_percent "
        "tunes; put the threshold in your rule and remove it from thresholds"
    ]


def test_a_bad_rule_names_its_line_and_key(tmp_path: Path) -> None:
    text = """\
        rules:
          - name: m
            sampler: memory
            metric: used_percent
            op: ">"
            threshold: 80
            clear: 90
            type: memory
          - name: m
            sampler: memory
            metric: used_percent
            op: "~"
            threshold: 80
            type: weather
        """
    assert problems(tmp_path, text) == [
        ":7: rules[0].clear: clear (90) must lie on the healthy side of threshold 80",
        ":12: rules[1].op: must be one of: >, >=, <, <=, ==, != (got '~')",
        ":14: rules[1].type: must be one of: memory, disk, upload, deploy, dependency, "
        "network, app (got 'weather')",
    ]


def test_the_playbook_takes_only_the_five_safe_actions_each_once(tmp_path: Path) -> None:
    text = """\
        playbook:
          memory: [pm2_restart, pm2_restart]
          disk: [rm_rf]
        """
    assert problems(tmp_path, text) == [
        ":2: playbook.memory: each action at most once; repeated: pm2_restart",
        ":3: playbook.disk[0]: must be one of: pm2_restart, nginx_reload, pause_jobs, "
        "rate_limit_uploads, clear_temp (got 'rm_rf')",
    ]
    config = load(tmp_path, "playbook:\n  deploy: [nginx_reload]\n  memory: []\n")
    assert config.playbook.deploy == [SafeAction.NGINX_RELOAD]
    assert config.playbook.memory == []
    assert config.playbook.disk == [SafeAction.CLEAR_TEMP]


def test_incident_timings_are_durations(tmp_path: Path) -> None:
    assert problems(tmp_path, "incidents:\n  monitor_for: 0s\n  flap_hold_growth: 0.5\n") == [
        ":2: incidents.monitor_for: must be longer than 0s",
        ":3: incidents.flap_hold_growth: must be ≥ 1 (got 0.5)",
    ]
