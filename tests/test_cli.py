"""The command line as a user runs it: real processes, exit codes, messages."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from support.process import calmopsd, clean_env, write_config

from calmopsd import __version__
from calmopsd.record.audit import append_event
from calmopsd.record.database import Database, database_path
from calmopsd.record.scope import Scope


def test_version_prints_the_package_version() -> None:
    result = calmopsd("version")
    assert (result.returncode, result.stdout) == (0, f"calmopsd {__version__}\n")


def test_check_config_accepts_the_shipped_default() -> None:
    result = calmopsd("check-config")
    assert (result.returncode, result.stdout) == (0, "config OK\n")


def test_check_config_prints_every_problem_and_exits_2(tmp_path: Path) -> None:
    bad = write_config(
        tmp_path / "bad.yaml", "log:\n  level: loud\nthresholds:\n  disk_percent: -5\n"
    )
    result = calmopsd("check-config", str(bad))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{bad}:2: log.level: must be one of: debug, info, warning, error (got 'loud')",
        f"{bad}:4: thresholds.disk_percent: must be ≥ 0 (got -5)",
    ]
    assert "Traceback" not in result.stderr


def test_check_config_warns_when_two_log_sources_count_the_same_requests(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "logs.yaml",
        "logs:\n"
        "  nginx:\n    - {name: web, paths: [/var/log/nginx/access.log]}\n"
        "  apps:\n    - {name: api, paths: [/tmp/api.log], counts_requests: true}\n",
    )
    result = calmopsd("check-config", str(config))
    assert (result.returncode, result.stdout) == (0, "config OK\n")
    assert result.stderr.startswith(
        "warning: logs: requests are counted from nginx (web) and from app logs (api)"
    )


def test_check_config_reads_calmops_config_from_the_environment(tmp_path: Path) -> None:
    bad = write_config(tmp_path / "env.yaml", "nonsense: 1\n")
    result = calmopsd("check-config", env=clean_env(CALMOPS_CONFIG=str(bad)))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{bad}:1: nonsense: unknown key")


def test_check_config_names_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = calmopsd("check-config", "--config", str(missing))
    assert result.returncode == 2
    assert result.stderr.strip() == f"{missing}: cannot read config: No such file or directory"


def _config_with_events(tmp_path: Path, count: int) -> tuple[Path, Path]:
    config = write_config(tmp_path / "calmops.yaml", "state_dir: state\n")
    database = Database.open(database_path(tmp_path / "state"))
    for i in range(count):
        with database.write() as tx:
            append_event(
                tx,
                Scope.platform(),
                kind="test.event",
                actor="test",
                at=datetime(2026, 1, 1, tzinfo=UTC),
                data={"i": i},
            )
    database.close()
    return config, database.path


def test_verify_audit_counts_an_intact_chain(tmp_path: Path) -> None:
    config, path = _config_with_events(tmp_path, 4)
    result = calmopsd("verify-audit", "--config", str(config))
    assert (result.returncode, result.stdout) == (0, f"audit OK: 4 events verified ({path})\n")


def test_verify_audit_names_the_first_edited_event_even_with_triggers_dropped(
    tmp_path: Path,
) -> None:
    config, path = _config_with_events(tmp_path, 4)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER incident_events_no_update")
        conn.execute("UPDATE incident_events SET actor = 'someone else' WHERE seq = 3")
    result = calmopsd("verify-audit", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.startswith("audit FAILED at seq 3: content does not match its hash")


def test_verify_audit_checks_a_head_seen_in_the_journal(tmp_path: Path) -> None:
    config, _ = _config_with_events(tmp_path, 3)
    wrong = "2:" + "ab" * 32
    result = calmopsd("verify-audit", "--config", str(config), "--expect-head", wrong)
    assert result.returncode == 1
    assert "audit FAILED at seq 2: differs from the anchored head" in result.stderr


def test_verify_audit_rejects_a_malformed_expected_head_with_exit_2(tmp_path: Path) -> None:
    config, _ = _config_with_events(tmp_path, 1)
    result = calmopsd("verify-audit", "--config", str(config), "--expect-head", "x:y")
    assert result.returncode == 2
    assert "expected SEQ:HASH" in result.stderr


def test_verify_audit_without_a_database_says_so_and_exits_1(tmp_path: Path) -> None:
    config = write_config(tmp_path / "calmops.yaml", "state_dir: empty\n")
    result = calmopsd("verify-audit", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.strip() == f"audit: {tmp_path / 'empty' / 'calmopsd.db'}: no database here"


def test_sample_prints_every_enabled_sampler_readably_and_as_json(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "calmops.yaml",
        "sensing:\n  pm2:\n    enabled: false\n  dependencies:\n    probes:\n"
        "      - {name: nothing, host: 127.0.0.1, port: 9}\n",
    )
    text = calmopsd("sample", "--config", str(config))
    assert text.returncode == 0, text.stderr
    headers = [line.split()[0] for line in text.stdout.splitlines() if not line.startswith(" ")]
    assert headers == ["memory", "disk", "dependencies"]  # no health checks: no http sampler
    assert "  probes.nothing.failure" in text.stdout

    as_json = calmopsd("sample", "--json", "--config", str(config))
    readings = json.loads(as_json.stdout)
    assert [r["sampler"] for r in readings] == ["memory", "disk", "dependencies"]
    assert readings[2]["values"]["probes"]["nothing"]["up"] is False
    assert 0 <= readings[0]["values"]["used_percent"] <= 100


def test_verify_audit_with_a_state_dir_needs_no_valid_config(tmp_path: Path) -> None:
    config, path = _config_with_events(tmp_path, 1)
    config.write_text("thresholds:\n  memory_percent: 150\n")  # broken meanwhile
    result = calmopsd("verify-audit", "--config", str(config), "--state-dir", str(path.parent))
    assert (result.returncode, result.stdout) == (0, f"audit OK: 1 event verified ({path})\n")


def test_incidents_lists_open_ones_and_counts_stale_apart_from_recovered(tmp_path: Path) -> None:
    from datetime import timedelta

    from support.scenario import Scenario, disk, memory

    state = tmp_path / "state"
    database = Database.open(database_path(state))
    s = Scenario(database)
    s.feed("memory", memory(92), times=3)
    s.feed("memory", memory(60), every=timedelta(minutes=1), times=17)  # recovered
    s.feed("disk", disk(86), times=3)  # open, then the disk sampler falls silent
    s.feed("memory", memory(92), times=3)  # not a new incident: #1 reopens, flapping
    database.close()

    listed = calmopsd("incidents", "--state-dir", str(state))
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:3] for line in listed.stdout.splitlines()] == [
        ["#2", "monitoring", "warning"],  # the scripted clear_temp worked
        ["#1", "open", "warning"],  # nothing fits: no PM2 app to restart
    ]
    assert listed.stdout.splitlines()[0].endswith(
        "Disk / at 86 % full since 14:17 (threshold 80 %)."
    )

    database = Database.open(database_path(state))
    s = Scenario(database, start=s.now)
    s.wait(timedelta(hours=25))
    database.close()
    every = calmopsd("incidents", "--all", "--state-dir", str(state))
    assert every.stdout.splitlines()[-1] == "resolved: 2 stale_resolved"

    one = calmopsd("incidents", "2", "--state-dir", str(state))
    assert one.stdout.splitlines()[0] == "#2 disk resolved warning (platform; disk:mount=/)"
    assert len(one.stdout.splitlines()) <= 9
    missing = calmopsd("incidents", "99", "--state-dir", str(state))
    assert (missing.returncode, missing.stderr.strip()) == (1, "incidents: no incident 99")
