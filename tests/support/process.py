"""Run the real daemon as a subprocess and read its JSON log lines as they arrive."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

CLEAN_ENV_DROP = ("CALMOPS_CONFIG", "CALMOPS_STATE_DIR", "NOTIFY_SOCKET", "WATCHDOG_USEC")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV_DROP}
    env.update(extra)
    return env


def calmopsd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one CLI command to completion (bounded by a timeout)."""
    return subprocess.run(
        [sys.executable, "-m", "calmopsd", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or clean_env(),
        check=False,
    )


class DaemonProcess:
    """``calmopsd run`` in a subprocess; its stdout parsed line by line on a thread."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, wrap: tuple[str, ...] = ()):
        """``wrap``: what runs the daemon, e.g. setpriv as another user (it must exec it, so
        that ``proc`` is the daemon)."""
        self.proc = subprocess.Popen(
            [*wrap, sys.executable, "-m", "calmopsd", "run", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env or clean_env(),
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.raw: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw.append(line)
            self.lines.put(json.loads(line))

    def wait_for(self, event: str, timeout: float = 20.0) -> dict[str, Any]:
        """The next log line with this event name; fails the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if line.get("event") == event:
                return line
        stderr = (
            self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
        )
        raise AssertionError(f"no {event!r} within {timeout}s; saw {self.seen}; stderr={stderr}")

    def first(self, event: str, timeout: float = 20.0) -> dict[str, Any]:
        """The first log line with this event name, even one already passed by ``wait_for``.

        For lines from different threads, whose order is not fixed: a consumer of the event
        log may log its work before the agent logs the change it followed."""
        for line in self.seen:
            if line.get("event") == event:
                return line
        return self.wait_for(event, timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
