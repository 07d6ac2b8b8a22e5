"""The names this host's nginx serves, for the leak check, read again at most every few minutes.

Why a cache: the leak check runs at every draft, edit and approval of a customer message,
and reading nginx's config means running ``nginx -T`` (or reading its files when that fails).
Why ask at all: a ``server_name`` such as ``admin.internal.example`` or
``staging-acme.example`` is as internal as a host name in the config, and only nginx
knows it. A failure to read is logged and keeps the names last read: the check never
fails for it, and never forgets a name it once knew until nginx is read again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

log = structlog.get_logger("calmopsd.customers")

REREAD_S = 300.0


def _from_nginx() -> tuple[str, ...]:
    from calmopsd.discover import nginx_server_names  # loaded when a message is first checked

    return nginx_server_names()


class ServedNames:
    """``served()``: nginx's ``server_name``s as last read, read again once ``reread_s`` passed."""

    def __init__(
        self,
        read: Callable[[], tuple[str, ...]] = _from_nginx,
        *,
        reread_s: float = REREAD_S,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._read = read
        self._reread_s = reread_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._names: tuple[str, ...] = ()
        self._read_at: float | None = None

    def __call__(self) -> tuple[str, ...]:
        with self._lock:
            now = self._monotonic()
            if self._read_at is None or now - self._read_at >= self._reread_s:
                self._read_at = now
                try:
                    self._names = self._read()
                except Exception as exc:  # nginx unreadable: keep what was read before
                    log.warning("customers.server_names_unread", error=str(exc))
            return self._names
