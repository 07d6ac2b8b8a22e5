"""The metric table rules are checked against, held to what the samplers really report."""

from __future__ import annotations

import socket
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.clock import ManualClock  # type: ignore[import-not-found]

from calmopsd.config import load_config
from calmopsd.config.logs import LogsConfig
from calmopsd.config.metrics import METRICS
from calmopsd.config.rules import metric_segments
from calmopsd.config.sensing import (
    DependenciesSamplerConfig,
    DiskSamplerConfig,
    HttpSamplerConfig,
    MemorySamplerConfig,
)
from calmopsd.errors import ConfigError
from calmopsd.sense.disk import DiskSampler
from calmopsd.sense.http import HttpSampler
from calmopsd.sense.logs import LogWatcher
from calmopsd.sense.memory import MemorySampler
from calmopsd.sense.pm2_parse import read_instances, summarize
from calmopsd.sense.tcp import DependencySampler

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def resolves(values: dict[str, Any], metric: str, labels: dict[str, str]) -> bool:
    """Whether ``metric`` names a key that exists (its value may be None) in ``values``."""
    node: Any = values
    for name, is_label in metric_segments(metric):
        key = labels[name] if is_label else name
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when we return: connections are refused


def real_readings(tmp_path: Path) -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
    port = closed_port()
    log = tmp_path / "access.log"
    log.write_text("")
    logs = LogsConfig.model_validate(
        {"start_at": "beginning", "settle": "0s",
         "nginx": [{"name": "web", "paths": [str(log)]}]}
    )  # fmt: skip
    watcher = LogWatcher(logs, ManualClock(NOW))
    logs_values = watcher.poll().values
    watcher.close()
    logs_values["organizations"] = {"acme": logs_values["platform"]}  # same window shape
    entry = {
        "pid": 42, "name": "api", "pm_id": 0, "monit": {"memory": 1, "cpu": 0.0},
        "pm2_env": {"name": "api", "pm_id": 0, "status": "online", "restart_time": 0,
                    "unstable_restarts": 0, "exec_mode": "fork_mode", "pm_uptime": 0,
                    "version": "1.0.0"},
    }  # fmt: skip
    parsed = read_instances([entry])
    assert parsed is not None
    apps, _ = summarize(parsed[0], 1_000, None)
    target = {"name": "db", "host": "127.0.0.1", "port": port, "timeout": "1s"}
    check = {"name": "web", "url": f"http://127.0.0.1:{port}/health", "timeout": "1s"}
    return {
        "memory": (MemorySampler(MemorySamplerConfig()).sample(), {}),
        "disk": (DiskSampler(DiskSamplerConfig(), ManualClock(NOW)).sample(), {"mount": "/"}),
        "pm2": ({"state": "ok", "apps": apps}, {"app": "api"}),
        "http": (HttpSampler(HttpSamplerConfig.model_validate({"checks": [check]})).sample(),
                 {"check": "web"}),
        "dependencies": (
            DependencySampler(DependenciesSamplerConfig.model_validate({"probes": [target]}))
            .sample(), {"probe": "db"}),
        "logs": (logs_values, {"organization": "acme"}),
    }  # fmt: skip


def test_every_metric_in_the_table_is_in_the_samplers_real_readings(tmp_path: Path) -> None:
    readings = real_readings(tmp_path)
    missing = [
        f"{sampler}: {metric}"
        for sampler, metrics in METRICS.items()
        for metric in metrics
        if not resolves(*readings[sampler][:1], metric, readings[sampler][1])
    ]
    assert missing == []


def rule_problems(tmp_path: Path, rule: str) -> list[str]:
    path = tmp_path / "calmops.yaml"
    path.write_text("rules:\n" + textwrap.indent(textwrap.dedent(rule), "  "))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return [p.split("calmops.yaml", 1)[1] for p in raised.value.problems]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("- {name: m, sampler: memroy, metric: used_percent, op: '>', threshold: 1, type: memory}",
         ":2: rules[0].sampler: must be one of: memory, disk, pm2, http, dependencies, logs "
         "(got 'memroy')"),
        ("- {name: m, sampler: memory, metric: usedpercent, op: '>', threshold: 1, type: memory}",
         ":2: rules[0].metric: memory readings have no metric 'usedpercent'; "
         "did you mean 'used_percent'?"),
        ("- {name: d, sampler: disk, metric: 'mounts.{app}.used_percent', op: '>', threshold: 1,"
         " type: disk}",
         ":2: rules[0].metric: disk readings have no metric 'mounts.{app}.used_percent'; "
         "did you mean 'mounts.{mount}.used_percent'?"),
        ("- {name: d, sampler: disk, metric: 'mounts.{Mount}.used_percent', op: '>', "
         "threshold: 1, type: disk}",
         ":2: rules[0].metric: labels are written in lower case: {mount}"),
        ("- {name: p, sampler: pm2, metric: 'apps.{app}.status', op: '>', threshold: 90,"
         " type: network}",
         ":2: rules[0].threshold: > compares numbers, but the metric is text: use == or !="),
        ("- {name: u, sampler: logs, metric: platform.5m.upload_failure_rate, op: '>',"
         " threshold: 10, type: upload}",
         ":2: rules[0].threshold: the rate is a fraction: 0.1 means 10 % (got 10)"),
        ("- {name: m, sampler: memory, metric: used_percent, op: '==', threshold: '90',"
         " type: memory}",
         ":2: rules[0].threshold: the metric is a number; '90' is not"),
        ("- {name: m, sampler: memory, metric: used_percent, op: '>', threshold: .nan,"
         " type: memory}",
         ":2: rules[0].threshold: must be a finite number (got nan)"),
        ("- {name: h, sampler: http, metric: 'checks.{check}.up', op: '==', threshold: 'no',"
         " type: network}",
         ":2: rules[0].threshold: the metric is true or false; 'no' is not"),
        ("- {name: u, sampler: logs, metric: platform.5m.upload_failure_rate, op: '>',"
         " threshold: 0.1, type: upload,"
         " volume: {metric: 'organizations.{organization}.5m.uploads', at_least: 5}}",
         ":2: rules[0].volume: the volume uses {organization}, which the metric does not"),
    ],
)  # fmt: skip
def test_a_rule_that_could_never_fire_is_refused_at_its_key(
    tmp_path: Path, rule: str, expected: str
) -> None:
    assert rule_problems(tmp_path, rule) == [expected]


def test_several_problems_in_one_rule_are_all_reported_at_once(tmp_path: Path) -> None:
    rule = """\
        - name: m
          sampler: memory
          metric: used_percent
          where: {mount: /}
          op: ">"
          threshold: 80
          critical: 70
          clear: 90
        """
    assert sorted(rule_problems(tmp_path, rule)) == [
        ":2: rules[0].type: required key is missing",
        ":5: rules[0].where: mount is not a label the metric binds",
        ":8: rules[0].critical: critical (70) must lie beyond threshold 80",
        ":9: rules[0].clear: clear (90) must lie on the healthy side of threshold 80",
    ]
