"""``/metrics``: calmopsd in the Prometheus exposition format, read at scrape time.

Every family is one function of a :class:`~.scrape.Scrape`, listed in one table
(:data:`FAMILIES`); adding a family is a function and a line. A family that
fails (a locked store, a bug) is left out of that scrape, logged as
``metrics.family_failed`` and reported as ``calmopsd_scrape_collector_success 0``,
like node_exporter's collectors: the rest of the scrape goes on. Each app gets
its own :class:`CollectorRegistry`, never prometheus-client's global one, so
two apps in one process (the tests) never share or clash.
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from calmopsd.clock import Clock
from calmopsd.record.database import Database
from calmopsd.serve.metrics import readings, store
from calmopsd.serve.metrics.scrape import Family, Scrape
from calmopsd.serve.vitals import Loads, Vitals

log = structlog.get_logger("calmopsd.serve")

FAMILIES: dict[str, Family] = {
    "build": store.build,
    "samplers": readings.samplers,
    "readings": readings.values,
    "incidents": store.incidents,
    "actions": store.actions,
    "budgets": store.budgets,
    "audit": store.audit,
    "config": store.config,
    "notices": store.notices,
    "customer_messages": store.customer_messages,
    "alertmanager": store.alertmanager,
}


class StoreCollector:
    """Collects :data:`FAMILIES` from the store and the daemon's vitals at each scrape."""

    def __init__(self, database: Database, clock: Clock, vitals: Vitals, loads: Loads):
        self.database = database
        self.clock = clock
        self.vitals = vitals
        self.loads = loads

    def collect(self) -> Iterator[Metric]:
        scrape = Scrape(
            self.clock.now(),
            dict(self.vitals.latest()),
            dict(self.vitals.sampling()),
            self.database,
            self.vitals,
            self.loads,
        )
        success = GaugeMetricFamily(
            "calmopsd_scrape_collector_success",
            "1 if the family was read in this scrape.",
            labels=["collector"],
        )
        for name, family in FAMILIES.items():
            try:
                found = list(family(scrape))  # whole or not at all
            except Exception:
                log.exception("metrics.family_failed", family=name)
                success.add_metric([name], 0.0)
                continue
            success.add_metric([name], 1.0)
            yield from found
        yield success


def registry_for(collector: StoreCollector) -> CollectorRegistry:
    # No auto-describe: registering must not read the store.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The scrape's body and content type: OpenMetrics if the scraper asks for it, else the
    Prometheus text format."""
    encode, content_type = choose_encoder(accept or "")
    return encode(registry), content_type
