"""Alert tuning proposed for a person to approve: ``calmopsd backtest --propose`` on the
recorded history (history.py), through the store and through a real daemon's API; the
approval answers with the diff made afresh, and nothing ever writes the config."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest
from backtest.history import Recorded
from backtest.test_backtest_cli import shipped_copy
from support.process import DaemonProcess, calmopsd, clean_env

from calmopsd.backtest.yamldiff import set_key
from calmopsd.model import RecommendationStatus
from calmopsd.record.database import Database, connect, database_path
from calmopsd.record.recommendations import recommendations_of_kind
from calmopsd.record.scope import Scope


@pytest.fixture
def state(store: tuple[Path, Recorded], tmp_path: Path) -> Path:
    """A copy of the recorded store for this test alone (proposals write to it)."""
    copy = tmp_path / "state"
    shutil.copytree(store[0], copy)
    return copy


def tuning_recommendations(state: Path) -> list:  # type: ignore[type-arg]
    path = database_path(state)
    reader = Database(path, connect(path, query_only=True))
    try:
        return recommendations_of_kind(reader, Scope.platform(), "alert_tuning")
    finally:
        reader.close()


def test_propose_writes_the_best_change_as_a_recommendation_once(
    store: tuple[Path, Recorded], state: Path, tmp_path: Path
) -> None:
    ids = store[1]
    current = shipped_copy(tmp_path)
    before = current.read_bytes()
    args = ("backtest", "--current", str(current), "--state-dir", str(state), "--propose")
    done = calmopsd(*args)
    assert done.returncode == 0, done.stderr
    (rec,) = tuning_recommendations(state)
    assert (rec.incident_id, rec.status, rec.params["key"], rec.params["value"]) == (
        ids.blip, RecommendationStatus.PROPOSED, "thresholds.memory_percent", "90",
    )  # fmt: skip
    assert rec.evidence["backtest"]["removed"] == [ids.blip]
    assert rec.evidence["backtest"]["missed"] == []
    assert "+  memory_percent: 90" in rec.evidence["diff"].splitlines()
    assert "would not have opened 1 of 1 incident that recovered by itself, and it misses " \
        "no real incident." in rec.rationale  # fmt: skip
    lines = done.stdout.splitlines()
    assert "- rule memory_used: thresholds.memory_percent 85 → 90 (removes 1 of 1 noisy " \
        "incident)" in lines  # fmt: skip
    assert (f"  proposed as recommendation #{rec.id} on incident #{ids.blip}: calmopsd "
            f"approve {ids.blip} {rec.id} (or reject)") in lines  # fmt: skip

    again = calmopsd(*args, "--json")
    assert again.returncode == 0, again.stderr
    (skipped,) = json.loads(again.stdout)["proposals"]
    assert (skipped["recommendation_id"], skipped["skipped"]) == (None, "pending")
    assert len(tuning_recommendations(state)) == 1
    assert current.read_bytes() == before  # nothing writes the config


def test_approving_gives_the_diff_against_the_file_as_it_is_then(
    store: tuple[Path, Recorded], state: Path, tmp_path: Path
) -> None:
    ids = store[1]
    current = shipped_copy(tmp_path)
    assert calmopsd("backtest", "--current", str(current), "--state-dir", str(state),
                    "--propose").returncode == 0  # fmt: skip
    (rec,) = tuning_recommendations(state)
    # Someone edits the file after the proposal: the diff is made afresh against it.
    current.write_text("# edited since\n" + current.read_text(encoding="utf-8"), "utf-8")
    before = current.read_bytes()
    approved = calmopsd("approve", str(ids.blip), str(rec.id), "--state-dir", str(state),
                        "--config", str(current))  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    out = approved.stdout
    assert "approved: recorded as approved; calmopsd changes no config itself: apply this " \
        "diff and reload (made afresh:" in out  # fmt: skip
    assert "-  memory_percent: 85" in out.splitlines() and "+  memory_percent: 90" in out
    assert current.read_bytes() == before
    (decided,) = tuning_recommendations(state)
    assert decided.status is RecommendationStatus.APPROVED and "cli:" in str(decided.decided_by)
    # Decided once: the same change is not proposed again.
    again = calmopsd("backtest", "--current", str(current), "--state-dir", str(state),
                     "--propose", "--json")  # fmt: skip
    assert [p["skipped"] for p in json.loads(again.stdout)["proposals"]] == ["decided"]


def test_propose_with_a_candidate_is_a_usage_error(state: Path, tmp_path: Path) -> None:
    current = shipped_copy(tmp_path)
    done = calmopsd("backtest", "--current", str(current), "--state-dir", str(state),
                    "--config", str(current), "--propose")  # fmt: skip
    assert done.returncode == 2
    assert "--propose tunes the rules in force" in done.stderr
    assert tuning_recommendations(state) == []


def test_through_the_daemon_the_file_must_be_the_one_in_force(
    store: tuple[Path, Recorded], state: Path, tmp_path: Path
) -> None:
    """While a daemon holds the store, it proposes (its agent writes); a file edited since
    the daemon loaded it is refused, as backtesting it would test rules that do not run."""
    ids = store[1]
    config = shipped_copy(tmp_path)
    text = config.read_text(encoding="utf-8")
    # Quiet: no sampler adds readings of this host, retention keeps the March history raw.
    for sampler in ("memory", "disk", "pm2", "http", "dependencies"):
        text = set_key(text, ("sensing", sampler, "enabled"), "false")
    for key, value in (
        (("retention", "raw_snapshots"), "1000d"),
        (("api", "listen"), "127.0.0.1:0"),
        (("state_dir",), str(state)),
        (("log", "format"), "json"),
    ):
        text = set_key(text, key, value)
    config.write_text(text, "utf-8")
    daemon = DaemonProcess("--config", str(config), env=clean_env())
    try:
        daemon.wait_for("daemon.ready", timeout=30)
        args = ("backtest", "--current", str(config), "--state-dir", str(state), "--propose",
                "--since", "400d", "--json")  # fmt: skip
        done = calmopsd(*args)
        assert done.returncode == 0, done.stderr
        (proposal,) = json.loads(done.stdout)["proposals"]
        assert (proposal["incident_id"], proposal["key"]) == (ids.blip, "thresholds.memory_percent")
        (rec,) = tuning_recommendations(state)
        assert rec.id == proposal["recommendation_id"]

        config.write_text(config.read_text(encoding="utf-8") + "# not reloaded\n", "utf-8")
        refused = calmopsd(*args)
        assert refused.returncode == 1
        assert json.loads(refused.stdout)["error"] == "config_changed"
        assert "changed since it was loaded: reload first" in refused.stderr
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=15) == 0
    finally:
        daemon.stop()
    assert len(tuning_recommendations(state)) == 1
