"""The sampling jobs: one per sampler, one for the logs, and what they keep between rounds.

Each job reads, keeps the reading as the latest, and hands it to the
snapshot writer, so no job ever waits for the database to store it; then it
passes the reading to the ``on_reading`` callback, if any (the incident
agent, which does write, in the job's thread). A reload re-plans the
jobs: a sampler whose config section did not change keeps its runner (and its
memory: PM2 restart counts, disk history, a hung attempt it must not start
twice); the log watcher is rebuilt from where the old one stood.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from calmopsd.clock import Clock
from calmopsd.config import Config
from calmopsd.config.sensing import SensingConfig
from calmopsd.model import Reading
from calmopsd.record.database import Database
from calmopsd.record.logstate import load_log_state, save_log_state
from calmopsd.record.scope import Scope
from calmopsd.record.snapshots import SnapshotWriter, snapshots_since
from calmopsd.sense import Planned
from calmopsd.sense.attention import Attention
from calmopsd.sense.disk import DiskSampler
from calmopsd.sense.logs import LogWatcher
from calmopsd.sense.sampler import SamplerRunner
from calmopsd.shapes import DiskValues

if TYPE_CHECKING:
    from calmopsd.discover.log_formats import LogSource

log = structlog.get_logger("calmopsd.daemon")

LOGS_JOB = "sample.logs"


class SensingJobs:
    """Schedules and runs the sampling jobs of one daemon."""

    def __init__(
        self,
        scheduler: BackgroundScheduler,
        database: Database,
        snapshots: SnapshotWriter,
        clock: Clock,
        planner: Callable[[SensingConfig, Clock], list[Planned]],
        stopping: threading.Event,
        on_reading: Callable[[Reading], None] | None = None,
    ):
        self.scheduler = scheduler
        self.database = database
        self.snapshots = snapshots
        self.clock = clock
        self.planner = planner
        self.stopping = stopping  # set at stop: in-flight samples give up
        self.on_reading = on_reading  # called with every reading once stored and queued
        self.latest: dict[str, Reading] = {}
        self.attention = Attention()  # says in the journal when something needs a look
        self.runners: dict[str, tuple[object, SamplerRunner]] = {}  # name → (its config, runner)
        self.logs: LogWatcher | None = None
        self._logs_lock = threading.Lock()  # a reload must not close a watcher mid-poll
        self._logs_wanted: Config | None = None  # the config the watcher should follow
        self._logs_built: Config | None = None  # the config it was built from

    def schedule(self, config: Config) -> None:
        """Add, replace or remove every sampling job for ``config``.

        Never waits for a log round in progress (a catch-up can take seconds, and
        the caller is the main thread, which also handles SIGTERM): if one is
        running, it rebuilds the watcher itself as soon as it is done.
        """
        self._schedule_samplers(config)
        self._logs_wanted = config
        if self._logs_lock.acquire(blocking=False):
            try:
                self._follow_logs_config()
            finally:
                self._logs_lock.release()

    def _follow_logs_config(self) -> None:
        """Rebuild the watcher if the wanted ``logs:`` section differs from the one it has."""
        wanted, built = self._logs_wanted, self._logs_built
        if wanted is None or (built is not None and wanted.logs == built.logs):
            return
        self._rebuild_logs(wanted)
        self._logs_built = wanted

    def close(self) -> None:
        with self._logs_lock:
            if self.logs is not None:
                self.logs.close()
                self.logs = None

    def _rebuild_logs(self, config: Config) -> None:
        state = self.logs.state() if self.logs else load_log_state(self.database)
        if self.logs is not None:
            self.logs.close()
            self.logs = None
        if not config.logs.enabled:
            if self.scheduler.get_job(LOGS_JOB):
                self.scheduler.remove_job(LOGS_JOB)
            return
        self.logs = LogWatcher(config.logs, self.clock, state=state, nginx_formats=_nginx_formats)
        for warning in config.logs.overlaps():
            log.warning("logs.sources_overlap", detail=warning)
        self.scheduler.add_job(
            self.read_logs,
            "interval",
            id=LOGS_JOB,
            seconds=config.logs.interval.total_seconds(),
            replace_existing=True,
            next_run_time=datetime.now(UTC),
        )

    def read_logs(self) -> None:
        """One round of log rates: read new lines, then save positions and counts together."""
        with self._logs_lock:
            watcher = self.logs
            if watcher is None:
                return
            reading = watcher.poll(self.stopping.is_set)
            save_log_state(self.database, watcher.state())
            self._follow_logs_config()  # a reload that arrived during the round
        self._publish(reading)  # outside the lock: a reload must not wait for the agent

    def _schedule_samplers(self, config: Config) -> None:
        """One job per enabled sampler, each on its own interval, starting now; a changed
        sampler is rebuilt and inherits its predecessor's hung attempt."""
        runners: dict[str, tuple[object, SamplerRunner]] = {}
        for planned in self.planner(config.sensing, self.clock):
            name = planned.sampler.name
            section = getattr(config.sensing, name, None)
            kept = self.runners.get(name)
            if kept is not None and kept[0] == section:
                runners[name] = kept
                continue
            if isinstance(planned.sampler, DiskSampler):
                planned.sampler.seed(self._disk_history(planned.sampler.window.total_seconds()))
            runner = SamplerRunner(planned.sampler, self.clock, planned.timeout_s, self.stopping)
            if kept is not None:
                runner.inherit(kept[1])
            runners[name] = (section, runner)
            self.scheduler.add_job(
                self.take_reading,
                "interval",
                args=[runner],
                id=f"sample.{name}",
                seconds=planned.interval_s,
                replace_existing=True,
                next_run_time=datetime.now(UTC),
            )
        for name in self.runners.keys() - runners.keys():
            self.scheduler.remove_job(f"sample.{name}")
        self.runners = runners

    def take_reading(self, runner: SamplerRunner) -> Reading:
        """One scheduled round of one sampler: read, keep the latest, queue it, pass it on."""
        reading = runner.take()
        self._publish(reading)
        return reading

    def take_round(self, timeout_s: float) -> int:
        """One round of every sampler and the logs now, side by side (a health check asked
        for through the API); waits at most ``timeout_s``. How many readings arrived in time.

        A sampler whose scheduled round is running at the same moment reports its
        previous attempt as still running; nothing runs twice at once.
        """
        runners = [runner for _, runner in self.runners.values()]
        jobs: list[Callable[[], object]] = [partial(self.take_reading, r) for r in runners]
        if self.logs is not None:
            jobs.append(self.read_logs)
        threads = [threading.Thread(target=job, name="sample-now", daemon=True) for job in jobs]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout_s
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return sum(not thread.is_alive() for thread in threads)

    def longest_timeout(self) -> float:
        """The longest any sampler may take, in seconds (0 with none)."""
        return max((runner.timeout_s for _, runner in self.runners.values()), default=0.0)

    def _publish(self, reading: Reading) -> None:
        """Keep ``reading`` as the latest, queue its snapshot, then pass it on."""
        self.latest[reading.sampler] = reading
        self.attention.note(reading)
        self.snapshots.submit(reading)
        if self.on_reading is not None:
            self.on_reading(reading)

    def _disk_history(self, window_s: float) -> list[tuple[str, datetime, int]]:
        """Stored disk readings within the fill-rate window, so a restart keeps the rate."""
        since = self.clock.now().timestamp() - window_s
        stored = snapshots_since(
            self.database,
            Scope.platform(),
            sampler="disk",
            since=datetime.fromtimestamp(since, UTC),
        )
        return [
            (path, snap.taken_at, mount.used_bytes)
            for snap in stored
            if snap.ok
            for path, mount in DiskValues.parse(snap.readings).mounts.items()
            if mount.used_bytes is not None
        ]


def _nginx_formats() -> list[LogSource]:
    """What this host's nginx writes each access log in, read as ``calmopsd init`` reads it."""
    from calmopsd.discover import nginx_log_sources

    return nginx_log_sources()
