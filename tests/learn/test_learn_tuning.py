"""The pure parts of alert tuning: which proposals are new, and the diff remade at
approval against the file as it is then (unchanged, edited, applied, gone, unparsable);
and that a tuning recommendation outlives its incident."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from calmopsd.backtest.remake import remade, sha256
from calmopsd.follow.obsolete import obsolete_with_incident
from calmopsd.learn.tuning import Proposal, Skipped, skip_reason
from calmopsd.model import (
    AGENT,
    IncidentStatus,
    IncidentType,
    Recommendation,
    RecommendationStatus,
    Severity,
)
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database, database_path
from calmopsd.record.incidents import change_status, open_incident
from calmopsd.record.recommendations import add_recommendation, get_recommendation
from calmopsd.record.scope import Scope

AT = datetime(2026, 3, 5, tzinfo=UTC)
PLATFORM = Scope.platform()
TEXT = "# the operator's words stay\nthresholds:\n  memory_percent: 85  # ours\n"


def rec(config: Path, status: RecommendationStatus = RecommendationStatus.PROPOSED,
        value: str = "90") -> Recommendation:  # fmt: skip
    return Recommendation(
        id=7, incident_id=3, organization_id=None, kind="alert_tuning", action=None,
        params={"rule": "memory_used", "key": "thresholds.memory_percent",
                "path": ["thresholds", "memory_percent"], "value": value, "config": str(config)},
        rationale="", status=status, created_at=AT, expires_at=None,
        evidence={"config_sha256": sha256(TEXT), "diff": "the stored diff\n"}, preconditions={},
    )  # fmt: skip


def proposal(value: str = "90") -> Proposal:
    return Proposal(
        rule="memory_used", change="x", key="thresholds.memory_percent",
        path=("thresholds", "memory_percent"), value=value, incident_id=3, noise=(3,),
        removed=(3,), later_s=None, since=AT, until=AT, approximate=False, config="c",
        config_sha256="", diff="",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "expected"),
    [(RecommendationStatus.PROPOSED, Skipped.PENDING),
     (RecommendationStatus.APPROVED, Skipped.DECIDED),
     (RecommendationStatus.REJECTED, Skipped.DECIDED),
     (RecommendationStatus.EXPIRED, None),
     (RecommendationStatus.OBSOLETE, None)],
)  # fmt: skip
def test_the_same_change_is_not_proposed_again(
    tmp_path: Path, status: RecommendationStatus, expected: Skipped | None
) -> None:
    earlier = [rec(tmp_path, status)]
    assert skip_reason(proposal(), earlier) is expected
    assert skip_reason(proposal("95"), earlier) is None  # another change of the same rule


def test_an_unchanged_file_gets_the_stored_diff(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(TEXT, encoding="utf-8")
    assert remade(rec(config)).diff == "the stored diff\n"


def test_an_edited_file_gets_a_fresh_diff_keeping_its_comments(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("# edited since\n" + TEXT, encoding="utf-8")
    fresh = remade(rec(config))
    assert fresh.note.startswith("made afresh")
    changed = [line for line in fresh.diff.splitlines() if line[:1] in "+-"][2:]
    assert changed == ["-  memory_percent: 85  # ours", "+  memory_percent: 90  # ours"]
    assert config.read_text(encoding="utf-8").startswith("# edited since")  # not written


def test_a_change_already_applied_leaves_nothing_to_apply(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(TEXT.replace("85", "90"), encoding="utf-8")
    fresh = remade(rec(config))
    assert (fresh.diff, fresh.note) == ("", f"{config} already holds thresholds.memory_percent: 90")


@pytest.mark.parametrize(
    ("text", "said"),
    [(None, "cannot be read now"), ("thresholds: [1, 2]\n", "no longer applies as is")],
)
def test_a_file_gone_or_reshaped_gets_the_stored_diff_and_why(
    tmp_path: Path, text: str | None, said: str
) -> None:
    config = tmp_path / "c.yaml"
    if text is not None:
        config.write_text(text, encoding="utf-8")
    fresh = remade(rec(config))
    assert fresh.diff == "the stored diff\n"
    assert said in fresh.note


def test_a_tuning_recommendation_outlives_its_incident(tmp_path: Path) -> None:
    database = Database.open(database_path(tmp_path / "state"))
    try:
        incident = open_incident(
            database, PLATFORM, organization_id=None, fingerprint="memory:host",
            type=IncidentType.MEMORY, severity=Severity.WARNING, title="memory", at=AT,
            actor=AGENT, evidence={},
        )  # fmt: skip
        ids = [add_recommendation(database, PLATFORM, incident.id, kind=kind, at=AT,
                                  actor=AGENT, rationale=kind)
               for kind in ("alert_tuning", "manual", "playbook_order")]  # fmt: skip
        change_status(database, PLATFORM, incident.id, expected=IncidentStatus.OPEN,
                      new=IncidentStatus.RESOLVED, at=AT, actor=AGENT,
                      resolution="recovered")  # fmt: skip
        consume = obsolete_with_incident(database)
        for event in list_events(database, PLATFORM, incident_id=incident.id):
            consume(event)
        after = [get_recommendation(database, PLATFORM, i) for i in ids]
        assert [r.status if r else None for r in after] == [
            RecommendationStatus.PROPOSED, RecommendationStatus.OBSOLETE,
            RecommendationStatus.PROPOSED,
        ]  # fmt: skip
    finally:
        database.close()


OWN = (
    "rules:\n"
    "  - {name: mem, sampler: memory, metric: used_percent, op: '>', threshold: 90, type: memory}\n"
    "  - name: disk\n    sampler: memory\n    metric: swap_used_percent\n    op: '>'\n"
    "    threshold: 90\n    type: memory\n    for: 5\n"
)


def own_rec(config: Path, index: int) -> Recommendation:
    """Tuning rule ``disk``'s ``for`` (at ``rules[index]`` when proposed) to 7."""
    proposed = rec(config)
    return Recommendation(**{
        **proposed.__dict__,
        "params": {"rule": "disk", "key": f"rules[{index}].for", "path": ["rules", index, "for"],
                   "value": "7", "config": str(config)},
    })  # fmt: skip


