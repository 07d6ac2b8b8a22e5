"""daemon: the one place that wires the stages together.

lifecycle.py  Daemon: start, signals (SIGTERM/SIGINT stop, SIGHUP reload), stop, audit
sensing.py    SensingJobs: the sampling and log jobs, and what they keep between rounds
responding.py Responder: the incident agent behind a lock, fed every reading and the time
serving.py    Serving: the HTTP API's server, its tokens, and the health-check rounds it asks for
source.py     Source: where the config comes from, and the state-dir override
"""

from calmopsd.daemon.lifecycle import Daemon
from calmopsd.daemon.source import Source

__all__ = ["Daemon", "Source"]
