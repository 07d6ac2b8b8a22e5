"""A real PM2 daemon under a private PM2_HOME, tiny node apps it runs, and a cleanup
that leaves no process behind.

``make test`` installs PM2 (the Makefile's ``system-deps``); without it these
fixtures fail rather than skip, so a machine that lost PM2 cannot pass quietly.

Cleanup, in order: ``pm2 kill`` with this PM2_HOME; then every process still
tied to it — the pids seen (daemon, apps, their children) and any process
whose command line names the home or whose environment has this PM2_HOME —
is sent SIGKILL. :meth:`Pm2.leftovers` lets a test assert there are none.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil

from calmopsd.config.sensing import Pm2SamplerConfig

T = TypeVar("T")

# Reads ./mode at start: "run" (default) stays up, "crash" exits at once,
# "crash-later" exits after 400 ms (longer than the min_uptime the tests set).
APP_JS = """\
const fs = require('fs');
const path = require('path');
let mode = 'run';
try { mode = fs.readFileSync(path.join(__dirname, 'mode'), 'utf8').trim(); } catch (e) {}
if (mode === 'crash') { console.error('crashing on purpose'); process.exit(3); }
if (mode === 'crash-later') { setTimeout(() => process.exit(4), 400); }
setInterval(() => {}, 1000);
"""


def pm2_binary() -> str:
    found = shutil.which("pm2")
    if found is None:
        raise AssertionError("pm2 is not installed: `make test` installs it (make system-deps)")
    return found


def config_for(home: Path, **fields: object) -> Pm2SamplerConfig:
    """Sampler config for this PM2_HOME (a generous timeout: CI machines are slow)."""
    return Pm2SamplerConfig.model_validate({"home": str(home), "timeout": "20s", **fields})


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 20.0) -> T:
    """Poll ``check`` until it returns something other than None/False; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class NodeApp:
    """A node app in its own folder: server.js, package.json, and a mode file."""

    name: str
    dir: Path

    @property
    def script(self) -> Path:
        return self.dir / "server.js"

    def set_mode(self, mode: str) -> None:
        (self.dir / "mode").write_text(mode, encoding="utf-8")

    def set_version(self, version: str) -> None:
        package = {"name": self.name, "version": version, "private": True}
        (self.dir / "package.json").write_text(json.dumps(package), encoding="utf-8")

    def commit(self, message: str) -> str:
        """Commit everything in the folder (a git repo after the first call); the new revision."""
        git = ["git", "-C", str(self.dir), "-c", "user.name=t", "-c", "user.email=t@example.org"]
        if not (self.dir / ".git").exists():
            subprocess.run([*git, "init", "-q"], check=True, timeout=30)
        subprocess.run([*git, "add", "-A"], check=True, timeout=30)
        subprocess.run([*git, "commit", "-q", "-m", message], check=True, timeout=30)
        done = subprocess.run(
            [*git, "rev-parse", "HEAD"], check=True, timeout=30, capture_output=True, text=True
        )
        return done.stdout.strip()


class Pm2:
    """A PM2 daemon of our own; ``home`` is its PM2_HOME. Always call :meth:`kill`."""

    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"
        self.binary = pm2_binary()
        self.seen: dict[int, psutil.Process] = {}

    def env(self, **extra: str) -> dict[str, str]:
        """What the pm2 CLI (and so the daemon it spawns, and the apps) gets."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": str(self.root),
            "LANG": "C.UTF-8",
            "PM2_HOME": str(self.home),
            # Off by default in PM2 7: without it pm2_env.versioning is never filled.
            "PM2_ENABLE_GIT_PARSING": "true",
        }
        env.update(extra)
        return env

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        """``pm2 ARGS`` against this home; fails the test on a non-zero exit."""
        done = subprocess.run(
            [self.binary, *args],
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"pm2 {' '.join(args)} exited {done.returncode}: {done.stderr}")
        self._remember()
        return done.stdout

    def start_daemon(self) -> int:
        self.run("ping")
        return wait_for(self.daemon_pid, "the PM2 daemon's pid file")

    def app(self, name: str, version: str = "1.0.0") -> NodeApp:
        app = NodeApp(name, self.root / "apps" / name)
        app.dir.mkdir(parents=True)
        app.script.write_text(APP_JS, encoding="utf-8")
        app.set_version(version)
        return app

    def start(self, app: NodeApp, *options: str, **env: str) -> None:
        self.run("start", str(app.script), "--name", app.name, *options, env=self.env(**env))

    def start_restarting_forever(self, app: NodeApp) -> None:
        """Start with min_uptime 200 ms: a crash after 400 ms is then restarted forever."""
        ecosystem = app.dir / "ecosystem.json"
        spec = {
            "name": app.name,
            "script": str(app.script),
            "min_uptime": 200,
            "max_restarts": 9999,
        }
        ecosystem.write_text(json.dumps({"apps": [spec]}), encoding="utf-8")
        self.run("start", str(ecosystem))

    def jlist(self) -> list[dict[str, Any]]:
        """The oracle: what ``pm2 jlist`` itself says."""
        listed: list[dict[str, Any]] = json.loads(self.run("jlist"))
        return listed

    def entries(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.jlist() if e["name"] == name]

    def wait_entries(
        self, name: str, check: Callable[[list[dict[str, Any]]], bool], what: str
    ) -> list[dict[str, Any]]:
        """Poll ``pm2 jlist`` until ``check`` holds for the app's entries; those entries."""

        def entries() -> list[dict[str, Any]] | None:
            found = self.entries(name)
            return found if found and check(found) else None

        return wait_for(entries, what)

    def daemon_pid(self) -> int | None:
        try:
            pid = int((self.home / "pm2.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if psutil.pid_exists(pid) else None

    def leftovers(self) -> list[psutil.Process]:
        """Live processes that belong to this PM2_HOME (a seen pid only if not reused since)."""
        found = {p.pid: p for p in self.seen.values() if p.is_running()}
        for proc in psutil.process_iter():
            try:
                if proc.pid not in found and self._belongs(proc):
                    found[proc.pid] = proc
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return [p for p in found.values() if _alive(p)]

    def kill(self) -> None:
        """Stop the daemon and everything it started, by pid as a last resort."""
        self._remember()
        # `pm2 kill` with no daemon running starts one (then stops it): only when one runs.
        if self._daemon() is not None:
            subprocess.run(
                [self.binary, "kill"], env=self.env(), capture_output=True, timeout=60, check=False
            )
        for proc in self.leftovers():
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(self.leftovers(), timeout=10)

    def _belongs(self, proc: psutil.Process) -> bool:
        if f"({self.home})" in " ".join(proc.cmdline()):  # "PM2 v7…: God Daemon (HOME)"
            return True
        try:
            return proc.environ().get("PM2_HOME") == str(self.home)
        except (psutil.AccessDenied, psutil.ZombieProcess, OSError):
            return False

    def _daemon(self) -> psutil.Process | None:
        """The process pm2.pid names, if it is this home's daemon (a stale file may name any)."""
        pid = self.daemon_pid()
        try:
            daemon = psutil.Process(pid) if pid is not None else None
            return daemon if daemon is not None and self._belongs(daemon) else None
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None

    def _remember(self) -> None:
        """Note the daemon's and its descendants' (the apps') processes, for cleanup."""
        daemon = self._daemon()
        try:
            for proc in [daemon, *daemon.children(recursive=True)] if daemon else []:
                self.seen[proc.pid] = proc
        except psutil.NoSuchProcess:
            pass


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
