"""sd_notify: tell systemd we are ready, reloading, stopping, or still alive.

The protocol is one datagram to ``$NOTIFY_SOCKET`` (a leading ``@`` names an
abstract socket). Fifteen lines do not justify a dependency.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger("calmopsd.notify")


def notify(state: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Send ``state`` (e.g. ``READY=1``); False when not run by systemd or the send failed."""
    address = environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("daemon.notify_failed", state=state, error=str(exc))
        return False
    return True
