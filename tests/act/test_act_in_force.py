"""Reversible actions in force survive a daemon restart and end on time: real nginx, real store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.clock import ManualClock  # type: ignore[import-not-found]
from support.nginx import Nginx, running_nginx

from calmopsd.act.executor import SafeExecutor
from calmopsd.config.actions import ActionsConfig
from calmopsd.config.sensing import Pm2SamplerConfig
from calmopsd.model import ActionRequest, OutcomeStatus, SafeAction
from calmopsd.record.actions import list_active
from calmopsd.record.audit import list_events, verify_file
from calmopsd.record.database import Database, database_path
from calmopsd.record.scope import Scope

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Nginx]:
    with running_nginx(tmp_path / "nginx") as running:
        yield running
    assert running.leftovers() == []


def executor(database: Database, server: Nginx, state: Path) -> SafeExecutor:
    config = ActionsConfig.model_validate(server.actions_config(burst=0))
    return SafeExecutor(database, config, Pm2SamplerConfig(), state, ManualClock(T0))


def test_an_upload_limit_is_reverted_on_time_by_the_daemon_after_a_restart(
    server: Nginx, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    before = b"# calmopsd: no limit\n"
    server.include.write_bytes(before)
    database = Database.open(database_path(state))
    limit = ActionRequest(SafeAction.RATE_LIMIT_UPLOADS, {"ttl": "10m"}, None, None, "overload")
    outcome = executor(database, server, state).request(limit, T0)
    assert outcome.status is OutcomeStatus.SUCCEEDED, outcome.detail
    assert server.burst("/upload").count(429) >= 25
    database.close()  # the daemon stops with the limit in force

    database = Database.open(database_path(state))  # and starts again
    restarted = executor(database, server, state)
    assert restarted.revert_due(T0 + timedelta(minutes=9)) == []
    assert server.burst("/upload").count(429) >= 25  # still in force
    assert restarted.revert_due(T0 + timedelta(minutes=10)) == [1]
    assert server.burst("/upload") == [200] * 30
    assert server.include.read_bytes() == before
    assert list_active(database) == []
    kinds = [e.kind for e in list_events(database, Scope.platform())]
    assert kinds == [
        "action.intent", "action.in_force", "action.executed", "action.reverted",
    ]  # fmt: skip
    database.close()
    assert verify_file(database_path(state)).ok


def test_a_broken_nginx_config_is_never_reloaded_and_the_action_is_recorded_failed(
    server: Nginx, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    database = Database.open(database_path(state))
    workers = server.workers()
    server.break_syntax()
    reload = ActionRequest(SafeAction.NGINX_RELOAD, {}, None, None, "nginx is the failing hop")
    outcome = executor(database, server, state).request(reload, T0)
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.detail.startswith("nginx -t failed")
    assert server.workers() == workers  # nothing was signalled
    assert server.get("/") == (200, "up")
    executed = [e for e in list_events(database, Scope.platform()) if e.kind == "action.executed"]
    assert [(e.data["status"], len(e.data["commands"])) for e in executed] == [("failed", 1)]
    database.close()
