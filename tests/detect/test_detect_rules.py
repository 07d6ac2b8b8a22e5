"""The rule model: shipped defaults, `for` as samples or a duration, and refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from calmopsd.config import Config
from calmopsd.config.rules import RuleConfig, default_rules
from calmopsd.detect.state import TRANSITIONS, Observation, State
from calmopsd.typed import ValidationError

MEMORY = {"name": "m", "sampler": "memory", "metric": "used_percent", "op": ">",
          "threshold": 85, "type": "memory"}  # fmt: skip


def rule(**changes: Any) -> RuleConfig:
    return RuleConfig.model_validate(MEMORY | changes)


def refusal(**changes: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        rule(**changes)
    return str(caught.value.errors()[0]["msg"])


def test_the_shipped_rules_are_the_ones_the_issue_lists() -> None:
    shipped = {
        r.name: (r.sampler, r.metric, r.op, r.threshold, r.critical, r.clear, r.hold)
        for r in default_rules()
    }
    assert shipped == {
        "memory_used": ("memory", "used_percent", ">", 85.0, 95.0, 80.0, 3),
        "disk_used": ("disk", "mounts.{mount}.used_percent", ">", 80.0, 90.0, 75.0, 3),
        "disk_filling": ("disk", "mounts.{mount}.hours_until_full", "<", 24.0, None, None, 3),
        "organization_upload_failures": (
            "logs",
            "organizations.{organization}.5m.upload_failure_rate",
            ">",
            0.1,
            None,
            0.05,
            3,
        ),
        "upload_failures": ("logs", "platform.5m.upload_failure_rate", ">", 0.1, None, 0.05, 3),
        "server_errors": ("logs", "platform.1m.server_error_rate", ">", 0.05, None, 0.025, 3),
        "health_check_failing": ("http", "checks.{check}.up", "==", False, None, None, 3),
        "pm2_app_errored": ("pm2", "apps.{app}.status", "==", "errored", None, None, 1),
        "pm2_app_not_online": ("pm2", "apps.{app}.status", "!=", "online", None, None, 3),
        "pm2_app_restarting": ("pm2", "apps.{app}.restart_increase", ">=", 3.0, None, None, 1),
        "dependency_down": ("dependencies", "probes.{probe}.up", "==", False, None, None, 3),
    }


def test_every_shipped_rule_clears_after_fifteen_minutes() -> None:
    assert {r.clear_for for r in default_rules()} == {timedelta(minutes=15)}


@pytest.mark.parametrize(("written", "hold"), [(3, 3), (1, 1), ("2m", timedelta(minutes=2))])
def test_for_is_a_count_of_samples_or_a_duration(written: Any, hold: int | timedelta) -> None:
    assert rule(**{"for": written}).hold == hold


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"for": True},
         "Value error, must be a number of samples or a duration like 2m (got true)"),
        ({"for": 0}, "Value error, must be at least 1 sample (got 0)"),
        ({"clear": 90}, "Value error, clear (90) must lie on the healthy side of threshold 85"),
        ({"critical": 80}, "Value error, critical (80) must lie beyond threshold 85"),
        ({"threshold": "high"}, "Value error, > compares numbers; 'high' is not one"),
        ({"op": "==", "clear": 80},
         "Value error, needs an ordering comparison (> >= < <=), not =="),
        ({"metric": "mounts.{disk}.used_percent"},
         "Value error, unknown label {disk}; labels are mount, app, organization, check, probe"),
        ({"where": {"mount": "/"}},
         "Value error, mount is not a label the metric binds"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_a_bad_rule_is_refused_with_a_readable_reason(
    changes: dict[str, Any], message: str
) -> None:
    assert refusal(**changes) == message


def test_a_rule_below_its_threshold_takes_clear_and_critical_from_the_other_side() -> None:
    low = rule(op="<", threshold=24, clear=48, critical=6)
    assert (low.clear, low.critical) == (48.0, 6.0)


def test_rule_names_must_be_unique() -> None:
    with pytest.raises(ValidationError) as caught:
        Config.model_validate({"rules": [MEMORY, MEMORY]})
    (error,) = caught.value.errors()
    assert (error["type"], error["loc"]) == ("cross_check", ("rules", 1, "name"))
    assert error["msg"] == "rule names must be unique; 'm' is also rules[0]'s"


def test_the_state_table_covers_every_state_and_observation() -> None:
    assert set(TRANSITIONS) == {(s, o) for s in State for o in Observation}
