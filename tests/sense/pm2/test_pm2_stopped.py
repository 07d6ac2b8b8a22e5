"""PM2 absent, stopped or killed: an ordinary reading that says so, and never a new daemon.

``pm2 jlist`` spawns a daemon when it finds none; each test here checks that
none appeared afterwards (no live pid file, no process tied to the PM2_HOME).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from support.pm2 import Pm2, config_for, wait_for

from calmopsd.clock import SystemClock
from calmopsd.sense.pm2 import Pm2Sampler
from calmopsd.sense.sampler import SamplerRunner


@pytest.fixture
def own_pm2(tmp_path: Path) -> Iterator[Pm2]:
    """A PM2_HOME of the test's own (the module's daemon is shared by the others)."""
    pm2 = Pm2(tmp_path)
    try:
        yield pm2
    finally:
        pm2.kill()
    assert pm2.leftovers() == []


def assert_no_daemon(pm2: Pm2) -> None:
    assert pm2.daemon_pid() is None
    assert pm2.leftovers() == []


def wait_until_exited(pm2: Pm2) -> None:
    """Wait (at most 15 s) until the daemon and its apps are gone, with pm2.pid and rpc.sock.

    ``pm2 kill`` returns once the daemon has stopped the apps and said it will
    exit; the daemon then removes its pid file and sockets and exits on its
    own time, which on a busy machine is after the CLI has returned.
    """

    def exited() -> bool:
        files = [pm2.home / "pm2.pid", pm2.home / "rpc.sock"]
        return pm2.leftovers() == [] and not any(f.exists() for f in files)

    wait_for(exited, "the PM2 daemon to finish exiting after pm2 kill", timeout=15.0)


def test_after_pm2_kill_the_reading_says_not_running_and_no_daemon_starts(pm2: Pm2) -> None:
    app = pm2.app("stopped-later")
    pm2.start(app)
    pm2.wait_entries(app.name, lambda es: es[0]["pm2_env"]["status"] == "online", "online")
    watcher = Pm2Sampler(config_for(pm2.home))
    assert watcher.sample()["apps"][app.name]["status"] == "online"

    pm2.run("kill")
    wait_until_exited(pm2)
    readings = [watcher.sample(), Pm2Sampler(config_for(pm2.home), rpc=False).sample()]

    for reading in readings:
        assert reading["state"] == "not_running"
        assert reading["detail"] == f"no pm2.pid in {pm2.home}"
        assert (reading["apps"], reading["instances"]) == ({}, [])
    assert_no_daemon(pm2)
    assert not (pm2.home / "rpc.sock").exists()


def test_a_daemon_killed_with_sigkill_leaves_a_stale_pid_file_read_as_not_running(
    own_pm2: Pm2,
) -> None:
    pid = own_pm2.start_daemon()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(pid), "the daemon to die")
    assert (own_pm2.home / "pm2.pid").read_text().strip() == str(pid)

    for rpc in (True, False):
        reading = Pm2Sampler(config_for(own_pm2.home), rpc=rpc).sample()
        assert reading["state"] == "not_running"
        assert reading["detail"] == f"pm2.pid names pid {pid}, which is gone"
    assert_no_daemon(own_pm2)


def test_a_pid_file_naming_a_live_process_that_is_not_pm2_is_not_running(own_pm2: Pm2) -> None:
    # After a crash the old pid may belong to anything; here, to this test process.
    own_pm2.home.mkdir()
    (own_pm2.home / "pm2.pid").write_text(str(os.getpid()))

    for rpc in (True, False):
        reading = Pm2Sampler(config_for(own_pm2.home), rpc=rpc).sample()
        assert reading["state"] == "not_running"
        assert "no daemon listens on rpc.sock" in reading["detail"]
    assert own_pm2.leftovers() == []
    assert not (own_pm2.home / "rpc.sock").exists()


def test_a_home_where_pm2_never_ran_is_an_ordinary_not_running_reading(tmp_path: Path) -> None:
    sampler = Pm2Sampler(config_for(tmp_path / "never"))

    reading = SamplerRunner(sampler, SystemClock(), sampler.timeout_s).take()

    assert (reading.sampler, reading.ok, reading.error) == ("pm2", True, None)
    assert reading.values["state"] == "not_running"
    assert not (tmp_path / "never").exists()


def test_a_missing_pm2_binary_reads_as_not_installed(pm2: Pm2, tmp_path: Path) -> None:
    for binary in ("calmopsd-no-such-pm2", str(tmp_path / "bin" / "pm2")):
        reading = Pm2Sampler(config_for(pm2.home, binary=binary)).sample()
        assert reading["state"] == "not_installed"
        assert reading["detail"] == f"{binary!r} not found"
        assert reading["pm2_home"] == str(pm2.home)
