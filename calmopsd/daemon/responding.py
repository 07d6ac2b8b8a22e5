"""The incident agent in the daemon: one at a time, and never fatal to a job.

The agent and the executor it asks (:class:`~calmopsd.act.executor.SafeExecutor`)
are not thread-safe, and the agent is fed from every sampling job's thread
and from the ``respond.tick`` job, so one lock serializes all of it. A bug in
the agent must not kill a sampling job or the scheduler: any exception becomes
one ``agent.failed`` log line and the daemon carries on. A reload rebuilds the
agent only when what it is built from changed (rules, thresholds, incidents,
playbook), so an unrelated reload keeps its detector state: hold-down counts,
firing series, the incidents it tracks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from calmopsd.act.executor import SafeExecutor
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
        self.executor: SafeExecutor | None = None
        self._executor_from: tuple[object, ...] | None = None
        self._built_from: tuple[object, ...] | None = None
        self._lock = threading.Lock()

    def configure(self, config: Config) -> None:
        """Build a new agent if there is none or its inputs changed; otherwise keep it.

        The executor is rebuilt on its own when only ``actions:`` (or PM2's
        settings) changed, so the agent keeps its detector state. A build that
        raises leaves the old agent in place (the caller decides whether that
        fails the start or the reload).
        """
        executor = self.executor
        if executor is None or self._executor_from != _executor_inputs(config):
            executor = SafeExecutor(
                self.database, config.actions, config.sensing.pm2, config.state_dir, self.clock
            )
        wanted = _inputs(config)
        if self.agent is not None and wanted == self._built_from:
            with self._lock:
                self.executor, self._executor_from = executor, _executor_inputs(config)
                self.agent.stabilizer.executor = executor
            return
        agent = Agent(
            self.database,
            rules=config.detection_rules(),
            incidents=config.incidents,
            playbook=config.playbook,
            executor=executor,
            levels=ImpactLevels(
                server_errors_per_min=float(config.thresholds.server_errors_per_minute),
                upload_failure_rate=config.thresholds.upload_failure_percent / 100,
            ),
        )
        with self._lock:  # a job may be inside the old agent right now
            self.agent, self._built_from = agent, wanted
            self.executor, self._executor_from = executor, _executor_inputs(config)
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

    def revert(self, active_id: int, actor: str) -> tuple[bool, str]:
        """A person ends an action in force early; (done, why not)."""
        with self._lock:
            if self.executor is None:
                return False, "calmopsd is starting"
            return self.executor.revert(active_id, self.clock.now(), actor)

    def tick(self) -> None:
        """Let the agent act on time alone, end actions whose time is up, and follow the
        CLI (pause flag, revert requests); a failure is logged, never raised."""
        with self._lock:
            agent, executor = self.agent, self.executor
            if agent is None or executor is None:
                return
            now = self.clock.now()
            steps: tuple[tuple[str, Callable[[], object]], ...] = (
                ("tick", lambda: agent.tick(now)),
                ("revert", lambda: executor.revert_due(now)),
                ("control", lambda: executor.follow_controls(now)),
            )
            for step, work in steps:
                try:
                    work()
                except Exception:  # a bug here must not end the scheduler's job
                    log.exception("agent.failed", step=step, sampler=None)


def _executor_inputs(config: Config) -> tuple[object, ...]:
    return (config.actions, config.sensing.pm2, config.state_dir)


def _inputs(config: Config) -> tuple[object, ...]:
    """What an agent is built from: a change in any of these needs a new one."""
    return (config.rules, config.thresholds, config.incidents, config.playbook)
