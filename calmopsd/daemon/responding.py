"""The incident agent in the daemon: one input at a time, one transaction each, and no
input ever waits for an action.

Two threads, two queues::

    sampling jobs ─reading─┐                       ┌─▶ executor worker ─┐
    respond.tick ──tick────┼─▶ inputs ─▶ agent ────┤   (one action at  │
    approvals ─approved────┤   thread: one input,  │    a time, per-   │
    worker ────outcome─────┘   one transaction     │    target locks)  │
                  ▲                                 │                   │
                  └────────────── outcome ─────────────────────────────┘

A sampling job only puts its reading on the queue; the agent thread handles
each input inside :meth:`Database.unit` (everything it changes commits at once
or not at all), then hands the action requests it decided to the executor's
worker. The worker runs them — and the reverts due, and a person's early
revert — and feeds each outcome back as an input. A bug in the agent is one
``agent.failed`` line and the next input goes on; the input's transaction is
rolled back and the agent takes the store's picture again.

A stop waits for the action in flight up to its share of the stop budget;
one still running then is left with an intent and no result, which the next
start records as ``action.interrupted`` (the same path as a crash).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import structlog

from calmopsd.act.executor import SafeExecutor
from calmopsd.act.interrupted import record_interrupted
from calmopsd.clock import Clock
from calmopsd.config import Config
from calmopsd.errors import Unavailable
from calmopsd.model import (
    ActionOutcome,
    ActionRequest,
    OutcomeStatus,
    Reading,
    Recommendation,
)
from calmopsd.record.database import Database
from calmopsd.record.recommendations import get_recommendation
from calmopsd.record.scope import Scope
from calmopsd.respond.agent import Agent
from calmopsd.respond.approvals import Decision
from calmopsd.respond.impact import ImpactLevels
from calmopsd.respond.tracked import Pending

log = structlog.get_logger("calmopsd.daemon")

TICK_JOB = "respond.tick"
APPROVAL_WAIT_S = 300.0  # an approval answers with its action's outcome; actions are bounded
PERSON_WAIT_S = 30.0  # a person's change waits only for the inputs ahead of it


@dataclass(frozen=True)
class _Tick:
    now: datetime


@dataclass(frozen=True)
class _Approved:
    """A person's approval: re-checked, decided and requested on the agent's thread."""

    scope: Scope
    recommendation_id: int
    actor: str
    at: datetime
    reply: Future[Decision]


@dataclass(frozen=True)
class _Asked:
    """The approval an action request answers: told once its outcome is in."""

    scope: Scope
    recommendation: Recommendation
    actor: str
    reply: Future[Decision]


@dataclass(frozen=True)
class _Done:
    request: ActionRequest
    outcome: ActionOutcome
    at: datetime
    asked: _Asked | None


@dataclass(frozen=True)
class _Person:
    """A person's change (API, CLI through the API): carried out here, followed at once."""

    incident_id: int | None
    work: Callable[[], Any]
    reply: Future[Any]


_Input = Reading | _Tick | _Approved | _Done | _Person


@dataclass(frozen=True)
class _Run:
    request: ActionRequest
    asked: _Asked | None


@dataclass(frozen=True)
class _Call:
    """Other executor work that changes the host: reverts due, a person's revert, controls."""

    step: str
    work: Callable[[SafeExecutor], object]
    reply: Future[object] | None = None


_Job = _Run | _Call
_STOP = None
_WHY = "calmopsd is stopping"
_NOT_STARTED = ActionOutcome(OutcomeStatus.REFUSED, f"not started: {_WHY}")


