"""The agent's two figures from issue 10: write transactions per incident opening, and how
long a reading waits for the agent while a long action runs.

The daemon's real :class:`~calmopsd.daemon.responding.Responder` on a real store (a
temporary state dir): a memory reading at 97 % opens an incident and requests a PM2
restart. The executor is a stand-in that takes ``ACTION_S`` seconds (default 20, as
long as a PM2 restart's verification may take) — the real executor would need a PM2
app that takes that long to come online; the figure is about the agent's threads, not
the action. Meanwhile a sampler thread hands over a reading every 50 ms for the whole
action and the longest hand-over is kept; the reference is the same number of
hand-overs to a bare ``queue.Queue.put`` timed in the same run.

    .venv/bin/python bench/agent.py [ACTION_S]
"""

from __future__ import annotations

import queue
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from calmopsd.clock import SystemClock
from calmopsd.config import Config
from calmopsd.daemon.responding import Responder
from calmopsd.model import ActionOutcome, ActionRequest, OutcomeStatus, Reading, SafeAction
from calmopsd.record.database import Database, database_path
from calmopsd.record.incidents import list_incidents
from calmopsd.record.scope import Scope

EVERY_S = 0.05


class SlowExecutor:
    """Takes ``seconds`` to answer each request, as a long verification would."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.running = threading.Event()

    def request(self, request: ActionRequest, now: datetime) -> ActionOutcome:
        self.running.set()
        time.sleep(self.seconds)
        self.running.clear()
        return ActionOutcome(OutcomeStatus.SUCCEEDED, "restarted (stand-in)")

    def symptom_returned(self, incident_id: int, now: datetime) -> list[SafeAction]:
        return []

    def revert_due(self, now: datetime) -> list[int]:
        return []

    def follow_controls(self, now: datetime) -> None:
        return None


def memory(percent: float) -> Reading:
    values = {"used_percent": percent, "available_bytes": 1 << 28, "top_processes": []}
    return Reading("memory", SystemClock().now(), True, 1.0, values)


def main(action_s: float) -> None:
    with tempfile.TemporaryDirectory() as state:
        database = Database.open(database_path(Path(state)))
        responder = Responder(database, SystemClock())
        responder.configure(Config.model_validate({"state_dir": state}))
        slow = SlowExecutor(action_s)
        responder.executor = slow  # type: ignore[assignment]  # the stand-in, see above
        responder.start()
        app = {"status": "online", "memory_bytes": 900 << 20, "restart_increase": 0}
        pm2 = {"state": "ok", "apps": {"api": app}}  # the app a restart would fit
        responder.observe(Reading("pm2", SystemClock().now(), True, 1.0, pm2))
        for _ in range(2):  # the memory rule's hold-down: the third reading confirms
            responder.observe(memory(97))
        responder.settle(10)
        before = database.write_transactions
        responder.observe(memory(97))
        if not slow.running.wait(10):  # the input is committed before its request runs
            raise SystemExit("no action was requested")
        opening = database.write_transactions - before
        if not list_incidents(database, Scope.platform()):
            raise SystemExit("no incident opened")
        waits: list[float] = []
        while slow.running.is_set() and len(waits) < 10_000:
            began = time.monotonic()
            responder.observe(memory(97))
            waits.append(time.monotonic() - began)
            time.sleep(EVERY_S)
        bare: queue.Queue[Reading] = queue.Queue()
        reference = []
        for _ in waits:
            reading = memory(97)
            began = time.monotonic()
            bare.put(reading)
            reference.append(time.monotonic() - began)
        responder.settle(30)
        responder.stop(5)
        database.close()
    longest, floor = max(waits), max(reference)
    over = sum(w > 0.1 for w in waits)
    print(f"write transactions for the reading that opens an incident: {opening} (was 9)")
    print(
        f"{len(waits)} readings during a {action_s:.0f} s action: longest wait "
        f"{longest * 1000:.3f} ms, {over} over 100 ms; bare queue put "
        f"{floor * 1000:.3f} ms"
    )
    print(f"opening_tx={opening} longest_wait_ms={longest * 1000:.3f} over_100ms={over} "
          f"vs_queue_put={longest / floor if floor else float('inf'):.2f}")  # fmt: skip


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 20.0)
