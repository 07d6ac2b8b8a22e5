"""``calmopsd backtest`` as a real subprocess on the recorded history: its JSON, the
suggestion's diff, and its exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from backtest.history import Recorded
from support.process import calmopsd

from calmopsd.config.location import SHIPPED_CONFIG


def shipped_copy(directory: Path) -> Path:
    """The shipped config/calmops.yaml, comments and all, under another name."""
    path = directory / "calmops.yaml"
    shutil.copyfile(SHIPPED_CONFIG, path)
    return path


def test_json_reports_each_rule_against_the_real_incidents(
    store: tuple[Path, Recorded], tmp_path: Path
) -> None:
    state, ids = store
    current = shipped_copy(tmp_path)
    done = calmopsd("backtest", "--current", str(current), "--state-dir", str(state), "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    rules = {r["rule"]: r for r in found["rules"]}
    matched = rules["memory_used"]["matched"]
    assert [(m["incident_id"], m["later_s"], m["source"]) for m in matched] == [
        (ids.rolled, 780.0, "rollup"),
        (ids.blip, 0.0, "raw"),
        (ids.long, 0.0, "raw"),
    ]
    assert [m["incident_id"] for m in rules["health_check_failing"]["missed"]] == [ids.check]
    assert found["totals"] == {"would_open": 4, "new": 0, "missed": 1, "noise_removed": 0}
    assert found["approximation"].startswith("Periods kept only as 5-minute roll-ups")
    assert {(p["sampler"], p["source"]) for p in found["periods"]} == {
        ("memory", "raw"),
        ("memory", "rollup"),
        ("disk", "raw"),
        ("disk", "rollup"),
    }


def test_a_candidate_config_is_replayed_instead(
    store: tuple[Path, Recorded], tmp_path: Path
) -> None:
    state, ids = store
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text("rule_defaults:\n  memory:\n    for: 5\n", encoding="utf-8")
    done = calmopsd(
        "backtest",
        "--current",
        str(shipped_copy(tmp_path)),
        "--state-dir",
        str(state),
        "--config",
        str(candidate),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    rules = {r["rule"]: r for r in json.loads(done.stdout)["rules"]}
    assert [(u["incident_id"], u["noise"]) for u in rules["memory_used"]["noise_removed"]] == [
        (ids.blip, "recovered_quickly")
    ]
    assert [m["later_s"] for m in rules["memory_used"]["matched"]] == [1380.0, 120.0]


def test_suggest_prints_the_recommended_change_as_a_diff_of_the_config(
    store: tuple[Path, Recorded], tmp_path: Path
) -> None:
    current = shipped_copy(tmp_path)
    done = calmopsd(
        "backtest", "--current", str(current), "--state-dir", str(store[0]), "--suggest"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    tried = "    for 3 → 4 (rule_defaults.memory.for): recommended, removes 1 noise, up to 5 min"
    assert f"{tried} later" in lines
    assert "    clear_for 15m → 30m (rule_defaults.memory.clear_for): removes_no_noise" in lines
    start = lines.index("  recommended for memory_used: thresholds.memory_percent 85 → 90")
    diff = lines[start + 1 :]
    assert diff[:2] == [f"--- a/{str(current).lstrip('/')}", f"+++ b/{str(current).lstrip('/')}"]
    assert [line for line in diff if line[:1] in "+-" and not line.startswith(("---", "+++"))] == [
        "-  memory_percent: 85",
        "+  memory_percent: 90",
    ]


def test_a_candidate_that_does_not_load_is_named_with_its_line_and_exit_2(
    store: tuple[Path, Recorded], tmp_path: Path
) -> None:
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text("state_dir: /x\nrule_defaults:\n  memory:\n    for: 0\n", encoding="utf-8")
    done = calmopsd(
        "backtest",
        "--current",
        str(shipped_copy(tmp_path)),
        "--state-dir",
        str(store[0]),
        "--config",
        str(candidate),
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "backtest: the candidate config does not load:",
        f"{candidate}:4: rule_defaults.memory.for: must be at least 1 sample (got 0)",
    ]


@pytest.mark.parametrize("since", ["a month", "740000d", "3651d"])  # 740000d: a tester's
def test_a_bad_since_is_a_usage_error(
    store: tuple[Path, Recorded], tmp_path: Path, since: str
) -> None:
    done = calmopsd(
        "backtest",
        "--current",
        str(shipped_copy(tmp_path)),
        "--state-dir",
        str(store[0]),
        "--since",
        since,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("backtest: --since: ")
    assert "Traceback" not in done.stderr


def test_no_database_is_exit_1(tmp_path: Path) -> None:
    done = calmopsd(
        "backtest", "--current", str(shipped_copy(tmp_path)), "--state-dir", str(tmp_path / "none")
    )
    assert done.returncode == 1
    assert done.stderr.startswith("backtest: no database at ")
