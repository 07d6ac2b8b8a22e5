"""A store filled by a real scenario and served with the dashboard, for the browser tests.

The agent (the real one, on a manual clock) and the real executor in enforce mode
open three incidents: a dependency down whose ``pause_jobs`` is refused by its budget
(``max_runs: 0``), so a person is asked to approve it — approving runs it for real (a
flag file under the test's directory); a memory incident whose PM2 restart is not
allowed, so a manual step is proposed (to reject); and an organization's upload
incident (acme). Served like ``support.api.serve_copy``: the daemon's own
:class:`Responder` behind the hooks, on an ephemeral loopback port.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from support.api import Stack, org_logs, token_entries
from support.clock import ManualClock
from support.scenario import T0, Scenario, memory, pm2, probes

from calmopsd.act.executor import SafeExecutor
from calmopsd.config import Config
from calmopsd.daemon.responding import Responder
from calmopsd.record.database import Database, database_path
from calmopsd.record.incidents import list_incidents
from calmopsd.record.recommendations import list_recommendations
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import add_snapshot
from calmopsd.serve.answers import Hooks
from calmopsd.serve.app import create_app
from calmopsd.serve.operations import Operations
from calmopsd.serve.server import ApiServer
from calmopsd.serve.tokens import Tokens


@dataclass
class Served:
    stack: Stack
    config: Config
    flag: Path
    incident: dict[str, int]  # dependency, memory, acme → incident id
    recommendation: dict[str, int]  # the same → its first recommendation

    @property
    def url(self) -> str:
        assert self.stack.server.url is not None
        return self.stack.server.url


def build(root: Path) -> Served:
    state, flag = root / "state", root / "jobs.paused"
    config = Config.model_validate(
        {"state_dir": str(state),
         "actions": {"mode": "enforce",
                     "pause_jobs": {"flag_file": str(flag), "max_runs": 0}}}
    )  # fmt: skip
    database = Database.open(database_path(state))
    executor = SafeExecutor(database, config.actions, config.sensing.pm2, state, ManualClock(T0))
    s = Scenario(database, config=config, executor=executor)
    s.feed("memory", memory(40), times=4)  # a few calm readings for the chart
    s.feed("logs", org_logs(acme=(0, 400, 80)), times=3)  # acme: uploads failing
    s.feed("dependencies", probes(postgres=False), times=3)  # pause_jobs: budget 0
    s.feed("pm2", pm2(api={"memory_bytes": 900 << 20}))
    s.feed("memory", memory(92), times=3)  # restart not allowed: a manual step
    _history(database, s.now)
    incident, recommendation = _ids(database)
    return Served(_serve(database, config, s.now), config, flag, incident, recommendation)


def _history(database: Database, now: datetime) -> None:
    """Six hours of stored snapshots for the health page's charts, as the snapshot writer
    keeps them (the scenario feeds the agent, not the store): memory climbing past its
    threshold in the last half hour, acme's upload failures rising."""
    for step in range(72):
        at = now - timedelta(minutes=5 * (72 - step))
        percent = 40 + step / 2 if step < 66 else 92
        add_snapshot(database, Scope.platform(), sampler="memory", taken_at=at, ok=True,
                     duration_ms=2.0, readings=memory(percent))  # fmt: skip
        failures = 80 if step >= 60 else 4
        add_snapshot(database, Scope.platform(), sampler="logs", taken_at=at, ok=True,
                     duration_ms=5.0, readings=org_logs(acme=(0, 400, failures)))  # fmt: skip


def _ids(database: Database) -> tuple[dict[str, int], dict[str, int]]:
    incident: dict[str, int] = {}
    recommendation: dict[str, int] = {}
    for found in list_incidents(database, Scope.platform(), unresolved=True):
        kind = found.organization_id or found.type.value
        recs = list_recommendations(database, Scope.platform(), found.id)
        incident[kind] = found.id
        if recs:
            recommendation[kind] = recs[0].id
    assert {"dependency", "memory", "acme"} <= set(recommendation), (incident, recommendation)
    return incident, recommendation


def _serve(database: Database, config: Config, now: object) -> Stack:
    clock = ManualClock(now + timedelta(seconds=1))  # type: ignore[operator]
    responder = Responder(database, clock)
    responder.configure(config)
    responder.start()
    hooks = Hooks(approve=responder.approve, in_agent=responder.in_agent, revert=responder.revert)
    operations = Operations(database, clock, hooks)
    app = create_app(operations, Tokens(token_entries()), settings=lambda: config)
    server = ApiServer(app, listen="127.0.0.1:0")
    server.start()
    return Stack(database, server, Path(config.actions.pause_jobs.flag_file or ""), [], responder)
