"""The daemon as a real subprocess: start, SIGHUP reload, SIGTERM/SIGINT stop, sd_notify."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

from support.process import DaemonProcess, calmopsd, clean_env, write_config

from calmopsd.record.database import database_path


def start(daemons: list[DaemonProcess], *args: str, **env: str) -> DaemonProcess:
    daemon = DaemonProcess(*args, env=clean_env(**env))
    daemons.append(daemon)
    daemon.wait_for("daemon.ready")
    return daemon


def stop_within(daemon: DaemonProcess, signum: int, seconds: float) -> tuple[int, float]:
    began = time.monotonic()
    daemon.proc.send_signal(signum)
    code = daemon.proc.wait(timeout=seconds + 5)
    return code, time.monotonic() - began


def test_it_starts_logs_ready_as_json_and_stops_on_sigterm_with_exit_0_within_5s(
    config_file: Path, daemons: list[DaemonProcess]
) -> None:
    daemon = start(daemons, "--config", str(config_file))
    code, took = stop_within(daemon, signal.SIGTERM, 5)
    daemon.wait_for("daemon.stopped")
    assert code == 0
    assert took < 5.0
    assert all(line.startswith("{") for line in daemon.raw)
    head = next(line for line in daemon.seen if line["event"] == "audit.head")
    assert head["seq"] == 2  # daemon.started, daemon.stopped


def test_sigint_stops_it_cleanly_too(config_file: Path, daemons: list[DaemonProcess]) -> None:
    daemon = start(daemons, "--config", str(config_file))
    code, took = stop_within(daemon, signal.SIGINT, 5)
    assert (code, took < 5.0) == (0, True)


def test_sighup_with_a_valid_config_applies_it_and_audits_the_reload(
    config_file: Path, daemons: list[DaemonProcess]
) -> None:
    daemon = start(daemons, "--config", str(config_file))
    write_config(
        config_file,
        config_file.read_text() + "thresholds:\n  memory_percent: 90\n",
    )
    daemon.proc.send_signal(signal.SIGHUP)
    reloaded = daemon.wait_for("config.reloaded")
    assert reloaded["changed"] == ["thresholds.memory_percent"]
    code, _ = stop_within(daemon, signal.SIGTERM, 5)
    assert code == 0
    verified = calmopsd("verify-audit", "--config", str(config_file))
    assert verified.returncode == 0, verified.stderr
    assert "audit OK: 3 events verified" in verified.stdout  # started, reloaded, stopped


def test_sighup_with_an_invalid_config_logs_every_error_and_keeps_running(
    config_file: Path, daemons: list[DaemonProcess]
) -> None:
    daemon = start(daemons, "--config", str(config_file))
    good = config_file.read_text()
    write_config(config_file, good + "thresholds:\n  memory_percent: 150\n  disk_percnt: 3\n")
    daemon.proc.send_signal(signal.SIGHUP)
    failed = daemon.wait_for("config.reload_failed")
    assert failed["errors"] == [
        f"{config_file}:6: thresholds.memory_percent: must be ≤ 100 (got 150)",
        f"{config_file}:7: thresholds.disk_percnt: unknown key (did you mean 'disk_percent'?)",
    ]
    assert daemon.proc.poll() is None
    # Still alive and still responsive: a later valid reload works.
    write_config(config_file, good + "thresholds:\n  disk_percent: 70\n")
    daemon.proc.send_signal(signal.SIGHUP)
    assert daemon.wait_for("config.reloaded")["changed"] == ["thresholds.disk_percent"]
    code, _ = stop_within(daemon, signal.SIGTERM, 5)
    assert code == 0
    events = calmopsd("verify-audit", "--config", str(config_file))
    # started, reload_rejected, reloaded, stopped: the rejected reload is on record
    assert "audit OK: 4 events verified" in events.stdout


def test_it_tells_systemd_ready_reloading_and_stopping(
    config_file: Path, daemons: list[DaemonProcess], tmp_path: Path
) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(20)
        daemon = start(daemons, "--config", str(config_file), NOTIFY_SOCKET=address)
        assert listener.recv(256).startswith(b"READY=1")
        daemon.proc.send_signal(signal.SIGHUP)
        assert listener.recv(256).startswith(b"RELOADING=1\nMONOTONIC_USEC=")
        assert listener.recv(256) == b"READY=1"
        daemon.proc.send_signal(signal.SIGTERM)
        assert listener.recv(256) == b"STOPPING=1"
        assert daemon.proc.wait(timeout=10) == 0


def test_state_dir_comes_from_the_environment_when_set(
    config_file: Path, daemons: list[DaemonProcess], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    daemon = start(daemons, "--config", str(config_file), CALMOPS_STATE_DIR=str(elsewhere))
    assert stop_within(daemon, signal.SIGTERM, 5)[0] == 0
    assert database_path(elsewhere).is_file()
    assert not (tmp_path / "state").exists()


def test_an_invalid_config_at_start_exits_2_with_every_error_and_creates_nothing(
    tmp_path: Path,
) -> None:
    bad = write_config(tmp_path / "bad.yaml", "state_dir: state\naudit:\n  head_log_interval: 0s\n")
    result = calmopsd("run", "--config", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip() == f"{bad}:3: audit.head_log_interval: must be longer than 0s"
    assert not (tmp_path / "state").exists()


def test_a_second_daemon_on_the_same_state_dir_refuses_to_start(
    config_file: Path, daemons: list[DaemonProcess]
) -> None:
    first = start(daemons, "--config", str(config_file))
    second = calmopsd("run", "--config", str(config_file))
    assert second.returncode == 1
    assert f"in use by another calmopsd (pid {first.proc.pid})" in second.stdout
    assert stop_within(first, signal.SIGTERM, 5)[0] == 0


def catches(pid: int, signum: int) -> bool:
    """Whether the process has a handler for ``signum`` (its SigCgt mask in /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signum - 1)))


def test_a_sigterm_during_start_up_is_served_once_up_with_exit_0_and_a_stop_event(
    config_file: Path, daemons: list[DaemonProcess]
) -> None:
    """systemd stopping a unit it has just started: the signal lands while calmopsd is
    still importing, before it has logged anything."""
    daemon = DaemonProcess("--config", str(config_file), env=clean_env())
    daemons.append(daemon)
    deadline = time.monotonic() + 10
    while not catches(daemon.proc.pid, signal.SIGTERM):
        assert daemon.proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.001)
    assert daemon.raw == []  # nothing logged yet: still starting
    daemon.proc.send_signal(signal.SIGTERM)

    assert daemon.proc.wait(timeout=20) == 0
    daemon.wait_for("daemon.stopped")
    events = [line["event"] for line in daemon.seen]
    assert events.index("daemon.ready") < events.index("daemon.stopping")
    verified = calmopsd("verify-audit", "--config", str(config_file))
    assert "audit OK: 2 events verified" in verified.stdout  # started, stopped
