"""The HTTP API in the daemon: the server, its tokens, and what only the daemon can do.

The API is a door, not the engine: if its address cannot be bound (in use,
not this host's), that is one ``api.unavailable`` error line and audit event,
and calmopsd goes on watching and acting without it. Changes to where it
listens (``enabled``, ``public``, ``listen``, ``unix_socket``) need a restart,
like ``state_dir``; its tokens follow a reload. At each start the daemon writes
a fresh super-admin token for the local CLI to ``state_dir/api.token``
(mode 0600) and keeps only its hash; the file is removed at stop.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from calmopsd.clock import Clock
from calmopsd.config.api import ApiConfig, is_loopback
from calmopsd.daemon.responding import Responder
from calmopsd.daemon.sensing import SensingJobs
from calmopsd.errors import Unavailable
from calmopsd.record.database import Database, os_reason
from calmopsd.serve.answers import Hooks
from calmopsd.serve.app import create_app
from calmopsd.serve.operations import Operations
from calmopsd.serve.server import ApiServer
from calmopsd.serve.tokens import TokenEntry, Tokens, local_token

log = structlog.get_logger("calmopsd.daemon")

TOKEN_FILE = "api.token"  # noqa: S105  # a file name, not a secret
RESTART_KEYS = ("enabled", "public", "listen", "unix_socket")
ROUND_SLACK_S = 2.0  # beyond the slowest sampler's timeout, for the agent to take the readings


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
    ):
        self.database = database
        self.clock = clock
        self.state_dir = state_dir
        self.responding = responding
        self.sensing = sensing
        self.audit = audit
        self.tokens = Tokens()
        self.server: ApiServer | None = None
        self._round = threading.Lock()

    def start(self, api: ApiConfig) -> None:
        """Serve the API if enabled; a failure to bind is logged and audited, not raised."""
        if not api.enabled:
            self._remove_token_file()
            return
        token, entry = local_token()
        self.tokens = Tokens([TokenEntry.from_config(t) for t in api.tokens], entry)
        operations = Operations(self.database, self.clock, self.hooks())
        server = ApiServer(
            create_app(operations, self.tokens), listen=api.listen, unix_socket=api.unix_socket
        )
        try:
            self._write_token_file(token)
            server.start()
        except OSError as exc:
            self._remove_token_file()
            log.error("api.unavailable", listen=api.listen, error=os_reason(exc))
            self.audit("api.unavailable", listen=api.listen, error=os_reason(exc))
            return
        self.server = server
        if api.listen is not None and not is_loopback(api.listen):
            log.warning("api.public", listen=api.listen, url=server.url)

    def hooks(self) -> Hooks:
        return Hooks(
            approve=self.responding.approve,
            revert=self.responding.revert,
            check_now=self.check_now,
            latest=lambda: dict(self.sensing.latest),
        )

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
            if getattr(old, key) != getattr(new, key):
                log.warning(
                    "config.restart_required", key=f"api.{key}", kept=str(getattr(old, key))
                )
                kept[key] = getattr(old, key)
        return new.model_copy(update=kept) if kept else new

    def configure(self, api: ApiConfig) -> None:
        """Take the reloaded tokens (the local CLI's stays)."""
        self.tokens.replace([TokenEntry.from_config(t) for t in api.tokens])

    def stop(self, timeout_s: float) -> None:
        if self.server is not None:
            self.server.stop(timeout_s)
            self.server = None
        self._remove_token_file()

    def _write_token_file(self, token: str) -> None:
        """Replace ``api.token`` with the new one, readable by the daemon's user alone."""
        path = self.state_dir / TOKEN_FILE
        temporary = path.with_name(f".{TOKEN_FILE}.new")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temporary, flags, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(token + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)

    def _remove_token_file(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / TOKEN_FILE).unlink()
