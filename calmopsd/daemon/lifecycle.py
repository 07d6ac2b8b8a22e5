"""The daemon's life: start, serve signals, reload, stop.

Signals are handled synchronously: the C-level handler writes the signal
number into a socket (``signal.set_wakeup_fd``) and the main thread reads it,
so nothing runs inside a signal handler and no lock can be interrupted.
SIGTERM/SIGINT stop within :data:`STOP_BUDGET_S`; SIGHUP re-reads the config
and keeps the old one if the new one is invalid.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from calmopsd import __version__, early_signals
from calmopsd import log as logsetup
from calmopsd.clock import Clock, SystemClock
from calmopsd.config import Config, dropped
from calmopsd.config.sensing import SensingConfig
from calmopsd.customers.courier import Courier
from calmopsd.customers.drafting import drafting
from calmopsd.daemon.forwarding import Forwarding
from calmopsd.daemon.responding import TICK_JOB, Responder
from calmopsd.daemon.sensing import SensingJobs
from calmopsd.daemon.serving import Serving, cadences
from calmopsd.daemon.source import Source
from calmopsd.errors import ConfigError
from calmopsd.fleet.forwarder import PostCounts
from calmopsd.follow import consumers_for
from calmopsd.follow.bus import Follower
from calmopsd.learn.drafting import reviewing
from calmopsd.learn.offering import offering
from calmopsd.notices.intake import intake
from calmopsd.notices.notifier import Notifier
from calmopsd.notices.send import AppriseSender
from calmopsd.notices.weekly import WeeklyNotifier
from calmopsd.notify import notify
from calmopsd.record.audit import append_event
from calmopsd.record.capacity import enforce_cap
from calmopsd.record.database import Database, database_path
from calmopsd.record.loads import sampling_data
from calmopsd.record.retention import roll_up
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import SnapshotWriter
from calmopsd.sense import Planned, plan
from calmopsd.sense.logs.compiled import SCANNER
from calmopsd.serve.answers import ConfigInForce

log = structlog.get_logger("calmopsd.daemon")

STOP_BUDGET_S = 4.0  # systemd and the tests allow 5 s; leave room to close the database
API_STOP_S = 1.0  # of that budget, for requests in flight to finish
ACTOR = "calmopsd"
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Daemon:
    """Runs the scheduler until a stop signal; see :meth:`run`."""

    def __init__(
        self,
        source: Source,
        config: Config,
        clock: Clock | None = None,
        planner: Callable[[SensingConfig, Clock], list[Planned]] = plan,
        config_digest: str | None = None,
    ):
        self.source = source
        self.config_digest = config_digest
        self.planner = planner
        self.config = config
        self.clock = clock or SystemClock()
        self.database: Database | None = None
        self.snapshots: SnapshotWriter | None = None
        self.sensing: SensingJobs | None = None
        self.responding: Responder | None = None
        self.serving: Serving | None = None
        self.following: Follower | None = None
        self.forwarding: Forwarding | None = None
        self.notifying: Notifier | None = None
        self.weekly: WeeklyNotifier | None = None
        self.courier: Courier | None = None
        self._stopping = threading.Event()  # set first at stop: in-flight samples give up
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        )

    def run(self) -> int:
        """Start, serve until SIGTERM/SIGINT, stop; the exit status for the process."""
        wakeup = self._listen_for_signals()
        try:
            self.start()
        except BaseException:
            self._close_after_failed_start()
            raise
        notify("READY=1\nSTATUS=watching")
        try:
            self._serve(wakeup)
        finally:
            code = self.stop()
        return code

    def _close_after_failed_start(self) -> None:
        """Undo what start() got done before it failed, so the exit is clean."""
        if self.serving is not None:
            self.serving.stop(API_STOP_S)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.responding is not None:
            self.responding.stop(1.0)
        if self.snapshots is not None:
            self.snapshots.stop(1.0)
        if self.following is not None:
            self.following.stop(1.0)
        if self.forwarding is not None:
            self.forwarding.stop(0.5)
        if self.notifying is not None:
            self.notifying.stop(1.0)
        if self.database is not None:
            self.database.close()

    def start(self) -> None:
        """Open the store, start the snapshot writer and the scheduler with every job."""
        database = Database.open(database_path(self.config.state_dir))
        self.database = database
        # Before anything appends: a consumer seen for the first time starts at the
        # head, and every event of this run is after it.
        # Notices are the event log's too, but the notifier's thread sends them: a slow
        # mail server holds up neither the agent nor the other consumers.
        self.notifying = Notifier(
            database, self.clock, AppriseSender(), socket.gethostname(), self.config.notify
        )
        notices = intake(database, self.notifying.scopes, self.notifying.wake)
        # Approved customer messages go out from the same thread, after each round.
        self.courier = Courier(
            database, AppriseSender(), self.config.customers, self.config.notify.give_up_after
        )
        self.notifying.also.append(self.courier.run_once)
        # The weekly stability summary: queued by its cron job, sent in the same thread.
        self.weekly = WeeklyNotifier(
            database, self.clock, AppriseSender(), socket.gethostname(), self.config.notify
        )
        self.notifying.also.append(self.weekly.run_once)
        consumers = {
            **consumers_for(database),
            "notify": notices,
            "customer_messages": drafting(database),
            "reviews": reviewing(database, lambda: self.config),
            "playbook_advice": offering(database, lambda: self.config),
        }
        self.following = Follower(database, consumers, self.clock)
        self.following.start()
        self.notifying.start()
        self.snapshots = SnapshotWriter(database)
        self.snapshots.start()
        self.responding = Responder(database, self.clock)
        self.sensing = SensingJobs(
            self.scheduler,
            database,
            self.snapshots,
            self.clock,
            self.planner,
            self._stopping,
            on_reading=self.responding.observe,
        )
        self._schedule_jobs()
        # After the jobs are planned (not run: the scheduler starts below), so the event
        # says what runs how often, for `calmopsd status` to judge staleness by.
        self._audit(
            "daemon.started",
            version=__version__,
            config=self._config_path(),
            config_sha256=self.config_digest,
            pid=os.getpid(),
            sampling=sampling_data(cadences(self.scheduler)),
        )
        self.responding.configure(self.config)
        self.responding.start()
        self.scheduler.start()
        self.serving = Serving(
            database,
            self.clock,
            self.config.state_dir,
            self.responding,
            self.sensing,
            self._audit,
            lambda: self.config,
            self._forwarded,
            lambda: ConfigInForce(self.source.path.absolute(), self.config_digest),
        )
        self.serving.start(self.config.api)
        self.forwarding = Forwarding(database, self.clock)
        self.forwarding.configure(self.config.alertmanager)
        log.info(
            "daemon.ready",
            version=__version__,
            config=str(self.source.path),
            state_dir=str(self.config.state_dir),
            pid=os.getpid(),
            # Whether logs are counted by the compiled scanner (a host without a compiler
            # when calmopsd was installed counts the same in Python, more slowly).
            log_scanner="python" if SCANNER is None else "compiled",
        )

    def _listen_for_signals(self) -> socket.socket:
        """The socket the stop and reload signals are written to: the one the entry
        point opened before the imports (what came in meanwhile is served), or a new one."""
        receiver, sender = early_signals.listen()
        self._sender = sender  # keep the write end alive as long as the daemon
        return receiver

    def _serve(self, wakeup: socket.socket) -> None:
        while True:
            select.select([wakeup], [], [])
            try:
                received = wakeup.recv(64)
            except BlockingIOError:
                continue
            if any(signal.Signals(n) in _STOP_SIGNALS for n in received):
                log.info("daemon.stopping", signal=signal.Signals(received[-1]).name)
                return
            if signal.SIGHUP in received:
                self.reload()

    def reload(self) -> None:
        """Re-read the config; on any error keep running on the old one.

        A valid config that drops every API token, every rule or a whole section the
        running one set is applied (an operator may mean it: revoking every token at
        once), with a ``config.reload_drops`` warning naming what went.
        """
        notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            new, digest = self.source.load()
        except ConfigError as exc:
            log.error("config.reload_failed", path=str(self.source.path), errors=exc.problems)
            self._audit("config.reload_rejected", config=self._config_path(), problems=exc.problems)
            notify("READY=1")
            return
        except Exception as exc:  # a fault of the loader's own must not end the daemon
            log.exception("config.reload_failed", path=str(self.source.path), error=repr(exc))
            problems = [f"the config could not be read: {type(exc).__name__}"]
            self._audit("config.reload_rejected", config=self._config_path(), problems=problems)
            notify("READY=1")
            return
        drops = dropped(self.config, new)
        if new.state_dir != self.config.state_dir:
            log.warning("config.restart_required", key="state_dir", kept=str(self.config.state_dir))
            new = new.model_copy(update={"state_dir": self.config.state_dir})
        if self.serving is not None:
            new = new.model_copy(update={"api": self.serving.follow(self.config.api, new.api)})
        old = self.config
        try:
            self._apply(new)
        except Exception as exc:  # a valid file the running daemon cannot take: keep the old one
            log.error("config.reload_failed", path=str(self.source.path), error=repr(exc))
            try:
                self._apply(old)
            except Exception as again:  # jobs stay as they were before the reload
                log.error("config.restore_failed", error=repr(again))
            self._audit("config.reload_rejected", config=self._config_path(), error=repr(exc))
            notify("READY=1")
            return
        # As the file spells its keys (`for`, not the field `hold` behind it).
        changed = _changed_keys(old.model_dump(by_alias=True), new.model_dump(by_alias=True))
        self.config_digest = digest
        if drops:
            log.warning("config.reload_drops", path=str(self.source.path), dropped=drops)
        self._audit(
            "config.reloaded",
            config=self._config_path(),
            config_sha256=digest,
            changed=changed,
            dropped=drops,
            sampling=sampling_data(cadences(self.scheduler)),
        )
        log.info("config.reloaded", path=str(self.source.path), changed=changed)
        notify("READY=1")

    def _forwarded(self) -> PostCounts | None:
        """Alertmanager's post counts while forwarding is on (for /metrics)."""
        forwarding = self.forwarding
        if forwarding is None or forwarding.forwarder is None:
            return None
        return forwarding.counts

    def _config_path(self) -> str:
        return str(self.source.path.absolute())

    def _apply(self, config: Config) -> None:
        self.config = config
        logsetup.configure(config.log.level, config.log.format)
        self._schedule_jobs()
        if self.responding is not None:
            # After the jobs: if they cannot take the config, the restore of the old
            # one finds the agent unchanged and keeps its detector state.
            self.responding.configure(config)
        if self.serving is not None:
            self.serving.configure(config.api)
        if self.forwarding is not None:
            self.forwarding.configure(config.alertmanager)
        if self.notifying is not None:
            self.notifying.configure(config.notify)
        if self.weekly is not None:
            self.weekly.configure(config.notify)
        if self.courier is not None:
            self.courier.configure(config.customers, config.notify.give_up_after)

    def _schedule_jobs(self) -> None:
        """Add or replace every recurring job from the current config."""
        add = self.scheduler.add_job
        add(
            self.log_audit_head,
            "interval",
            id="audit.head",
            replace_existing=True,
            seconds=self.config.audit.head_log_interval.total_seconds(),
        )
        # Retention and the tick run at once on start; a reload keeps their rhythm, so it
        # neither repeats them nor runs into one still going (APScheduler would skip it,
        # with a warning in the journal).
        add(
            self.apply_retention,
            "interval",
            id="retention",
            replace_existing=True,
            hours=1,
            next_run_time=self._next_or_now("retention", timedelta(hours=1)),
        )
        if self.responding is not None:
            add(
                self.responding.tick,
                "interval",
                id=TICK_JOB,
                replace_existing=True,
                seconds=self.config.incidents.tick.total_seconds(),
                next_run_time=self._next_or_now(TICK_JOB, self.config.incidents.tick),
            )
        watchdog_usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        if watchdog_usec > 0:
            # Pinging from a scheduled job proves the scheduler itself is ticking.
            add(
                notify,
                "interval",
                args=["WATCHDOG=1"],
                seconds=watchdog_usec / 2e6,
                id="watchdog",
                replace_existing=True,
            )
        if self.weekly is not None:
            weekly = self.config.notify.weekly_summary
            # Also at once: a start or reload after the moment catches up (once per week).
            add(self.queue_weekly_summary, "cron", id="notify.weekly_summary",
                replace_existing=True, day_of_week=weekly.day[:3], hour=weekly.hour,
                timezone=UTC, next_run_time=datetime.now(UTC))  # fmt: skip
        if self.sensing is not None:
            self.sensing.schedule(self.config)

    def _next_or_now(self, job_id: str, interval: timedelta) -> datetime:
        """Now for a job not yet scheduled; on a reload, the time it was already due (but
        no later than one new interval from now, should the interval have shrunk)."""
        now = datetime.now(UTC)
        job = self.scheduler.get_job(job_id)
        due = job.next_run_time if job is not None else None
        return min(due, now + interval) if isinstance(due, datetime) else now

    def apply_retention(self) -> None:
        """Roll old raw snapshots into 5-minute aggregates, drop expired ones, hold the cap."""
        if self.database is None:
            return
        result = roll_up(
            self.database,
            now=self.clock.now(),
            keep_raw=self.config.retention.raw_snapshots,
            keep_rollups=self.config.retention.rollups,
        )
        if result.snapshots_rolled or result.rollups_deleted:
            log.info(
                "retention.rolled_up",
                snapshots=result.snapshots_rolled,
                aggregates=result.aggregates_written,
                deleted=result.rollups_deleted,
            )
        enforce_cap(
            self.database, cap_bytes=self.config.retention.max_store_size, now=self.clock.now()
        )

    def queue_weekly_summary(self) -> None:
        """Queue last week's stability summary for its targets, and wake the notifier."""
        if self.weekly is None or self.notifying is None:
            return
        try:
            queued = self.weekly.queue(self.clock.now())
        except Exception:  # the store failed: the next start or week tries again
            log.exception("notify.weekly_queue_failed")
            return
        if queued:
            self.notifying.wake()

    def log_audit_head(self) -> None:
        """Log the chain head so an anchor of it survives outside the database (journald)."""
        if self.database is None:
            return
        anchor = self.database.anchor
        head = anchor.head
        log.info(
            "audit.head",
            seq=head.seq if head else 0,
            hash=head.hash if head else None,
            frozen=anchor.frozen_reason,
        )

    def stop(self) -> int:
        """Stop within the budget: jobs, then queued snapshots, then the store."""
        notify("STOPPING=1")
        self._stopping.set()
        deadline = time.monotonic() + STOP_BUDGET_S
        if self.serving is not None:
            # First, so nothing new arrives while the jobs and the store wind down.
            self.serving.stop(API_STOP_S)
        if self.forwarding is not None and not self.forwarding.stop(0.5):
            # A post in flight: its thread ends after it and never posts again.
            log.warning("alertmanager.stop_incomplete")
        stopper = threading.Thread(target=self.scheduler.shutdown, name="scheduler-shutdown")
        stopper.start()
        stopper.join(timeout=max(0.0, deadline - time.monotonic()))
        if stopper.is_alive():
            # A hung job's thread would keep the interpreter from exiting (and may hold
            # the write lock): leave now; WAL keeps every committed transaction.
            log.error("daemon.stop_forced", reason="a job did not finish in time")
            os._exit(1)
        if self.responding is not None:
            # The action in flight may finish within what is left, less the store's share;
            # one that does not is recorded as interrupted at the next start.
            self.responding.stop(max(0.1, deadline - time.monotonic() - 0.5))
        if self.snapshots is not None and not self.snapshots.stop(
            max(0.1, deadline - time.monotonic())
        ):
            log.warning("snapshot.flush_incomplete")
        if self.sensing is not None:
            self.sensing.close()
        if self.following is not None and not self.following.stop(
            max(0.1, min(0.5, deadline - time.monotonic()))
        ):
            # Its cursor is stored after each batch: the rest is followed at the next start.
            log.warning("follow.stop_incomplete")
        if self.notifying is not None and not self.notifying.stop(
            max(0.1, min(0.5, deadline - time.monotonic()))
        ):
            # The notice in flight is still pending in the outbox: it goes at the next start.
            log.warning("notify.stop_incomplete")
        self._audit("daemon.stopped", pid=os.getpid())
        self.log_audit_head()
        if self.database is not None:
            self.database.close()
        log.info("daemon.stopped")
        return 0

    def _audit(self, kind: str, **data: Any) -> None:
        assert self.database is not None  # noqa: S101  # opened first in run()
        with self.database.write() as tx:
            append_event(
                tx, Scope.platform(), kind=kind, actor=ACTOR, at=self.clock.now(), data=data
            )


def _changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    changed: list[str] = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.append(f"{prefix}{key}")
    return changed
