"""The HTTP API in the daemon: the server, its tokens, and what only the daemon can do.

The API is a door, not the engine: if its address cannot be bound (in use,
not this host's), that is one ``api.unavailable`` error line and audit event,
and calmopsd goes on watching and acting without it. Changes to where it
listens (``enabled``, ``public``, ``listen``, ``unix_socket``) need a restart,
like ``state_dir``; its tokens follow a reload. At each start the daemon writes
a fresh super-admin token for the local CLI to ``state_dir/api.token``
(mode 0600) and keeps only its hash, and, once bound, where it answers to
``state_dir/api.address`` (JSON ``{"url", "unix_socket"}``: with port 0 only the
daemon knows its port); both files are removed at stop. The monitoring routes
(``/-/healthy``, ``/-/ready``, ``/metrics``) read the daemon's :class:`Vitals`: its
latest readings, the samplers scheduled (:func:`cadences`), the scheduler, the config.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from apscheduler.schedulers.base import BaseScheduler

from calmopsd.clock import Clock
from calmopsd.config import Config
from calmopsd.config.api import ApiConfig, is_loopback
from calmopsd.customers.served import ServedNames
from calmopsd.daemon.published import ADDRESS_FILE, TOKEN_FILE
from calmopsd.daemon.responding import Responder
from calmopsd.daemon.sensing import SensingJobs
from calmopsd.errors import Unavailable
from calmopsd.fleet.forwarder import PostCounts
from calmopsd.record.database import Database, os_reason
from calmopsd.record.loads import Cadence
from calmopsd.serve.answers import ConfigInForce, Hooks
from calmopsd.serve.app import create_app
from calmopsd.serve.messages import Messages, message_rules
from calmopsd.serve.monitoring import Monitoring
from calmopsd.serve.operations import Operations
from calmopsd.serve.server import ApiServer
from calmopsd.serve.tokens import TokenEntry, Tokens, local_token
from calmopsd.serve.vitals import Vitals

log = structlog.get_logger("calmopsd.daemon")

RESTART_KEYS = ("enabled", "public", "listen", "unix_socket")
ROUND_SLACK_S = 2.0  # beyond the slowest sampler's timeout, for the agent to take the readings
SAMPLING_JOB = "sample."  # the id of each sampling job: sample.NAME (daemon/sensing.py)


def cadences(scheduler: BaseScheduler) -> dict[str, Cadence]:
    """Each sampling job as scheduled now: its interval, and its sampler's timeout (none for
    the log watcher's round, which a stop cuts short)."""
    found = {}
    for job in scheduler.get_jobs():
        interval = getattr(job.trigger, "interval", None)
        if not job.id.startswith(SAMPLING_JOB) or interval is None:
            continue
        runner = job.args[0] if job.args else None
        timeout = getattr(runner, "timeout_s", 0.0)
        found[job.id.removeprefix(SAMPLING_JOB)] = Cadence(
            interval.total_seconds(), float(timeout) if isinstance(timeout, int | float) else 0.0
        )
    return found


