"""requests is loaded by forwarding, not by the modules the daemon imports whether or not
it forwards (issue 16: a daemon without ``alertmanager.url`` holds no HTTP client for it)."""

from __future__ import annotations

import subprocess
import sys

LOADED = "import sys; {code}; print('requests' in sys.modules)"


def loads_requests(code: str) -> bool:
    """Whether a fresh interpreter holds requests after running ``code``."""
    got = subprocess.run(
        [sys.executable, "-c", LOADED.format(code=code)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return got.stdout.strip() == "True"


def test_the_fleet_modules_import_without_requests() -> None:
    assert not loads_requests("import calmopsd.fleet.forwarder, calmopsd.fleet.alertmanager")


def test_a_forwarder_once_made_holds_requests() -> None:
    code = (
        "from datetime import timedelta; "
        "from calmopsd.clock import SystemClock; "
        "from calmopsd.fleet.alertmanager import Settings; "
        "from calmopsd.fleet.forwarder import Forwarder; "
        "Forwarder(None, Settings('http://127.0.0.1:9', timedelta(minutes=1), 'h', "
        "timedelta(seconds=1)), SystemClock())"
    )
    assert loads_requests(code)


def test_the_daemon_and_its_health_checks_import_without_requests() -> None:
    """The health check sends through urllib3 itself (requests and charset-normalizer were
    3.7 MiB of the daemon's memory for nothing else)."""
    assert not loads_requests("import calmopsd.daemon, calmopsd.sense.http, calmopsd.serve.app")
