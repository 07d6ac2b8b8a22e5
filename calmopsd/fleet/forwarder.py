"""The forwarder: incidents to Alertmanager, round after round, like Prometheus' notifier.

A round (:meth:`Forwarder.run_once`):

1. reads every unresolved incident (platform scope) with its recommendations, each a
   firing alert that ends ``4 × interval`` from now unless posted again;
2. owes an end to each alert posted before that no longer fires as it was: its incident
   resolved (ended at ``resolved_at``) or its severity or type changed, so its labels
   did (the old labels ended now). The first round also owes an end to every incident
   resolved within the last four intervals, which a previous run may have left firing;
3. posts the ends owed, then the firing alerts, at most :data:`BATCH` a request,
   counting each request ``sent`` or ``failed`` (:class:`PostCounts`).

Nothing is lost to a failure: the firing alerts are read again next round, and an end
stays owed until it is posted, or until four intervals have passed since it — by then
Alertmanager has ended the alert by itself. A failed round is one ``alertmanager.failed``
line. Posting an end twice is harmless, so a crash between post and bookkeeping is too.

The daemon runs rounds in a thread (:meth:`start`): every ``interval``, and within
:data:`POLL_S` after the event log moves (every incident change appends to it) or after
:meth:`wake`; after a failure, not before the next interval, so a down Alertmanager is
not asked again at every change.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from calmopsd.clock import Clock
from calmopsd.fleet.alertmanager import PostFailed, Settings, post
from calmopsd.fleet.alerts import Alert, firing, resolved
from calmopsd.model import Incident, IncidentStatus
from calmopsd.record.database import Database
from calmopsd.record.incidents import get_incident, list_incidents
from calmopsd.record.recommendations import list_recommendations
from calmopsd.record.scope import Scope

if TYPE_CHECKING:
    import requests  # imported when a forwarder is made: only with alertmanager.url set

log = structlog.get_logger("calmopsd.fleet")

BATCH = 64  # alerts per request, as Prometheus' notifier sends them
POLL_S = 1.0  # how soon a change in the event log is posted
PLATFORM = Scope.platform()

LabelKey = tuple[tuple[str, str], ...]


@dataclass
class PostCounts:
    """Requests to Alertmanager by outcome, for ``/metrics``. Written by the forwarder's
    thread only, read by anyone (ints, so a reader never sees half a write); the daemon
    keeps one across reloads so the counters never go back."""

    sent: int = 0
    failed: int = 0
    alerts_sent: int = 0
    last_sent_at: datetime | None = None


@dataclass(frozen=True)
class Round:
    """What one round did: alerts posted as firing and as ended, and whether all went."""

    firing: int
    ended: int
    ok: bool


class Forwarder:
    """Posts ``database``'s incidents to the Alertmanager of ``settings``."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        clock: Clock,
        *,
        counts: PostCounts | None = None,
        session: requests.Session | None = None,
        batch: int = BATCH,
        poll_s: float = POLL_S,
    ):
        self.database = database
        self.settings = settings
        self.clock = clock
        self.counts = counts if counts is not None else PostCounts()
        self.batch = batch
        self.poll_s = poll_s
        if session is None:
            import requests

            session = requests.Session()
        self._session = session
        self._posted: dict[int, Alert] = {}  # by incident: the firing alert posted last
        self._owed: dict[LabelKey, Alert] = {}  # ended alerts not yet posted
        self._looked_back = False
        self._failures = 0
        self._seen_seq = 0
        self._woken = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: datetime) -> Round:
        """One round (see the module's docstring)."""
        if not self._looked_back:
            self._owe_recently_resolved(now)
            self._looked_back = True
        unresolved = list_incidents(self.database, PLATFORM, unresolved=True)
        current = {i.id: self._firing(i, now) for i in sorted(unresolved, key=lambda i: i.id)}
        self._owe_ends(current, now)
        self._posted = current
        for alert in current.values():
            self._owed.pop(_key(alert), None)  # fires again as it was: it has not ended
        ended = list(self._owed.values())
        ok = self._post([*ended, *current.values()], now)
        return Round(firing=len(current), ended=len(ended), ok=ok)

    def _firing(self, incident: Incident, now: datetime) -> Alert:
        recommendations = list_recommendations(self.database, PLATFORM, incident.id)
        return firing(
            incident,
            recommendations,
            host=self.settings.host,
            now=now,
            lifetime=self.settings.lifetime,
        )

    def _owe_recently_resolved(self, now: datetime) -> None:
        """What a previous run may have left firing. Reads every resolved incident, once
        per forwarder: the store has no query by ``resolved_at``."""
        since = now - self.settings.lifetime
        for incident in list_incidents(self.database, PLATFORM, status=IncidentStatus.RESOLVED):
            if incident.resolved_at is not None and incident.resolved_at >= since:
                self._owe(resolved(incident, host=self.settings.host, now=now))

    def _owe_ends(self, current: dict[int, Alert], now: datetime) -> None:
        for incident_id, before in self._posted.items():
            after = current.get(incident_id)
            if after is not None and after.labels == before.labels:
                continue
            incident = None if after else get_incident(self.database, PLATFORM, incident_id)
            if incident is not None and incident.resolved_at is not None:
                end = resolved(incident, host=self.settings.host, now=now)
                self._owe(end if end.labels == before.labels else before.ended(end.ends_at))
            else:  # its labels changed (or it is gone): the old alert ends now
                self._owe(before.ended(now))
        lifetime = self.settings.lifetime
        for key, alert in list(self._owed.items()):
            if alert.ends_at + lifetime <= now:
                del self._owed[key]  # Alertmanager has ended it by itself

    def _owe(self, alert: Alert) -> None:
        self._owed[_key(alert)] = alert

    def _post(self, alerts: list[Alert], now: datetime) -> bool:
        for start in range(0, len(alerts), self.batch):
            chunk = alerts[start : start + self.batch]
            try:
                post(self._session, self.settings, chunk)
            except PostFailed as exc:
                self._failed(exc, unsent=len(alerts) - start)
                return False
            self._sent(chunk, now)
        if self._failures:
            log.info("alertmanager.recovered", url=self.settings.shown, failures=self._failures)
            self._failures = 0
        return True

    def _sent(self, chunk: list[Alert], now: datetime) -> None:
        self.counts.sent += 1
        self.counts.alerts_sent += len(chunk)
        self.counts.last_sent_at = now
        for alert in chunk:
            if self._owed.get(_key(alert)) is alert:
                del self._owed[_key(alert)]
                log.info(
                    "alertmanager.ended",
                    incident_id=alert.incident_id,
                    organization_id=alert.labels.get("organization"),
                    severity=alert.labels["severity"],
                )

    def _failed(self, exc: PostFailed, unsent: int) -> None:
        self.counts.failed += 1
        self._failures += 1
        log.warning(
            "alertmanager.failed",
            url=self.settings.shown,
            reason=exc.reason,
            status=exc.status,
            unsent=unsent,
            failures=self._failures,
            retry_in_s=self.settings.interval.total_seconds(),
        )

    # -- the daemon's thread -------------------------------------------------------

    def start(self) -> None:
        """Run rounds in a thread until :meth:`stop`, the first one now."""
        log.info(
            "alertmanager.forwarding",
            url=self.settings.shown,
            host=self.settings.host,
            interval_s=self.settings.interval.total_seconds(),
        )
        self._thread = threading.Thread(target=self._run, name="alertmanager", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Post now instead of at the next interval (unless the last post failed)."""
        self._woken.set()

    def stop(self, timeout: float) -> bool:
        """Stop the thread (no last round: what fires stays firing in Alertmanager until
        it ends by itself); False if a post in flight outlasts ``timeout``."""
        self._stopping.set()
        self._woken.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False  # a daemon thread: it cannot hold the process up
        self._session.close()
        return True

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._seen_seq = self._head_seq()
            try:
                self.run_once(self.clock.now())
            except Exception:  # the store failed (locked, closed): try again next round
                log.exception("alertmanager.round_failed")
            self._wait()

    def _wait(self) -> None:
        """Until the interval has passed, or (the last post having gone) until a change."""
        due = time.monotonic() + self.settings.interval.total_seconds()
        while not self._stopping.is_set():
            left = due - time.monotonic()
            if left <= 0:
                return
            woken = self._woken.wait(min(self.poll_s, left))
            self._woken.clear()
            if self._failures == 0 and (woken or self._head_seq() != self._seen_seq):
                return

    def _head_seq(self) -> int:
        head = self.database.anchor.head
        return head.seq if head is not None else 0


def _key(alert: Alert) -> LabelKey:
    return tuple(sorted(alert.labels.items()))
