"""Forwarding to Alertmanager in the daemon: on while ``alertmanager.url`` is set.

The forwarder runs in a thread of its own, so a slow or unreachable Alertmanager
holds up neither the scheduler's jobs nor the agent. A reload that changes the
section replaces the forwarder (a new one starts with a round at once); one that
leaves it as it was keeps it. The post counters live here, across replacements,
so ``/metrics`` never sees them go back.
"""

from __future__ import annotations

import structlog

from calmopsd.clock import Clock
from calmopsd.config.alertmanager import AlertmanagerConfig
from calmopsd.fleet.alertmanager import Settings
from calmopsd.fleet.forwarder import Forwarder, PostCounts
from calmopsd.record.database import Database

log = structlog.get_logger("calmopsd.daemon")

REPLACE_S = 0.5  # how long a reload waits for the old forwarder's post in flight


class Forwarding:
    """The forwarder of the current ``alertmanager:`` section, if it sets a URL."""

    def __init__(self, database: Database, clock: Clock, hostname: str | None = None):
        self.database = database
        self.clock = clock
        self.hostname = hostname
        self.counts = PostCounts()
        self.forwarder: Forwarder | None = None

    def configure(self, config: AlertmanagerConfig) -> None:
        """Start, replace or stop the forwarder to match ``config``."""
        settings = Settings.of(config, self.hostname)
        running = self.forwarder.settings if self.forwarder is not None else None
        if settings == running:
            return
        if self.forwarder is not None:
            # Its thread ends after the post in flight, if any; it never posts again.
            self.stop(REPLACE_S)
            log.info("alertmanager.stopped", url=running.shown if running else None)
        if settings is None:
            return
        self.forwarder = Forwarder(self.database, settings, self.clock, counts=self.counts)
        self.forwarder.start()

    def wake(self) -> None:
        """Post soon (an incident changed)."""
        if self.forwarder is not None:
            self.forwarder.wake()

    def stop(self, timeout: float) -> bool:
        """Stop forwarding; False if a post in flight outlasted ``timeout``."""
        forwarder, self.forwarder = self.forwarder, None
        return forwarder is None or forwarder.stop(timeout)