class Serving:
    """Owns the API server of one daemon; :meth:`start` never raises for a bind."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        state_dir: Path,
        responding: Responder,
        sensing: SensingJobs,
        audit: Callable[..., None],
        config: Callable[[], Config] | None = None,
        forwarded: Callable[[], PostCounts | None] = lambda: None,
        config_file: Callable[[], ConfigInForce] | None = None,
    ):
        self.database = database
        self.clock = clock
        self.state_dir = state_dir
        self.responding = responding
        self.sensing = sensing
        self.audit = audit
        self.config = config  # the config in force, for the monitoring routes
        self.forwarded = forwarded  # Alertmanager's post counts, for /metrics
        self.config_file = config_file  # the file and digest in force, for alert tuning
        self.tokens = Tokens()
        self.server: ApiServer | None = None
        self._round = threading.Lock()

    def start(self, api: ApiConfig) -> None:
        """Serve the API if enabled; a failure to bind is logged and audited, not raised."""
        # A previous run killed before its stop left its files: its address must not send
        # the new token to whatever holds that port now.
        self._remove_files()
        if not api.enabled:
            return
        token, entry = local_token()
        self.tokens = Tokens([TokenEntry.from_config(t) for t in api.tokens], entry)
        operations = Operations(self.database, self.clock, self.hooks())
        monitoring = Monitoring(self.database, self.clock, self.vitals(api))
        config = self.config or Config
        served = ServedNames()  # nginx's server_names, for the leak check
        messages = Messages(
            self.database, self.clock, lambda: message_rules(config(), self.database, served)
        )
        server = ApiServer(
            create_app(operations, self.tokens, config, monitoring=monitoring, messages=messages),
            listen=api.listen,
            unix_socket=api.unix_socket,
        )
        try:
            self._write_private(TOKEN_FILE, token + "\n")
            server.start()
        except OSError as exc:
            self._remove_files()
            log.error("api.unavailable", listen=api.listen, error=os_reason(exc))
            self.audit("api.unavailable", listen=api.listen, error=os_reason(exc))
            return
        self.server = server
        self._publish_address(server, api)
        if api.listen is not None and not is_loopback(api.listen):
            log.warning("api.public", listen=api.listen, url=server.url)

    def hooks(self) -> Hooks:
        return Hooks(
            approve=self.responding.approve,
            in_agent=self.responding.in_agent,
            revert=self.responding.revert,
            pause=lambda actor: self.switch(True, actor),
            resume=lambda actor: self.switch(False, actor),
            check_now=self.check_now,
            latest=lambda: dict(self.sensing.latest),
            config_file=self.config_file,
        )

    def vitals(self, api: ApiConfig) -> Vitals:
        """What the monitoring routes read, live; ``api`` until a config getter is given."""
        config = self.config
        scheduler = self.sensing.scheduler
        return Vitals(
            latest=lambda: dict(self.sensing.latest),
            sampling=lambda: cadences(scheduler),
            running=lambda: bool(scheduler.running),
            actions=lambda: config().actions if config is not None else Config().actions,
            metrics=lambda: config().api.metrics if config is not None else api.metrics,
            forwarded=self.forwarded,
        )

    def switch(self, paused: bool, actor: str) -> bool:
        """The kill switch, thrown at once by the API's caller (not on the next tick)."""
        executor = self.responding.executor
        if executor is None:
            raise Unavailable("calmopsd is starting", "starting")
        return executor.switch(paused, actor)

    def check_now(self) -> None:
        """One sampling round, fed to the agent. While one runs, another request waits for
        it and takes its readings rather than starting a second round."""
        timeout = self.sensing.longest_timeout() + ROUND_SLACK_S
        if not self._round.acquire(blocking=False):
            if not self._round.acquire(timeout=timeout):
                raise Unavailable("a health check round is still running", "busy")
            self._round.release()
            return
        try:
            self.sensing.take_round(timeout)
        finally:
            self._round.release()

    def follow(self, old: ApiConfig, new: ApiConfig) -> ApiConfig:
        """What a reload may change: the tokens. Where it listens waits for a restart."""
        kept: dict[str, Any] = {}
        for key in RESTART_KEYS:
            before = getattr(old, key)
            if before != getattr(new, key):
                # JSON's null for an unset key (unix_socket), not Python's "None"
                shown = None if before is None else str(before)
                log.warning("config.restart_required", key=f"api.{key}", kept=shown)
                kept[key] = before
        return new.model_copy(update=kept) if kept else new

    def configure(self, api: ApiConfig) -> None:
        """Take the reloaded tokens (the local CLI's stays)."""
        self.tokens.replace([TokenEntry.from_config(t) for t in api.tokens])

    def stop(self, timeout_s: float) -> None:
        if self.server is not None:
            self.server.stop(timeout_s)
            self.server = None
        self._remove_files()

    def _publish_address(self, server: ApiServer, api: ApiConfig) -> None:
        """Tell the local CLI where the API answers (the bound port, when it was 0).

        A failure only costs the CLI its shortcut (it falls back to the config), so it
        is logged, not raised.
        """
        socket_path = str(api.unix_socket) if api.unix_socket is not None else None
        address = json.dumps({"url": server.url, "unix_socket": socket_path})
        try:
            self._write_private(ADDRESS_FILE, address + "\n")
        except OSError as exc:
            log.warning("api.address_unpublished", error=os_reason(exc))

    def _write_private(self, name: str, text: str) -> None:
        """Replace ``state_dir/name`` with ``text``, readable by the daemon's user alone."""
        path = self.state_dir / name
        temporary = path.with_name(f".{name}.new")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temporary, flags, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)

    def _remove_files(self) -> None:
        for name in (ADDRESS_FILE, TOKEN_FILE):
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / name).unlink()
