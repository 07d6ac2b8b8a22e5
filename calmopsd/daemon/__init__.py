"""daemon: the one place that wires the stages together.

lifecycle.py  Daemon: start, signals (SIGTERM/SIGINT stop, SIGHUP reload), stop, audit
sensing.py    SensingJobs: the sampling and log jobs, and what they keep between rounds
responding.py Responder: the incident agent behind a lock, fed every reading and the time
serving.py    Serving: the HTTP API's server, its tokens, and the health-check rounds it asks for
source.py     Source: where the config comes from, and the state-dir override

``Daemon`` and ``Source`` are imported on first use: a CLI command that only reads the
config (``Source``) does not import every stage the daemon wires (``Daemon``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from calmopsd.first_use import first_use

if TYPE_CHECKING:
    from calmopsd.daemon.lifecycle import Daemon
    from calmopsd.daemon.source import Source

__all__ = ["Daemon", "Source"]

_WHERE = {"Daemon": "calmopsd.daemon.lifecycle", "Source": "calmopsd.daemon.source"}


__getattr__, __dir__ = first_use(__name__, _WHERE)
