"""Serving a real store over a real waitress server, for the API tests (tests/serve/).

The template store is filled once per session by the agent: organizations acme
and globex each with an open incident, a recommendation and an action in force;
two platform-wide incidents, one with a recommendation and one with a real
``pause_jobs`` in force, run by the executor in enforce mode. Each :class:`Stack`
serves a fresh copy of it on an ephemeral 127.0.0.1 port, with the daemon's own
:class:`Responder` behind the approve and revert hooks, so a test that changes
things changes only its copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
from support.clock import ManualClock
from support.scenario import T0, Scenario, memory, pm2, probes

from calmopsd.act.executor import SafeExecutor
from calmopsd.config import Config
from calmopsd.daemon.responding import Responder
from calmopsd.model import Reading
from calmopsd.record.actions import add_active, list_active
from calmopsd.record.database import Database, connect, database_path
from calmopsd.record.head import head_path_for
from calmopsd.record.incidents import list_incidents
from calmopsd.record.recommendations import list_recommendations
from calmopsd.record.scope import Scope
from calmopsd.serve.answers import Hooks
from calmopsd.serve.app import create_app
from calmopsd.serve.operations import Operations
from calmopsd.serve.server import ApiServer
from calmopsd.serve.tokens import TokenEntry, Tokens, digest

ORGS = ("acme", "globex")
KINDS = ("acme", "globex", "platform")  # whose incident a cell is about
# name → (organization or None for super-admin, role); each token's secret is "secret-" + name.
TOKENS = {
    "acme-op": ("acme", "operator"),
    "acme-view": ("acme", "viewer"),
    "globex-op": ("globex", "operator"),
    "root": (None, "operator"),
    "root-view": (None, "viewer"),
    "local-cli": (None, "operator"),  # the daemon's own: X-Calmops-Actor names the person
}


def secret(name: str) -> str:
    return f"secret-{name}"


def token_entries() -> list[TokenEntry]:
    return [
        TokenEntry(name, org, "operator" if role == "operator" else "viewer", digest(secret(name)))
        for name, (org, role) in TOKENS.items()
    ]


def window(errors: float, uploads: int = 0, failures: int = 0) -> dict[str, Any]:
    """Windows of 100 requests a minute, ``errors`` of them 5xx."""
    rate = failures / uploads if uploads else None
    return {"1m": {"server_errors_per_min": errors, "requests_per_min": 100, "requests": 100,
                   "server_errors": errors, "server_error_rate": errors / 100},
            "5m": {"uploads": uploads, "upload_failures": failures,
                   "upload_failure_rate": rate, "server_errors_per_min": errors}}  # fmt: skip


def org_logs(**orgs: tuple[float, int, int]) -> dict[str, Any]:
    """A logs reading in which each organization has its own (errors, uploads, failures)."""
    total = [sum(o[i] for o in orgs.values()) for i in range(3)]
    platform = window(total[0], int(total[1]), int(total[2]))
    organizations = {name: window(*figures) for name, figures in orgs.items()}
    return {"sources": {"web": platform}, "platform": platform, "organizations": organizations}


@dataclass
class Template:
    state: Path
    flag: Path
    config: Config
    now: Any
    incident: dict[str, int]  # kind → an open incident of that kind
    recommendation: dict[str, int]
    active: dict[str, int]


def build_template(root: Path) -> Template:
    state, flag = root / "state", root / "jobs.paused"
    config = Config.model_validate(
        {"state_dir": str(state),
         "actions": {"mode": "enforce", "pause_jobs": {"flag_file": str(flag)}}}
    )  # fmt: skip
    database = Database.open(database_path(state))
    clock = ManualClock(T0)
    executor = SafeExecutor(database, config.actions, config.sensing.pm2, state, clock)
    s = Scenario(database, config=config, executor=executor)
    s.feed("logs", org_logs(globex=(42, 0, 0)), times=3)  # globex: server errors
    s.feed("logs", org_logs(globex=(42, 0, 0), acme=(0, 400, 80)), times=3)  # acme: uploads
    s.feed("dependencies", probes(postgres=False), times=3)  # platform: pause_jobs, for real
    s.feed("pm2", pm2(api={"memory_bytes": 900 << 20}))
    s.feed("memory", memory(92), times=3)  # platform: a restart not allowed → a person asked
    for incident in s.incidents():
        if incident.organization_id is not None:
            # One pause at a time on the host: the organizations' actions in force are the
            # rows the executor keeps for a pause that changed nothing (its undo is empty).
            add_active(
                database, Scope.platform(), action="pause_jobs", target="jobs",
                incident_id=incident.id, organization_id=incident.organization_id,
                params={"ttl": "30m"}, undo={"apps": [], "flag_file": None},
                started_at=s.now, expires_at=s.now + timedelta(minutes=30), actor="test",
            )  # fmt: skip
    ids = _ids(database)
    database.close()
    return Template(state, flag, config, s.now, *ids)


def _ids(database: Database) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    incident: dict[str, int] = {}
    recommendation: dict[str, int] = {}
    for found in list_incidents(database, Scope.platform(), unresolved=True):
        kind = found.organization_id or "platform"
        recs = list_recommendations(database, Scope.platform(), found.id)
        if recs and kind not in recommendation:
            incident[kind], recommendation[kind] = found.id, recs[0].id
    active = {(a.organization_id or "platform"): a.id for a in list_active(database)}
    assert set(incident) == set(recommendation) == set(active) == set(KINDS), (incident, active)
    return incident, recommendation, active


@dataclass
class Stack:
    """One copy of the template, served."""

    database: Database
    server: ApiServer
    flag: Path
    checks: list[int] = field(default_factory=list)
    responder: Responder | None = None

    @property
    def url(self) -> str:
        assert self.server.url is not None
        return self.server.url + "/api/ops"

    def call(self, method: str, path: str, token: str | None, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {secret(token)}"
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def dump(self) -> dict[str, Any]:
        """Every row of every table, and the audit head file: to show nothing changed."""
        assert self.database.settle_head(10)  # the head write after a COMMIT is the flusher's
        conn = connect(self.database.path, query_only=True)
        try:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            rows = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                    for t in tables}  # fmt: skip
        finally:
            conn.close()
        head = head_path_for(self.database.path)
        return {"rows": rows, "head": head.read_bytes() if head.exists() else None}

    def close(self) -> None:
        self.server.stop(2.0)
        if self.responder is not None:
            self.responder.stop(5.0)
        self.database.close()


StackMaker = Callable[..., Stack]


def serve_copy(
    template: Template, where: Path, latest: Mapping[str, Reading] | None = None
) -> Stack:
    state = where / "state"
    shutil.copytree(template.state, state)
    template.flag.touch()  # a revert in an earlier copy may have removed it
    database = Database.open(database_path(state))
    clock = ManualClock(template.now + timedelta(seconds=1))
    responder = Responder(database, clock)
    responder.configure(template.config.model_copy(update={"state_dir": state}))
    responder.start()
    checks: list[int] = []
    hooks = Hooks(
        approve=responder.approve,
        in_agent=responder.in_agent,
        revert=responder.revert,
        check_now=lambda: checks.append(1),
        latest=(lambda: dict(latest)) if latest is not None else None,
    )
    app = create_app(Operations(database, clock, hooks), Tokens(token_entries()))
    server = ApiServer(app, listen="127.0.0.1:0")
    server.start()
    return Stack(database, server, template.flag, checks, responder)
