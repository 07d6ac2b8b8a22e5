"""Signals that arrive before the daemon listens for them are kept, not fatal.

``calmopsd run`` spends most of a second importing and loading its config before
:class:`~calmopsd.daemon.lifecycle.Daemon` takes over signals; a SIGTERM in that time
(systemd stopping a unit it just started) killed the process by the signal, with no
stop event. :func:`listen` is the first thing the command-line entry point does for
``run``: the signals are written into a socket pair (``signal.set_wakeup_fd``, the
same way the daemon listens), and the daemon listens on that same pair, so a stop
asked for during start-up is served as soon as the daemon is up: exit 0, audited.

Imports nothing heavy: it runs before the rest of calmopsd is imported.
"""

from __future__ import annotations

import signal
import socket

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_listening: tuple[socket.socket, socket.socket] | None = None


def _record_only(signum: int, frame: object) -> None:
    """Installed so the wakeup fd receives the signal; whoever reads it does the work."""


def listen() -> tuple[socket.socket, socket.socket]:
    """Start keeping the stop and reload signals in a socket pair; (receiver, sender)."""
    global _listening
    if _listening is None:
        receiver, sender = socket.socketpair()
        for end in (receiver, sender):
            end.setblocking(False)
        signal.set_wakeup_fd(sender.fileno(), warn_on_full_buffer=False)
        for signum in SIGNALS:
            signal.signal(signum, _record_only)
        _listening = (receiver, sender)
    return _listening
