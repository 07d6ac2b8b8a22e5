"""`rules:`, `thresholds:`, `incidents:` and `playbook:` as an operator writes them."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from calmopsd.config import Config, load_config
from calmopsd.errors import ConfigError
from calmopsd.model import IncidentType, SafeAction


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
    assert got["organization_upload_failures"] == (0.25, None, 0.125)
    assert got["upload_failures"] == (0.25, None, 0.125)
    assert got["server_errors"] == (0.2, None, 0.1)


def test_a_threshold_near_the_top_has_no_critical_band(tmp_path: Path) -> None:
    got = levels(load(tmp_path, "thresholds:\n  memory_percent: 95\n"))
    assert got["memory_used"] == (95.0, None, 90.0)


def test_by_default_memory_and_disk_clear_5_points_under_and_the_rates_at_half() -> None:
    got = levels(Config())
    assert got["memory_used"] == (85.0, 95.0, 80.0)
    assert got["disk_used"] == (80.0, 90.0, 75.0)
    assert got["organization_upload_failures"] == (0.1, None, 0.05)
    assert got["upload_failures"] == (0.1, None, 0.05)
    assert got["server_errors"] == (0.05, None, 0.025)


def test_the_hysteresis_gaps_are_tuned_in_thresholds(tmp_path: Path) -> None:
    config = load(tmp_path, "thresholds:\n  clear_gap_points: 10\n  rate_clear_fraction: 0.25\n")
    got = levels(config)
    assert got["memory_used"] == (85.0, 95.0, 75.0)
    assert got["disk_used"] == (80.0, 90.0, 70.0)
    assert got["organization_upload_failures"] == (0.1, None, 0.025)
    assert got["upload_failures"] == (0.1, None, 0.025)
    assert got["server_errors"] == (0.05, None, 0.0125)


def test_no_gap_and_a_fraction_of_1_clear_as_soon_as_the_breach_ends(tmp_path: Path) -> None:
    config = load(tmp_path, "thresholds:\n  clear_gap_points: 0\n  rate_clear_fraction: 1\n")
    got = levels(config)
    assert got["memory_used"] == (85.0, 95.0, None)
    assert got["disk_used"] == (80.0, 90.0, None)
    assert got["upload_failures"] == (0.1, None, None)
    assert got["server_errors"] == (0.05, None, None)


def test_a_gap_past_the_threshold_leaves_no_clear_band(tmp_path: Path) -> None:
    got = levels(load(tmp_path, "thresholds:\n  memory_percent: 20\n  clear_gap_points: 30\n"))
    assert got["memory_used"] == (20.0, 30.0, None)


def test_bad_hysteresis_gaps_are_refused_at_their_line(tmp_path: Path) -> None:
    text = """\
        thresholds:
          clear_gap_points: -1
          rate_clear_fraction: 50
        """
    assert problems(tmp_path, text) == [
        ":2: thresholds.clear_gap_points: must be ≥ 0 (got -1)",
        ":3: thresholds.rate_clear_fraction: is a fraction of the threshold: 0.5 clears at "
        "half of it, 1 at the threshold itself (got 50)",
    ]
    text = """\
        thresholds:
          clear_gap_points: "5%"
          rate_clear_fraction: 0
        """
    assert problems(tmp_path, text) == [
        ":2: thresholds.clear_gap_points: must be a number (got '5%')",
        ":3: thresholds.rate_clear_fraction: must be > 0 (got 0)",
    ]
    assert problems(tmp_path, "thresholds:\n  clear_gap_points: true\n") == [
        ":2: thresholds.clear_gap_points: must be a number (got true)"
    ]


def test_own_rules_with_a_hysteresis_gap_set_is_refused_naming_it(tmp_path: Path) -> None:
    text = """\
        thresholds:
          rate_clear_fraction: 0.4
        rules:
          - {name: m, sampler: memory, metric: used_percent, op: ">", threshold: 80, type: memory}
        """
    assert problems(tmp_path, text) == [
        ":3: rules: your own rules replace the shipped ones that thresholds.rate_clear_fraction "
        "tunes; put the threshold in your rule and remove it from thresholds"
    ]


def test_each_organizations_uploads_have_a_shipped_rule_of_their_own(tmp_path: Path) -> None:
    rules = load(tmp_path, "thresholds:\n  upload_failure_percent: 20\n").detection_rules()
    names = [r.name for r in rules]
    assert names.index("organization_upload_failures") < names.index("upload_failures")
    rule = rules[names.index("organization_upload_failures")]
    assert (rule.sampler, rule.metric, rule.op, rule.threshold, rule.clear, rule.type) == (
        "logs",
        "organizations.{organization}.5m.upload_failure_rate",
        ">",
        0.2,
        0.1,
        IncidentType.UPLOAD,
    )
    assert rule.volume is not None
    assert (rule.volume.metric, rule.volume.at_least) == (
        "organizations.{organization}.5m.uploads",
        20,
    )
    assert (rule.hold, rule.clear_for, rule.where) == (3, timedelta(minutes=15), {})


def test_an_empty_rules_key_means_the_shipped_rules(tmp_path: Path) -> None:
    config = load(tmp_path, "rules:\n")
    assert [r.name for r in config.detection_rules()] == [
        "memory_used",
        "disk_used",
        "disk_filling",
        "organization_upload_failures",
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
        # though both rules are wrong, their names did validate
        ":9: rules[1].name: rule names must be unique; 'm' is also rules[0]'s",
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
        ":2: playbook.memory[1]: each action at most once; pm2_restart is also entry [0]",
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
