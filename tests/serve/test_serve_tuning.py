"""Alert tuning through the API, from the attacker's side: only a super-admin operator
may ask for proposals or approve a config change; bad bodies are 4xx and change nothing;
an approval answers with the diff and writes no config."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.api import StackMaker, Template
from support.clock import ManualClock

from calmopsd.backtest.remake import sha256
from calmopsd.errors import Conflict, NotFound
from calmopsd.model import AGENT, RecommendationStatus
from calmopsd.record.recommendations import add_recommendation, get_recommendation
from calmopsd.record.scope import Scope
from calmopsd.serve.answers import ConfigInForce, Hooks
from calmopsd.serve.tokens import Caller
from calmopsd.serve.tuning import Tuning

CONFIG = "thresholds:\n  memory_percent: 85\n"
DEADLINE_S = 30.0


def tuning_on(stack_db, incident_id: int, config: Path, at) -> int:  # type: ignore[no-untyped-def]
    """An alert_tuning recommendation as calmopsd.learn.tuning writes one."""
    config.write_text(CONFIG, encoding="utf-8")
    return add_recommendation(
        stack_db, Scope.platform(), incident_id, kind="alert_tuning", at=at, actor=AGENT,
        rationale="Tune rule memory_used: thresholds.memory_percent 85 → 90.",
        params={"rule": "memory_used", "change": "thresholds.memory_percent 85 → 90",
                "key": "thresholds.memory_percent", "path": ["thresholds", "memory_percent"],
                "value": "90", "config": str(config)},
        evidence={"config_sha256": sha256(CONFIG), "diff": "(the diff made then)\n",
                  "backtest": {"removed": [1], "missed": []}},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [("acme-op", 403, "super_admin_required"), ("root-view", 403, "forbidden"),
     ("root", 503, "unavailable"), (None, 401, "unauthorized")],
)  # fmt: skip
def test_only_a_super_admin_operator_may_ask_for_proposals(
    make_stack: StackMaker, token: str | None, status: int, code: str
) -> None:
    stack = make_stack()
    before = stack.dump()
    answer = stack.call("POST", "/tuning/proposals", token, json={"since": "7d"})
    assert (answer.status_code, answer.json()["error"]) == (status, code)
    assert stack.dump() == before


@pytest.mark.parametrize(
    "body",
    [{"since": "a month"}, {"since": "0s"}, {"since": "401d"}, {"noise_within": "2d"},
     {"since": "7d", "apply": True}, {"since": 7}, [1]],
)  # fmt: skip
def test_a_bad_body_is_a_400_and_changes_nothing(make_stack: StackMaker, body: object) -> None:
    stack = make_stack()
    before = stack.dump()
    answer = stack.call("POST", "/tuning/proposals", "root", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] in ("invalid_body", "invalid_json", "invalid_field",
                                      "unknown_field")  # fmt: skip
    assert stack.dump() == before
    query = stack.call("POST", "/tuning/proposals?since=7d", "root")
    assert (query.status_code, query.json()["error"]) == (400, "invalid_query")


def test_a_config_change_is_a_super_admins_to_approve_and_gives_the_diff(
    make_stack: StackMaker, template: Template, tmp_path: Path
) -> None:
    stack = make_stack()
    incident = template.incident["acme"]
    config = tmp_path / "calmops.yaml"
    rec = tuning_on(stack.database, incident, config, template.now)
    path = f"/incidents/{incident}/recommendations/{rec}/approve"
    before = stack.dump()
    # Shown to super-admins only: to the organization it is not there, to decide or read.
    for decision in ("approve", "reject"):
        refused = stack.call("POST", path.replace("approve", decision), "acme-op", json={})
        assert (refused.status_code, refused.json()["error"]) == (404, "not_found"), decision
    shown = stack.call("GET", f"/incidents/{incident}", "acme-op").json()
    assert rec not in [r["id"] for r in shown["recommendations"]]
    assert stack.dump() == before

    config.write_text("# edited\n" + CONFIG, encoding="utf-8")  # since the proposal
    approved = stack.call("POST", path, "root")
    assert approved.status_code == 200, approved.text
    detail = approved.json()["detail"]
    assert detail.startswith("recorded as approved; calmopsd changes no config itself: apply "
                             f"this diff and reload (made afresh: {config} changed")  # fmt: skip
    assert "-  memory_percent: 85\n+  memory_percent: 90\n" in detail
    assert config.read_text(encoding="utf-8") == "# edited\n" + CONFIG  # never written
    found = get_recommendation(stack.database, Scope.platform(), rec)
    assert found is not None and found.status is RecommendationStatus.APPROVED


def test_a_non_utf8_config_is_a_409_not_a_500(make_stack: StackMaker, tmp_path: Path) -> None:
    stack = make_stack()
    config = tmp_path / "calmops.yaml"
    config.write_bytes(b"state_dir: \xff\n")
    hooks = Hooks(config_file=lambda: ConfigInForce(config, None))
    root = Caller("root", Scope.platform(), "operator", True, "token:root")
    with pytest.raises(Conflict) as refused:
        Tuning(stack.database, ManualClock(datetime(2026, 3, 2, tzinfo=UTC)), hooks).propose(
            root, timedelta(days=7), timedelta(minutes=30)
        )
    assert refused.value.code == "config_invalid"


def test_a_second_request_while_a_backtest_runs_is_refused_at_once(
    make_stack: StackMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each backtest holds its request's thread: one at a time, so repeated asking cannot take
    every API thread. The one under way is not disturbed, and the next may run after it."""
    stack = make_stack()
    config = tmp_path / "calmops.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    hooks = Hooks(config_file=lambda: ConfigInForce(config, None))
    tuning = Tuning(stack.database, ManualClock(datetime(2026, 3, 2, tzinfo=UTC)), hooks)
    root = Caller("root", Scope.platform(), "operator", True, "token:root")
    entered, release = threading.Event(), threading.Event()
    runs: list[str] = []

    def held_backtest(*args: object, **kwargs: object) -> None:
        runs.append("ran")
        entered.set()
        assert release.wait(DEADLINE_S)
        # None is what tune() answers for a store without history: a 404 no_history.

    monkeypatch.setattr("calmopsd.learn.tuning.tune", held_backtest)
    first: list[BaseException] = []

    def ask() -> None:
        try:
            tuning.propose(root, timedelta(days=7), timedelta(minutes=30))
        except NotFound as exc:
            first.append(exc)

    under_way = threading.Thread(target=ask)
    under_way.start()
    assert entered.wait(DEADLINE_S)
    with pytest.raises(Conflict) as refused:
        tuning.propose(root, timedelta(days=7), timedelta(minutes=30))
    assert refused.value.code == "tuning_busy"
    release.set()
    under_way.join(DEADLINE_S)
    assert not under_way.is_alive()
    assert [exc.code for exc in first] == ["no_history"]  # the first ran to its own end
    with pytest.raises(NotFound):  # the lock is free again
        tuning.propose(root, timedelta(days=7), timedelta(minutes=30))
    assert runs == ["ran", "ran"]
