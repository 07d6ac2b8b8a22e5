"""The PM2 sampler: status, restarts, memory, CPU and deployed version per app.

One sample, in order (each step's failure is an ordinary reading, not an
exception, so the schedule never notices):

1. The ``pm2`` binary must resolve, else ``not_installed``.
2. ``$PM2_HOME/pm2.pid`` must name a live process *and* ``rpc.sock`` must accept
   a connection, else ``not_running``. Both, because ``pm2 jlist`` silently
   spawns a new daemon when it finds none, and a stale pid file (the daemon
   was killed) may name a pid that now belongs to something else.
3. Over that connection, ``getVersion``; for a PM2 major the socket protocol
   was checked against, ``getMonitorData`` — the list ``pm2 jlist`` prints, at
   a fraction of a millisecond instead of a node process (``bench/pm2.py``).
4. Otherwise (another version, a reply not understood, a socket we may not
   open) ``pm2 jlist`` through :mod:`calmopsd.runner`: no shell, a timeout, a
   minimal environment with ``PM2_HOME``, as the configured user. Output
   without a JSON list is ``unparsable``; a non-zero exit or timeout ``error``.

Between steps 2 and 4 the daemon could die, and ``pm2 jlist`` would then start
one; the socket path (the usual one) never runs ``pm2`` at all.

The values never include ``pm2_env`` or raw output: see :mod:`.pm2_parse`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog

from calmopsd import runner
from calmopsd.clock import Clock, SystemClock
from calmopsd.config.sensing import Pm2SamplerConfig
from calmopsd.pm2files import decode_jlist, home_of, live_pid, pm2_home
from calmopsd.sense.pm2_parse import AppMark, Instance, read_instances, summarize
from calmopsd.sense.pm2_rpc import REPLY_LIMIT, Pm2Socket, RpcError

log = structlog.get_logger("calmopsd.sense.pm2")

# PM2 majors whose rpc.sock protocol and getMonitorData answer were checked
# against a real daemon: 7 by tests/sense/pm2 on every run, 5.4.3 and 6.0.14 by
# hand (docs/decisions.md). Others are read with `pm2 jlist`.
RPC_CHECKED_MAJORS = frozenset({5, 6, 7})
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MAJOR = re.compile(r"([0-9]{1,4})\.")  # ASCII digits: str.isdigit() also accepts "²"


class Pm2State(StrEnum):
    OK = "ok"
    NOT_INSTALLED = "not_installed"
    NOT_RUNNING = "not_running"
    UNPARSABLE = "unparsable"
    ERROR = "error"


class Pm2Source(StrEnum):
    RPC = "rpc"
    JLIST = "jlist"


class _Outcome(Exception):
    """A reading that ends the sample early (not_running, error…); never leaves this module."""

    def __init__(self, state: Pm2State, detail: str):
        super().__init__(detail)
        self.state = state
        self.detail = detail


class Pm2Sampler:
    """Reads one PM2 daemon's process list; remembers the last one to report changes."""

    name = "pm2"

    def __init__(
        self,
        config: Pm2SamplerConfig,
        clock: Clock | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        rpc: bool = True,
    ):
        """``environ`` stands in for ``os.environ`` ($PM2_HOME, $HOME, $PATH);
        ``rpc=False`` always reads with ``pm2 jlist`` (tests and bench/pm2.py)."""
        self.config = config
        self.clock = clock or SystemClock()
        self.environ = os.environ if environ is None else environ
        self.rpc = rpc
        self._marks: dict[str, AppMark] | None = None
        self._fallback_logged: str | None = None

    @property
    def timeout_s(self) -> float:
        """For the runner: past our own timeout, so a slow PM2 is a reading, not a failure."""
        return self.config.timeout.total_seconds() + 1.0

    def sample(self) -> dict[str, Any]:
        home: Path | None = None
        try:
            home = _home_for(self.config, self.environ)
            try:
                pid = _check_daemon(home)
            except _Outcome:
                self._binary()  # no daemon and no pm2 at all: say "not installed"
                raise
            return self._read(home, pid)
        except _Outcome as outcome:
            return values(outcome.state, home, detail=outcome.detail)

    def _binary(self) -> str:
        """The pm2 command; only needed when the socket cannot be used (the jlist fallback).

        A running daemon is read over its socket even when ``binary`` is not on
        calmopsd's PATH (pm2 installed with nvm, say).
        """
        found = shutil.which(self.config.binary, path=self._path())
        if found is None:
            raise _Outcome(Pm2State.NOT_INSTALLED, f"{self.config.binary!r} not found")
        return found

    def _read(self, home: Path, pid: int) -> dict[str, Any]:
        timeout_s = self.config.timeout.total_seconds()
        try:
            connection = Pm2Socket(home / "rpc.sock", timeout_s)
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            detail = f"pm2.pid names a live process but no daemon listens on rpc.sock ({exc})"
            raise _Outcome(Pm2State.NOT_RUNNING, detail) from None
        except TimeoutError:
            raise _Outcome(
                Pm2State.ERROR, f"rpc.sock did not accept within {timeout_s:g}s"
            ) from None
        except OSError as exc:
            return self._jlist(home, f"rpc.sock: {exc.strerror or exc}", None)
        with connection:
            _check_peer(connection, pid)
            version, listed, fallback = self._ask(connection)
        if listed is None:
            return self._jlist(home, fallback, version)
        return self._values(home, Pm2Source.RPC, version, None, listed)

    def _ask(self, connection: Pm2Socket) -> tuple[str | None, Any | None, str | None]:
        """(daemon version, the list or None, why the list was not asked for)."""
        if not self.rpc:
            return None, None, "socket reading turned off"
        version: str | None = None
        try:
            # Every God method takes (env, callback): an empty env must be passed.
            answer = connection.call("getVersion", {})
            version = answer[:40] if isinstance(answer, str) else None
            if version is None or _major(version) not in RPC_CHECKED_MAJORS:
                return version, None, f"PM2 {answer!s:.40} not checked on the socket"
            listed = connection.call("getMonitorData", {})
        except RpcError as exc:
            return version, None, str(exc)
        except TimeoutError:
            raise _Outcome(Pm2State.ERROR, "the PM2 daemon did not answer in time") from None
        except OSError as exc:
            # The daemon went away mid-call: `pm2 jlist` now would spawn a new one.
            raise _Outcome(Pm2State.ERROR, f"rpc.sock: {exc.strerror or exc}") from None
        if not isinstance(listed, list):
            return version, None, "getMonitorData did not answer a list"
        return version, listed, None

    def _jlist(self, home: Path, fallback: str | None, version: str | None) -> dict[str, Any]:
        if fallback != self._fallback_logged:
            log.info("pm2.jlist_fallback", reason=fallback)
            self._fallback_logged = fallback
        binary = self._binary()
        result = runner.run(
            [binary, "jlist"],
            timeout=self.config.timeout.total_seconds(),
            env=self._env(home),
            user=self.config.user,
            output_limit=REPLY_LIMIT,  # every instance carries its whole environment
        )
        if result.error is not None:
            raise _Outcome(Pm2State.ERROR, f"pm2 jlist {result.error}")
        if result.returncode != 0:
            raise _Outcome(
                Pm2State.ERROR, f"pm2 jlist exited {result.returncode}: {_last_line(result.stderr)}"
            )
        listed = decode_jlist(result.stdout.decode("utf-8", "replace"))
        if listed is None:
            detail = f"pm2 jlist printed no JSON process list ({len(result.stdout)} bytes)"
            raise _Outcome(Pm2State.UNPARSABLE, detail)
        return self._values(home, Pm2Source.JLIST, version, fallback, listed)

    def _values(
        self,
        home: Path,
        source: Pm2Source,
        version: str | None,
        fallback: str | None,
        listed: Any,
    ) -> dict[str, Any]:
        parsed = read_instances(listed)
        if parsed is None:
            raise _Outcome(Pm2State.UNPARSABLE, f"{source} gave no process list")
        instances, skipped = parsed
        now_ms = int(self.clock.now().timestamp() * 1000)
        apps, marks = summarize(instances, now_ms, self._marks)
        gone = sorted(set(self._marks or ()) - set(marks))
        self._marks = marks
        return values(
            Pm2State.OK,
            home,
            source=source.value,
            pm2_version=version,
            fallback=fallback,
            apps=apps,
            instances=[i.as_values(now_ms) for i in _ordered(instances)],
            skipped=skipped,
            gone=gone,
        )

    def _path(self) -> str:
        return self.environ.get("PATH") or runner.MINIMAL_PATH

    def _env(self, home: Path) -> dict[str, str]:
        env = runner.minimal_env({"PM2_HOME": str(home), "PATH": self._path()})
        if self.config.user:
            env["HOME"] = _home_of(self.config.user)
        return env