def test_a_rule_of_the_files_own_is_found_again_by_name(tmp_path: Path) -> None:
    """A rule added above it since the proposal: the change goes to the same rule, never
    to whichever rule now holds its old place."""
    config = tmp_path / "c.yaml"
    extra = (
        "  - {name: new, sampler: memory, metric: used_percent, op: '>', threshold: 95,"
        " type: memory}\n"
    )
    config.write_text(OWN.replace("rules:\n", "rules:\n" + extra), encoding="utf-8")
    fresh = remade(own_rec(config, 1))
    changed = [line for line in fresh.diff.splitlines() if line[:1] in "+-"][2:]
    assert changed == ["-    for: 5", "+    for: 7"], fresh
    config.write_text(OWN.replace("name: disk", "name: storage"), encoding="utf-8")
    gone = remade(own_rec(config, 1))
    assert (gone.diff, "rule disk is not in its rules: list" in gone.note) == (
        "the stored diff\n", True,
    )  # fmt: skip


def test_an_edit_that_would_not_load_gets_the_stored_diff(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(OWN.replace("for: 5", "for: 5\n    colour: red"), encoding="utf-8")
    fresh = remade(own_rec(config, 1))
    assert fresh.diff == "the stored diff\n"
    assert "it would not load" in fresh.note


def test_a_config_that_is_not_utf8_gets_the_stored_diff(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_bytes(b"thresholds:\n  memory_percent: 85 # \xff\n")
    fresh = remade(rec(config))
    assert (fresh.diff, fresh.note) == ("the stored diff\n", f"{config} is not UTF-8 text now: "
                                        "the diff as it was made when proposed")  # fmt: skip


def test_two_shipped_rules_sharing_a_key_get_one_proposal(tmp_path: Path) -> None:
    shared = replace(
        proposal(), rule="upload_failures", path=("thresholds", "upload_failure_percent")
    )
    other = replace(shared, rule="organization_upload_failures")
    earlier = [Recommendation(**{**rec(tmp_path).__dict__, "params": {
        "rule": shared.rule, "path": list(shared.path), "value": shared.value}})]  # fmt: skip
    assert skip_reason(other, earlier) is Skipped.PENDING
    own = replace(proposal(), rule="a", path=("rules", 0, "for"))
    moved = replace(own, path=("rules", 3, "for"))
    same_place_other_rule = replace(own, rule="b")
    mine = [Recommendation(**{**rec(tmp_path).__dict__, "params": {
        "rule": "a", "path": list(own.path), "value": own.value}})]  # fmt: skip
    assert skip_reason(moved, mine) is Skipped.PENDING
    assert skip_reason(same_place_other_rule, mine) is None
