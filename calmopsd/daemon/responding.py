"""The incident agent in the daemon: one at a time, and never fatal to a job.

The agent is not thread-safe, and it is fed from every sampling job's thread
and from the ``respond.tick`` job, so one lock serializes all of it. A bug in
the agent must not kill a sampling job or the scheduler: any exception becomes
one ``agent.failed`` log line and the daemon carries on. A reload rebuilds the
agent only when what it is built from changed (rules, thresholds, incidents,
playbook), so an unrelated reload keeps its detector state: hold-down counts,
firing series, the incidents it tracks.
"""

from __future__ import annotations

import threading

import structlog

from calmopsd.act import ShadowExecutor
from calmopsd.clock import Clock
from calmopsd.config import Config
from calmopsd.model import Reading
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope
from calmopsd.respond.agent import Agent
from calmopsd.respond.approvals import Decision, approve
from calmopsd.respond.impact import ImpactLevels

log = structlog.get_logger("calmopsd.daemon")

TICK_JOB = "respond.tick"
TICK_INTERVAL_S = 30


class Responder:
    """Owns the daemon's :class:`Agent`; :meth:`observe` and :meth:`tick` never raise."""

    def __init__(self, database: Database, clock: Clock):
        self.database = database
        self.clock = clock
        self.agent: Agent | None = None  # none until the first configure()
        self._built_from: tuple[object, ...] | None = None
        self._lock = threading.Lock()

    def configure(self, config: Config) -> None:
        """Build a new agent if there is none or its inputs changed; otherwise keep it.

        A build that raises leaves the old agent in place (the caller decides
        whether that fails the start or the reload).
        """
        wanted = _inputs(config)
        if self.agent is not None and wanted == self._built_from:
            return
        agent = Agent(
            self.database,
            rules=config.detection_rules(),
            incidents=config.incidents,
            playbook=config.playbook,
            executor=ShadowExecutor(),
            levels=ImpactLevels(
                server_errors_per_min=float(config.thresholds.server_errors_per_minute),
                upload_failure_rate=config.thresholds.upload_failure_percent / 100,
            ),
        )
        with self._lock:  # a job may be inside the old agent right now
            self.agent, self._built_from = agent, wanted
            try:
                agent.resume(self.clock.now())  # take over the incidents left unresolved
            except Exception:  # an incident it cannot resume ends stale; the daemon goes on
                log.exception("agent.failed", step="resume", sampler=None)

    def observe(self, reading: Reading) -> None:
        """Feed one reading to the agent; a failure is logged, never raised."""
        with self._lock:
            if self.agent is None:
                return
            try:
                self.agent.observe(reading)
            except Exception:  # a bug in the agent must not end the sampling job
                log.exception("agent.failed", step="observe", sampler=reading.sampler)

    def approve(self, scope: Scope, recommendation_id: int, actor: str) -> Decision:
        """A person's approval, re-checked against the agent's current picture."""
        with self._lock:
            if self.agent is None:
                return Decision("refused", "calmopsd is starting")
            agent = self.agent
            return approve(
                self.database, scope, recommendation_id, actor=actor, at=self.clock.now(),
                state_of=agent.series_state, run=agent.run_approved,
            )  # fmt: skip

    def tick(self) -> None:
        """Let the agent act on time alone; a failure is logged, never raised."""
        with self._lock:
            if self.agent is None:
                return
            try:
                self.agent.tick(self.clock.now())
            except Exception:  # a bug in the agent must not end the scheduler's job
                log.exception("agent.failed", step="tick", sampler=None)


def _inputs(config: Config) -> tuple[object, ...]:
    """What an agent is built from: a change in any of these needs a new one."""
    return (config.rules, config.thresholds, config.incidents, config.playbook)
