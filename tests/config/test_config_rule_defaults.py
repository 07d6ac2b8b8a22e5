"""`rule_defaults:`: for and clear_for per sampler, for every rule that does not set its own."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path
from typing import get_args

import pytest

from calmopsd.config import Config, load_config
from calmopsd.config.rule_defaults import RuleDefaultsConfig
from calmopsd.config.rules import Sampler, shipped_rules
from calmopsd.errors import ConfigError

M15 = timedelta(minutes=15)


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "calmops.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    return [p.split("calmops.yaml", 1)[1] for p in raised.value.problems]


def holds(config: Config) -> dict[str, tuple[object, timedelta]]:
    return {r.name: (r.hold, r.clear_for) for r in config.detection_rules()}


def test_there_is_one_class_per_sampler_a_rule_may_watch() -> None:
    assert tuple(RuleDefaultsConfig.model_fields) == get_args(Sampler)


def test_by_default_the_shipped_rules_are_unchanged() -> None:
    assert Config().detection_rules() == shipped_rules()
    assert holds(Config()) == {
        "memory_used": (3, M15),
        "disk_used": (3, M15),
        "disk_filling": (3, M15),
        "organization_upload_failures": (3, M15),
        "upload_failures": (3, M15),
        "server_errors": (3, M15),
        "health_check_failing": (3, M15),
        "pm2_app_errored": (1, M15),
        "pm2_app_not_online": (3, M15),
        "pm2_app_restarting": (1, M15),
        "dependency_down": (3, M15),
    }


def test_a_class_sets_for_and_clear_for_of_every_shipped_rule_of_its_sampler(
    tmp_path: Path,
) -> None:
    config = load(
        tmp_path,
        """\
        rule_defaults:
          logs:
            for: 5m
            clear_for: 30m
          disk:
            clear_for: 1h
        """,
    )
    got = holds(config)
    five, thirty, hour = timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=1)
    assert got["organization_upload_failures"] == (five, thirty)
    assert got["upload_failures"] == (five, thirty)
    assert got["server_errors"] == (five, thirty)
    assert got["disk_used"] == (3, hour)
    assert got["disk_filling"] == (3, hour)
    assert got["memory_used"] == (3, M15)
    assert got["dependency_down"] == (3, M15)


def test_a_shipped_rule_that_sets_its_own_for_keeps_it_and_takes_the_clear_for(
    tmp_path: Path,
) -> None:
    config = load(tmp_path, "rule_defaults:\n  pm2:\n    for: 5\n    clear_for: 2m\n")
    got = holds(config)
    assert got["pm2_app_not_online"] == (5, timedelta(minutes=2))
    assert got["pm2_app_errored"] == (1, timedelta(minutes=2))
    assert got["pm2_app_restarting"] == (1, timedelta(minutes=2))


def test_your_own_rules_take_their_class_unless_they_write_the_key_even_at_its_default(
    tmp_path: Path,
) -> None:
    config = load(
        tmp_path,
        """\
        rule_defaults:
          memory: {for: 6, clear_for: 40m}
          disk: {for: 2m}
        rules:
          - {name: plain, sampler: memory, metric: used_percent, op: ">", threshold: 90,
             type: memory}
          - {name: own_for, sampler: memory, metric: used_percent, op: ">", threshold: 95,
             for: 3, type: memory}
          - {name: own_clear, sampler: memory, metric: swap_used_percent, op: ">",
             threshold: 50, clear_for: 15m, type: memory}
          - {name: root, sampler: disk, metric: "mounts.{mount}.used_percent", op: ">",
             threshold: 90, type: disk}
        """,
    )
    assert holds(config) == {
        "plain": (6, timedelta(minutes=40)),
        "own_for": (3, timedelta(minutes=40)),
        "own_clear": (6, M15),
        "root": (timedelta(minutes=2), M15),
    }
    assert config.rules is not None and config.rules[0].hold == 3  # the file's rules as written


def test_an_empty_class_or_section_means_the_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, "rule_defaults:\n  logs:\n").detection_rules() == shipped_rules()
    assert load(tmp_path, "rule_defaults:\n").detection_rules() == shipped_rules()


def test_an_unknown_sampler_is_refused_at_its_line(tmp_path: Path) -> None:
    text = """\
        rule_defaults:
          memory:
            for: 2
          nginx:
            for: 2
          log:
            clear_for: 5m
        """
    assert problems(tmp_path, text) == [
        ":4: rule_defaults.nginx: unknown key (known keys: memory, disk, pm2, http, "
        "dependencies, logs)",
        ":6: rule_defaults.log: unknown key (did you mean 'logs'?)",
    ]


def test_bad_holds_are_refused_with_their_key_path_and_line(tmp_path: Path) -> None:
    text = """\
        rule_defaults:
          logs:
            for: 0
            clear_for: 5
          http:
            for: 2 minutes
            clear_for: -1m
          dependencies:
            for: true
            hold: 3
        """
    assert problems(tmp_path, text) == [
        ":3: rule_defaults.logs.for: must be at least 1 sample (got 0)",
        ":4: rule_defaults.logs.clear_for: must be a duration like 30s, 5m or 24h (got 5)",
        ":6: rule_defaults.http.for: must be a duration like 30s, 5m or 24h (got '2 minutes')",
        ":7: rule_defaults.http.clear_for: must be a duration like 30s, 5m or 24h (got '-1m')",
        ":9: rule_defaults.dependencies.for: must be a number of samples or a duration "
        "like 2m (got true)",
        ":10: rule_defaults.dependencies.hold: unknown key (known keys: for, clear_for)",
    ]


def test_rule_defaults_go_with_your_own_rules_where_thresholds_do_not(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
        rule_defaults:
          memory: {clear_for: 1h}
        rules:
          - {name: m, sampler: memory, metric: used_percent, op: ">", threshold: 80, type: memory}
        """,
    )
    assert holds(config) == {"m": (3, timedelta(hours=1))}