def values(state: Pm2State, home: Path | None, **fields: Any) -> dict[str, Any]:
    """Every PM2 reading has the same keys, whatever its state."""
    reading: dict[str, Any] = {
        "state": state.value,
        "detail": None,
        "pm2_home": str(home) if home is not None else None,
        "source": None,
        "pm2_version": None,
        "fallback": None,
        "apps": {},
        "instances": [],
        "skipped": 0,
        "gone": [],
    }
    reading.update(fields)
    return reading


def _check_daemon(home: Path) -> int:
    """The pid in ``pm2.pid`` if that process is alive; else the not_running outcome."""
    found = live_pid(home)
    if found.pid is None:
        state = Pm2State.ERROR if found.unreadable else Pm2State.NOT_RUNNING
        raise _Outcome(state, found.problem or "pm2.pid")
    return found.pid


def _check_peer(connection: Pm2Socket, pid: int) -> None:
    """Only the daemon named in pm2.pid may answer: another process listening on
    rpc.sock could otherwise hand us any process list it likes."""
    peer = connection.peer_pid()
    if peer not in (pid, 0):  # 0: the peer is outside our pid namespace, so unknown
        detail = f"rpc.sock is served by pid {peer}, not by the PM2 daemon in pm2.pid ({pid})"
        raise _Outcome(Pm2State.ERROR, detail)


def _home_for(config: Pm2SamplerConfig, environ: Mapping[str, str]) -> Path:
    try:
        return pm2_home(config, environ)
    except LookupError as exc:
        raise _Outcome(Pm2State.ERROR, str(exc)) from None


def _home_of(user: str) -> str:
    try:
        return home_of(user)
    except LookupError as exc:
        raise _Outcome(Pm2State.ERROR, str(exc)) from None


def _major(version: str) -> int | None:
    found = _MAJOR.match(version)
    return int(found.group(1)) if found else None


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in _ANSI.sub("", stderr.decode("utf-8", "replace")).splitlines()]
    lines = [ln for ln in lines if ln]
    return lines[-1][:200] if lines else "(no message)"


def _ordered(instances: list[Instance]) -> list[Instance]:
    return sorted(instances, key=lambda i: (i.name, i.pm_id if i.pm_id is not None else -1))
