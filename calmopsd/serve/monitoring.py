"""The routes a fleet's monitoring calls: ``/-/healthy``, ``/-/ready`` and ``/metrics``.

As with Prometheus and Alertmanager, ``/-/healthy`` (the process answers) and
``/-/ready`` (:mod:`.readiness`: 503 naming what failed) need no token: a load
balancer or a probe has none, and they tell only check names and times.
``/metrics`` is the platform's view of the host (every organization's incidents
and traffic): with ``api.metrics: open_on_loopback`` (the default) a client on
this host reads it without a token, like node_exporter behind a loopback bind;
anyone else, and everyone with ``api.metrics: token``, needs a super-admin token.
A token that is sent is always checked. To an organization's token the route does
not exist (404), as for the other platform routes.

The ``/metrics`` registry, and prometheus-client with it, is built at the first
scrape: a host no Prometheus scrapes never pays for it (docs/decisions.md, issue 16).
"""

from __future__ import annotations

import ipaddress
import json
import threading
from typing import TYPE_CHECKING, Any

from calmopsd.clock import Clock
from calmopsd.config.api import MetricsAccess
from calmopsd.errors import NotFound
from calmopsd.record.database import Database
from calmopsd.serve.readiness import (
    Check,
    config_check,
    readings_check,
    scheduler_check,
    stale,
    store_check,
)
from calmopsd.serve.vitals import Loads, Vitals
from calmopsd.serve.web import App, Request, Response, g, request

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

HEALTHY = "/-/healthy"
READY = "/-/ready"
METRICS = "/metrics"
PATHS = frozenset({HEALTHY, READY, METRICS})
UNIX_PEER = "localhost"  # waitress's REMOTE_ADDR for a client of the unix socket


def local_peer(remote_addr: str | None) -> bool:
    """Whether the client is on this host: a loopback address (127.0.0.0/8, ::1, either in
    IPv6 form) or the unix socket's peer. Anything else, or nothing, is not."""
    if remote_addr == UNIX_PEER:
        return True
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def needs_token(
    path: str, remote_addr: str | None, sent_token: bool, access: MetricsAccess
) -> bool:
    """Whether a request must carry a valid token, as every other API request must."""
    if path in (HEALTHY, READY):
        return False
    if path == METRICS:
        return sent_token or access != "open_on_loopback" or not local_peer(remote_addr)
    return True


class Monitoring:
    """The three routes over one store and the daemon's :class:`Vitals`."""

    def __init__(self, database: Database, clock: Clock, vitals: Vitals):
        self.database = database
        self.clock = clock
        self.vitals = vitals
        self.loads = Loads(database)
        self._registry: CollectorRegistry | None = None
        self._building = threading.Lock()

    @property
    def registry(self) -> CollectorRegistry:
        """The ``/metrics`` registry, built (and prometheus-client imported) at first use."""
        with self._building:
            if self._registry is None:
                from calmopsd.serve.metrics import StoreCollector, registry_for

                collector = StoreCollector(self.database, self.clock, self.vitals, self.loads)
                self._registry = registry_for(collector)
            return self._registry

    def register(self, app: App) -> None:
        for path, view in ((HEALTHY, self.healthy), (READY, self.ready), (METRICS, self.metrics)):
            app.add_url_rule(path, view_func=view, methods=["GET"], provide_automatic_options=False)

    def needs_token(self, req: Request) -> bool:
        sent = "Authorization" in req.headers
        return needs_token(req.path, req.remote_addr, sent, self.vitals.metrics())

    def healthy(self) -> Response:
        return _json({"healthy": True}, 200)

    def ready(self) -> Response:
        checks = self.checks()
        ready = all(c.ok for c in checks)
        return _json(
            {"ready": ready, "checks": {c.name: c.detail for c in checks}}, 200 if ready else 503
        )

    def checks(self) -> list[Check]:
        """Store, scheduler, readings, config: each judged alone, so all failures show."""
        load = self.loads.current() if (store := store_check(self.database)).ok else None
        taken = {name: r.taken_at for name, r in self.vitals.latest().items()}
        since = load.loaded_at if load is not None else None
        late = stale(taken, self.vitals.sampling(), self.clock.now(), since)
        return [
            store,
            scheduler_check(self.vitals.running()),
            readings_check(late),
            config_check(load),
        ]

    def metrics(self) -> Response:
        caller = g.get("caller")
        if caller is not None and not caller.super_admin:
            raise NotFound("no such route")
        from calmopsd.serve.metrics import exposition

        body, content_type = exposition(self.registry, request.headers.get("Accept"))
        return Response(body, status=200, content_type=content_type)


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