class Responder:
    """Owns the daemon's :class:`Agent` and the executor's worker; nothing here raises
    into a sampling job or the scheduler."""

    def __init__(self, database: Database, clock: Clock):
        self.database = database
        self.clock = clock
        self.agent: Agent | None = None  # none until the first configure()
        self.executor: SafeExecutor | None = None
        self._executor_from: tuple[object, ...] | None = None
        self._built_from: tuple[object, ...] | None = None
        self._lock = threading.Lock()  # held while one input is handled, never during an action
        self._inputs: queue.Queue[_Input | None] = queue.Queue()
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._busy = 0  # inputs and jobs queued or being handled
        self._idle = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.longest_wait_s = 0.0  # the longest a reading's hand-over waited (the bench's figure)

    # -- wiring ---------------------------------------------------------------------

    def configure(self, config: Config) -> None:
        """Build a new agent if there is none or its inputs changed; otherwise keep it.

        The executor is rebuilt on its own when only ``actions:`` (or PM2's
        settings) changed, so the agent keeps its detector state. A build that
        raises leaves the old agent in place (the caller decides whether that
        fails the start or the reload). An action the old agent requested that
        still runs is handed to the new one, whose incident takes its outcome.
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
                self.agent.executor = executor
            return
        agent = Agent(
            self.database,
            rules=config.detection_rules(),
            incidents=config.incidents,
            playbook=config.playbook,
            executor=executor,
            levels=ImpactLevels(
                server_error_rate=config.thresholds.server_error_percent / 100,
                min_requests=config.thresholds.server_error_min_requests,
                upload_failure_rate=config.thresholds.upload_failure_percent / 100,
            ),
            limits_organizations=_limits_organizations(config),
        )
        with self._lock:  # the agent thread may be handling an input of the old agent
            old = self.agent
            if old is None:  # the first agent: what was left running before is interrupted
                self._recover()
            else:
                agent.in_flight = _in_flight(old)
            self.agent, self._built_from = agent, wanted
            self.executor, self._executor_from = executor, _executor_inputs(config)
            try:
                with self.database.unit():
                    agent.resume(self.clock.now())  # take over the incidents left unresolved
            except Exception:  # an incident it cannot resume ends stale; the daemon goes on
                log.exception("agent.failed", step="resume", sampler=None)

    def _recover(self) -> None:
        try:
            record_interrupted(self.database, self.clock.now())
        except Exception:  # the audit log is checked by verify-audit; the daemon goes on
            log.exception("agent.failed", step="recover", sampler=None)

    def start(self) -> None:
        """Start the agent thread and the executor's worker."""
        for name, target in (("agent", self._agent_loop), ("executor", self._worker_loop)):
            thread = threading.Thread(target=target, name=f"calmopsd-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float) -> bool:
        """Let the action in flight finish and its outcome be taken, up to ``timeout_s``;
        False if one was still running (its intent without a result says so).

        The worker stops first and starts no action still queued (an unstarted request
        is found at the next start like an interrupted one); then the agent takes the
        inputs queued so far, the outcome among them, and stops.
        """
        deadline = time.monotonic() + timeout_s
        self._stopping.set()
        self._jobs.put(_STOP)
        threads = dict(zip(("agent", "executor"), self._threads, strict=False))
        if "executor" in threads:
            threads["executor"].join(timeout=max(0.0, deadline - time.monotonic()))
        self._inputs.put(_STOP)
        if "agent" in threads:
            threads["agent"].join(timeout=max(0.0, deadline - time.monotonic()))
        stopped = not any(thread.is_alive() for thread in self._threads)
        if not stopped:
            log.warning("agent.stop_incomplete", reason="an action was still running")
        return stopped

    def settle(self, timeout_s: float) -> bool:
        """Wait until every input and job queued so far is handled (for tests and the
        bench); False if that did not happen within ``timeout_s``."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout=timeout_s)

    # -- ways in --------------------------------------------------------------------

    def observe(self, reading: Reading) -> None:
        """Hand one reading to the agent; never waits for it, never raises."""
        began = time.monotonic()
        self._put(reading)
        self.longest_wait_s = max(self.longest_wait_s, time.monotonic() - began)

    def tick(self) -> None:
        """The time for the agent, and the executor's own clock work: actions whose time is
        up are reverted, the CLI's pause flag is followed."""
        now = self.clock.now()
        self._put(_Tick(now))
        self._submit(_Call("revert", lambda executor: executor.revert_due(now)))
        self._submit(_Call("control", lambda executor: executor.follow_controls(now)))

    def approve(self, scope: Scope, recommendation_id: int, actor: str) -> Decision:
        """A person's approval, re-checked against the agent's current picture and decided
        on its thread (so it sees every reading before it, and a refusal leaves the
        recommendation proposed); answered with the action's outcome once the worker has
        run it. Only the caller waits."""
        reply: Future[Decision] = Future()
        self._put(_Approved(scope, recommendation_id, actor, self.clock.now(), reply))
        try:
            return reply.result(timeout=APPROVAL_WAIT_S)
        except FutureTimeout:
            if not reply.cancel() and reply.done():
                return reply.result()
            return Decision(
                "approved", f"no outcome within {APPROVAL_WAIT_S:.0f} s; the timeline will say"
            )

    def in_agent(self, incident_id: int | None, work: Callable[[], Any]) -> Any:
        """Carry out a person's change on the agent's thread, in its own transaction, and
        let the agent follow it at once; answered after it is applied, with what
        ``work`` returned (or raised)."""
        reply: Future[Any] = Future()
        self._put(_Person(incident_id, work, reply))
        try:
            return reply.result(timeout=PERSON_WAIT_S)
        except FutureTimeout:
            if not reply.cancel():  # taken up just now: it is short, wait for it
                return reply.result(timeout=PERSON_WAIT_S)
            raise Unavailable(
                f"calmopsd did not take the change within {PERSON_WAIT_S:.0f} s", "busy"
            ) from None

    def revert(self, active_id: int, actor: str) -> tuple[bool, str]:
        """A person ends an action in force early; (done, why not). Run by the worker,
        after any action ahead of it."""
        if self.executor is None:
            return False, "calmopsd is starting"
        reply: Future[object] = Future()
        now = self.clock.now()

        def work(executor: SafeExecutor) -> object:
            return executor.revert(active_id, now, actor)

        self._submit(_Call("revert", work, reply))
        try:
            answer = reply.result(timeout=APPROVAL_WAIT_S)
        except FutureTimeout:
            return False, f"no answer within {APPROVAL_WAIT_S:.0f} s; see `calmopsd actions active`"
        done, why = answer if isinstance(answer, tuple) else (False, str(answer))
        return bool(done), str(why)

    # -- the two threads -----------------------------------------------------------

    def _agent_loop(self) -> None:
        while (item := self._inputs.get()) is not _STOP:
            try:
                self._handle(item)
            finally:
                self._done_one()

    def _handle(self, item: _Input) -> None:
        with self._lock:
            agent = self.agent
            if agent is None:
                if isinstance(item, _Person):
                    item.reply.set_exception(Unavailable("calmopsd is starting", "starting"))
                if isinstance(item, _Approved):
                    item.reply.set_result(Decision("refused", "calmopsd is starting"))
                return
            given_up = isinstance(item, _Person | _Approved) and (
                not item.reply.set_running_or_notify_cancel()
            )
            if given_up:
                return  # its caller gave up waiting and was told so: not carried out
            if isinstance(item, _Person):
                self._person(agent, item)
                return
            in_flight = _in_flight(agent)  # as before the input: a rollback returns here
            answers: list[Callable[[], None]] = []
            asked: _Asked | None = None
            try:
                with self.database.unit():
                    asked = self._decide(agent, item, answers)
            except Exception:  # a bug in the agent must not stop the next input
                log.exception("agent.failed", step=_step(item), sampler=_sampler(item))
                self._after_failure(agent, in_flight)
                # Whoever waits on this input is answered all the same.
                if isinstance(item, _Approved):
                    item.reply.set_result(Decision("refused", "calmopsd failed; see its log"))
                if isinstance(item, _Done) and item.asked is not None:
                    item.asked.reply.set_result(Decision("approved", item.outcome.detail))
                return
            for answer in answers:  # only once committed: the caller reads what was written
                answer()
            for request in agent.take_requests():
                self._submit(_Run(request, asked))
                asked = None  # only an approval's own request answers it

    def _person(self, agent: Agent, item: _Person) -> None:
        """The change and the agent's following of it commit together, or neither does;
        what the change raised (a lost race, a refusal) goes back to the person."""
        in_flight = _in_flight(agent)
        try:
            with self.database.unit():
                before = self.database.changes()
                result = item.work()
                if self.database.changes() != before:  # a refused change is not followed
                    agent.follow(item.incident_id, self.clock.now())
        except Exception as exc:
            item.reply.set_exception(exc)
            self._after_failure(agent, in_flight)
            return
        item.reply.set_result(result)
        for request in agent.take_requests():
            self._submit(_Run(request, None))

    def _decide(
        self, agent: Agent, item: _Input, answers: list[Callable[[], None]]
    ) -> _Asked | None:
        """Feed one input to the agent; the approval whose request is now queued, if any.
        What a waiting caller is told goes to ``answers``, sent after the commit."""
        if isinstance(item, Reading):
            agent.observe(item)
        elif isinstance(item, _Tick):
            agent.tick(item.now)
        elif isinstance(item, _Approved):
            return self._approved(agent, item, answers)
        elif isinstance(item, _Done):
            agent.action_done(item.request, item.outcome, item.at)
            asked = item.asked
            if asked is not None:
                told = agent.approved_outcome(
                    asked.scope, asked.recommendation, asked.actor, item.at, item.outcome
                )
                answers.append(partial(asked.reply.set_result, told))
        return None

    def _approved(
        self, agent: Agent, item: _Approved, answers: list[Callable[[], None]]
    ) -> _Asked | None:
        decision = agent.approve(item.scope, item.recommendation_id, item.actor, item.at)
        if decision.status != "requested":
            answers.append(partial(item.reply.set_result, decision))
            return None
        recommendation = get_recommendation(self.database, item.scope, item.recommendation_id)
        if recommendation is None:  # cannot be: it was just approved in this transaction
            raise LookupError(f"recommendation {item.recommendation_id} vanished")
        return _Asked(item.scope, recommendation, item.actor, item.reply)

    def _after_failure(self, agent: Agent, in_flight: dict[int, Pending]) -> None:
        """The input's writes were rolled back: take the store's picture again (what it
        requested was rolled back with them; the actions in flight before it are kept).
        Should that fail too, the incidents are left untracked: the next tick's resume
        takes them up from the store."""
        agent.take_requests()
        agent.tracked.clear()
        agent.in_flight = dict(in_flight)
        try:
            with self.database.unit():
                agent.resume(self.clock.now())
        except Exception:  # the next input goes on all the same
            log.exception("agent.failed", step="resume", sampler=None)
            agent.tracked.clear()
            agent.in_flight = dict(in_flight)

    def _worker_loop(self) -> None:
        while (job := self._jobs.get()) is not _STOP:
            try:
                self._work(job)
            finally:
                self._done_one()

    def _work(self, job: _Job) -> None:
        executor = self.executor
        if executor is None or self._stopping.is_set():
            # Stopping: nothing new starts. A waiting caller is answered; an unstarted
            # request is left to the next start, which finds it without a result.
            if isinstance(job, _Run) and job.asked is not None:
                job.asked.reply.set_result(Decision("approved", _NOT_STARTED.detail))
            elif isinstance(job, _Call) and job.reply is not None:
                job.reply.set_result((False, _WHY))
            return
        if isinstance(job, _Call):
            try:
                result = job.work(executor)
            except Exception as exc:  # a bug here must not end the worker
                log.exception("agent.failed", step=job.step, sampler=None)
                result = (False, f"calmopsd failed ({type(exc).__name__})")
            if job.reply is not None:
                job.reply.set_result(result)
            return
        try:
            outcome = executor.request(job.request, self.clock.now())
        except Exception as exc:  # never leave the incident stabilizing
            log.exception("action.crashed", incident_id=job.request.incident_id,
                          action=job.request.action)  # fmt: skip
            outcome = ActionOutcome(
                OutcomeStatus.FAILED, f"the executor crashed ({type(exc).__name__})"
            )
        self._put(_Done(job.request, outcome, self.clock.now(), job.asked))

    # -- bookkeeping ---------------------------------------------------------------

    def _put(self, item: _Input) -> None:
        with self._idle:
            self._busy += 1
        self._inputs.put(item)

    def _submit(self, job: _Job) -> None:
        with self._idle:
            self._busy += 1
        self._jobs.put(job)

    def _done_one(self) -> None:
        with self._idle:
            self._busy -= 1
            if self._busy == 0:
                self._idle.notify_all()


def _in_flight(agent: Agent) -> dict[int, Pending]:
    """The actions in flight, by incident: kept across a rollback of the agent's state."""
    kept = dict(agent.in_flight)
    kept.update({i: t.pending for i, t in agent.tracked.items() if t.pending is not None})
    return kept


def _step(item: _Input) -> str:
    if isinstance(item, Reading):
        return "observe"
    return {_Tick: "tick", _Approved: "approve", _Done: "outcome", _Person: "person"}[type(item)]


def _sampler(item: _Input) -> str | None:
    return item.sampler if isinstance(item, Reading) else None


def _executor_inputs(config: Config) -> tuple[object, ...]:
    return (config.actions, config.sensing.pm2, config.state_dir)


def _inputs(config: Config) -> tuple[object, ...]:
    """What an agent is built from: a change in any of these needs a new one."""
    return (
        config.rules,
        config.rule_defaults,
        config.thresholds,
        config.incidents,
        config.playbook,
        _limits_organizations(config),
    )


def _limits_organizations(config: Config) -> bool:
    """Whether nginx can limit one organization's uploads: the playbook then fits it."""
    return config.actions.rate_limit_uploads.organizations_map_file is not None
