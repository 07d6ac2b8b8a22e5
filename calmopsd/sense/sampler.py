"""The one interface every sampler has, and the wrapper that makes failure a value.

A sampler observes the host and returns JSON-able values; it never writes to
the database and may raise. :class:`SamplerRunner` runs it on a worker thread
with a timeout and always returns a :class:`~calmopsd.model.Reading`: a sampler that
raised or hung becomes an ``ok=False`` reading and one ``sampler.failed`` log
line, and the others never notice.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any, Protocol

import structlog

from calmopsd.clock import Clock
from calmopsd.model import Reading

log = structlog.get_logger("calmopsd.sense")


class Sampler(Protocol):
    """Observes one aspect of the host."""

    name: str

    def sample(self) -> dict[str, Any]:
        """Look once; return JSON-able values. May raise: the runner makes that a reading."""
        ...


class SamplerRunner:
    """Takes readings from one sampler, at most one attempt in flight at a time."""

    def __init__(
        self,
        sampler: Sampler,
        clock: Clock,
        timeout_s: float,
        stopping: threading.Event | None = None,
    ):
        self.sampler = sampler
        self.clock = clock
        self.timeout_s = timeout_s
        self.stopping = stopping or threading.Event()
        self._worker: threading.Thread | None = None

    def inherit(self, previous: SamplerRunner) -> None:
        """Take over a predecessor's attempt (after a reload), so a hung one still blocks."""
        self._worker = previous._worker

    def take(self) -> Reading:
        """Run the sampler once, bounded by the timeout; never raises.

        A hung attempt cannot be killed (it may sit in a system call), so while
        it lives no new one starts: threads stay bounded and each round still
        yields a reading that says the sampler is stuck.
        """
        name = self.sampler.name
        taken_at = self.clock.now()
        if self._worker is not None and self._worker.is_alive():
            return self._failed(taken_at, 0.0, "previous attempt still running")
        outcome: dict[str, Any] = {}

        def attempt() -> None:
            try:
                outcome["values"] = self.sampler.sample()
            except Exception as exc:  # any failure becomes a reading
                outcome["error"] = f"{type(exc).__name__}: {exc}"

        began = time.monotonic()
        # A daemon thread, so a stuck sampler never keeps the process from exiting.
        self._worker = threading.Thread(target=attempt, name=f"sample-{name}", daemon=True)
        self._worker.start()
        self._wait(self._worker, began + self.timeout_s)
        duration_ms = (time.monotonic() - began) * 1000
        if self.stopping.is_set() and self._worker.is_alive():
            return self._failed(taken_at, duration_ms, "abandoned: calmopsd is stopping")
        if self._worker.is_alive():
            return self._failed(taken_at, duration_ms, f"timed out after {self.timeout_s:g}s")
        if "error" in outcome:
            return self._failed(taken_at, duration_ms, outcome["error"])
        return Reading(name, taken_at, True, duration_ms, outcome["values"])

    def _wait(self, worker: threading.Thread, deadline: float) -> None:
        """Until the attempt ends, the deadline passes, or the daemon starts stopping."""
        while worker.is_alive() and not self.stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            worker.join(min(remaining, 0.1))

    def _failed(self, taken_at: datetime, duration_ms: float, error: str) -> Reading:
        log.warning("sampler.failed", sampler=self.sampler.name, error=error)
        return Reading(self.sampler.name, taken_at, False, duration_ms, {}, error)
