"""What is posted around a failed post, seen by a stand-in for Alertmanager on loopback
that refuses the first posts (503, or 400 as Alertmanager answers an invalid list) and
records every body: an end owed is posted after the outage, once, and nothing is lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest
from structlog.testing import capture_logs
from support.alertmanager import incident, resolve
from support.clock import ManualClock

from calmopsd.fleet.alertmanager import Settings
from calmopsd.fleet.forwarder import Forwarder, Round
from calmopsd.record.database import Database

MINUTE = timedelta(minutes=1)


class StandIn:
    """Answers ``refusals`` posts with ``status`` and a reason, then 200; keeps each body."""

    def __init__(self) -> None:
        self.bodies: list[list[dict[str, Any]]] = []
        self.refusals: list[int] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = stand_in.refusals.pop(0) if stand_in.refusals else 200
                if status == 200:
                    stand_in.bodies.append(json.loads(body))
                said = b"" if status == 200 else b'"start time must be before end time"'
                self.send_response(status)
                self.send_header("Content-Length", str(len(said)))
                self.end_headers()
                self.wfile.write(said)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://calm:hunter22@127.0.0.1:{self.server.server_address[1]}/"
        Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def posted(self) -> list[list[tuple[str, str]]]:
        """Each body taken, as (incident_id, endsAt) per alert."""
        return [[(a["labels"]["incident_id"], a["endsAt"]) for a in body] for body in self.bodies]


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    yield server
    server.server.shutdown()
    server.server.server_close()


def z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize("status", [503, 400])
def test_an_end_owed_during_an_outage_is_posted_after_it_once(
    database: Database, stand_in: StandIn, at: datetime, status: int
) -> None:
    clock = ManualClock(at)
    settings = Settings(stand_in.url, MINUTE, "web-1", timeout=timedelta(seconds=5))
    forwarding = Forwarder(database, settings, clock)
    first, second = incident(database, at, resource="a"), incident(database, at, resource="b")
    forwarding.run_once(at)
    resolve(database, first.id, at + timedelta(seconds=30))

    stand_in.refusals = [status]
    with capture_logs() as logs:
        assert forwarding.run_once(clock.advance(MINUTE)) == Round(firing=1, ended=1, ok=False)
    assert [(e["event"], e["status"], e["reason"]) for e in logs] == [
        ("alertmanager.failed", status, f'HTTP {status}: "start time must be before end time"')
    ]
    assert "hunter22" not in repr(logs)

    assert forwarding.run_once(clock.advance(MINUTE)) == Round(firing=1, ended=1, ok=True)
    assert forwarding.run_once(clock.advance(MINUTE)) == Round(firing=1, ended=0, ok=True)
    assert stand_in.posted() == [
        [("1", z(at + 4 * MINUTE)), ("2", z(at + 4 * MINUTE))],
        [("1", z(at + timedelta(seconds=30))), ("2", z(at + 6 * MINUTE))],
        [("2", z(at + 7 * MINUTE))],
    ]
    assert (forwarding.counts.sent, forwarding.counts.failed) == (3, 1)
    assert second.id == 2


def test_an_end_is_given_up_once_alertmanager_has_ended_the_alert_by_itself(
    database: Database, stand_in: StandIn, at: datetime
) -> None:
    clock = ManualClock(at)
    settings = Settings(stand_in.url, MINUTE, "web-1", timeout=timedelta(seconds=5))
    forwarding = Forwarder(database, settings, clock)
    opened = incident(database, at)
    forwarding.run_once(at)
    resolve(database, opened.id, at + MINUTE)

    stand_in.refusals = [503] * 4
    for _ in range(4):
        assert not forwarding.run_once(clock.advance(MINUTE)).ok
    # Four intervals after the end: the alert last posted firing ended in Alertmanager.
    assert forwarding.run_once(clock.advance(MINUTE)) == Round(firing=0, ended=0, ok=True)
    assert stand_in.posted() == [[("1", z(at + 4 * MINUTE))]]
