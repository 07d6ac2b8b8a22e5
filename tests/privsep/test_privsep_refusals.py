"""The helper as a real root process: who may ask, and what it refuses with nothing done.

The clients are real processes of other users (setpriv); the oracles are the files and
directories the refused requests named, unchanged afterwards.
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from privsep_support import (
    DAEMON_USER,
    ask,
    ensure_user,
    needs_root,
    running_helper,
    write_config,
)

from calmopsd.privsep.wire import REQUEST_WITHIN

pytestmark = needs_root

OLD = time.time() - 3 * 3600


@dataclass
class Setup:
    world: Path
    socket: Path
    daemon: pwd.struct_passwd
    other: pwd.struct_passwd
    uploads: Path
    old_file: Path
    victim: Path
    include: Path
    org_map: Path
    linked_dir: Path


def config_for(world: Path, **extra: Any) -> dict[str, Any]:
    return {
        "state_dir": str(world / "state"),
        "log": {"level": "info", "format": "json"},
        "actions": {
            "mode": "enforce",
            "helper": {"allowed_user": DAEMON_USER},
            "pm2_restart": {"apps": ["web"]},
            "nginx_reload": {"mode": "shadow"},
            "clear_temp": {
                "dirs": [str(world / "uploads"), str(world / "linked" / "uploads")],
                "min_age": "1h",
            },
            "pause_jobs": {"flag_file": str(world / "flags" / "paused"), "apps": ["worker"]},
            "rate_limit_uploads": {
                "include_file": str(world / "nginx" / "limit.conf"),
                "organizations_map_file": str(world / "nginx" / "orgs.map"),
            },
            **extra,
        },
    }


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    import shutil
    import tempfile

    world = Path(tempfile.mkdtemp(prefix="calmopsd-privsep-", dir="/tmp"))
    world.chmod(0o755)
    daemon, other = ensure_user(DAEMON_USER), ensure_user("calmopsd-test-other")
    uploads = world / "uploads"
    uploads.mkdir()
    old_file = uploads / "old.part"
    old_file.write_bytes(b"x" * 100)
    os.utime(old_file, (OLD, OLD))
    (world / "real" / "uploads").mkdir(parents=True)
    linked_old = world / "real" / "uploads" / "old.part"
    linked_old.write_bytes(b"y")
    os.utime(linked_old, (OLD, OLD))
    (world / "linked").symlink_to(world / "real")
    (world / "alias").symlink_to(uploads)
    (world / "flags").mkdir()
    (world / "nginx").mkdir()
    include, org_map = world / "nginx" / "limit.conf", world / "nginx" / "orgs.map"
    include.write_bytes(b"")
    org_map.write_bytes(b"")
    victim = world / "victim.conf"
    victim.write_bytes(b"keep me\n")
    config = write_config(world / "calmops.yaml", config_for(world), group=daemon.pw_gid)
    sock = world / "run" / "helper.sock"
    try:
        with running_helper(config, sock) as helper:
            yield Setup(
                world, sock, daemon, other, uploads, old_file, victim, include, org_map,
                linked_old,
            )  # fmt: skip
            helper.wait_for("helper.started")
    finally:
        shutil.rmtree(world, ignore_errors=True)


def refusal(answer: dict[str, Any]) -> tuple[str, str]:
    found = answer["answer"]["refused"]
    return found["reason"], found["detail"]


def test_it_answers_the_daemons_uid(setup: Setup) -> None:
    answer = ask(setup.socket, {"op": "ping"}, setup.daemon)
    assert answer["answer"]["pong"]["actions"] == [
        "clear_temp", "nginx_reload", "pause_jobs", "pm2_restart", "rate_limit_uploads",
    ]  # fmt: skip


def test_another_uid_is_refused_by_its_peer_credentials_even_with_the_sockets_group(
    setup: Setup,
) -> None:
    # In the socket's group, the file lets it connect: SO_PEERCRED is what refuses it.
    answer = ask(setup.socket, {"op": "ping"}, setup.other, groups=[setup.daemon.pw_gid])
    reason, detail = refusal(answer)
    assert reason == "not_allowed"
    assert detail == (
        f"uid {setup.other.pw_uid} may not use the helper: only uid {setup.daemon.pw_uid} may"
    )


def test_another_uid_outside_the_group_cannot_even_connect(setup: Setup) -> None:
    assert ask(setup.socket, {"op": "ping"}, setup.other) == {"connect_error": "Permission denied"}
    info = setup.socket.lstat()
    assert (oct(info.st_mode & 0o777), info.st_uid, info.st_gid) == (
        "0o660", 0, setup.daemon.pw_gid,
    )  # fmt: skip


def test_root_itself_is_not_the_allowed_uid(setup: Setup) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(setup.socket))
        received = conn.recv(4096)  # answered at the accept, before any request is read
    assert b'"reason":"not_allowed"' in received
    assert b"uid 0 may not use the helper" in received


CASES = [
    # (request, reason, words in the detail)
    (
        {"op": "run", "action": "pm2_restart", "params": {"app": "api"}},
        "not_allowed",
        "'api' is not in actions.pm2_restart.apps",
    ),
    (
        {"op": "run", "action": "pm2_restart", "params": {"app": "all"}},
        "bad_parameter",
        "names more than one app",
    ),
    (
        {"op": "run", "action": "clear_temp", "params": {"dir": "/tmp"}},
        "not_allowed",
        "is not in actions.clear_temp.dirs",
    ),
    (
        {"op": "run", "action": "clear_temp", "params": {"dir": "{world}/uploads/../victim"}},
        "bad_parameter",
        "must not contain '..'",
    ),
    (
        {"op": "run", "action": "clear_temp", "params": {"dir": "{world}/alias"}},
        "not_allowed",
        "is not in actions.clear_temp.dirs",
    ),
    (
        {"op": "run", "action": "clear_temp", "params": {"dir": "{world}/uploads", "depth": 9}},
        "bad_parameter",
        "clear_temp takes only 'dir'",
    ),
    (
        {"op": "run", "action": "rate_limit_uploads", "params": {"ttl": "30d"}},
        "bad_parameter",
        "at most 6h",
    ),
    (
        {"op": "run", "action": "rate_limit_uploads", "params": {"organization": "a;b"}},
        "bad_parameter",
        "organization must be an organization id",
    ),
    (
        {"op": "run", "action": "nginx_reload", "params": {}},
        "not_allowed",
        "nginx_reload is in shadow mode in the helper's config",
    ),
    (
        {"op": "run", "action": "nginx_reload", "params": {}, "argv": ["sh"]},
        "bad_parameter",
        "run takes no 'argv'",
    ),
    ({"op": "exec", "argv": ["sh", "-c", "id"]}, "bad_parameter", "unknown op 'exec'"),
    (
        {"op": "run", "action": "rm_rf", "params": {}},
        "unknown_action",
        "'rm_rf' is not one of the safe actions",
    ),
    (
        {"op": "run", "action": ["pm2_restart"], "params": {}},
        "unknown_action",
        "is not one of the safe actions",
    ),
    ({"op": "revert", "action": "pm2_restart", "undo": {}}, "not_allowed", "not reversible"),
    (
        {
            "op": "revert",
            "action": "rate_limit_uploads",
            "undo": {"path": "{world}/victim.conf", "existed": False, "content": "", "mode": 420},
        },
        "not_allowed",
        "not include_file",
    ),
    (
        {
            "op": "revert",
            "action": "rate_limit_uploads",
            "undo": {
                "path": "{world}/nginx/../victim.conf",
                "existed": False,
                "content": "",
                "mode": 420,
            },
        },
        "not_allowed",
        "not include_file",
    ),
    (
        {
            "op": "revert",
            "action": "rate_limit_uploads",
            "undo": {"path": "{world}/nginx/orgs.map", "organization": "../../x"},
        },
        "bad_parameter",
        "is not an organization id",
    ),
    (
        {
            "op": "revert",
            "action": "rate_limit_uploads",
            "undo": {"path": "{world}/victim.conf", "organization": "acme"},
        },
        "not_allowed",
        "not organizations_map_file",
    ),
    (
        {
            "op": "revert",
            "action": "pause_jobs",
            "undo": {"apps": [], "flag_file": "{world}/victim.conf"},
        },
        "not_allowed",
        "not pause_jobs.flag_file",
    ),
    (
        {"op": "revert", "action": "pause_jobs", "undo": {"apps": ["api"], "flag_file": None}},
        "not_allowed",
        "'api' not in actions.pause_jobs.apps",
    ),
    (
        {"op": "revert", "action": "pause_jobs", "undo": {"apps": [], "run": "x"}},
        "bad_parameter",
        "unknown keys",
    ),
]


def _filled(value: Any, world: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{world}", str(world))
    if isinstance(value, dict):
        return {k: _filled(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, world) for v in value]
    return value


@pytest.mark.parametrize(("request_", "reason", "words"), CASES)
def test_a_request_outside_the_allowlist_is_refused_with_nothing_done(
    setup: Setup, request_: dict[str, Any], reason: str, words: str
) -> None:
    answer = ask(setup.socket, _filled(request_, setup.world), setup.daemon)
    assert refusal(answer)[0] == reason, answer
    assert words in refusal(answer)[1]
    assert setup.old_file.exists()
    assert setup.victim.read_bytes() == b"keep me\n"
    assert setup.include.read_bytes() == b""
    assert not (setup.world / "flags" / "paused").exists()


def test_a_configured_dir_below_a_symlink_is_not_walked(setup: Setup) -> None:
    request = {
        "op": "run",
        "action": "clear_temp",
        "params": {"dir": str(setup.world / "linked" / "uploads")},
    }
    answer = ask(setup.socket, request, setup.daemon)["answer"]["result"]
    assert answer["ok"] is False
    assert "is a symlink" in answer["detail"] or "symlink" in answer["detail"]
    assert answer["data"]["files"] == 0
    assert setup.linked_dir.exists()


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"{not json\n", "not one JSON object: JSONDecodeError"),
        (b"[1, 2]\n", "not one JSON object but list"),
        (b'{"op": NaN}\n', "not one JSON object: ValueError"),
        (b"\xff\xfe{}\n", "not one JSON object: UnicodeDecodeError"),
        (b"[" * 200_000 + b"\n", "not one JSON object: RecursionError"),
        (b'{"op": "ping", "x": "' + b"a" * (300 << 10) + b'"}\n', "larger than 262144 bytes"),
        (b"", "no message was sent"),
    ],
)
def test_a_malformed_or_oversized_request_is_refused(
    setup: Setup, payload: bytes, words: str
) -> None:
    answer = ask(setup.socket, payload, setup.daemon)
    reason, detail = refusal(answer)
    assert (reason, words in detail) == ("bad_parameter", True), detail


def test_a_slow_sender_is_refused_in_bounded_time_and_holds_up_nobody(setup: Setup) -> None:
    slow: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: slow.update(
            ask(setup.socket, b'{"op": "run", "action": "clear_temp"', setup.daemon, half=True)
        )
    )
    thread.start()
    time.sleep(0)  # the slow client is on its way; the ping below must not wait for it
    began = time.monotonic()
    assert "pong" in ask(setup.socket, {"op": "ping"}, setup.daemon)["answer"]
    quick = time.monotonic() - began
    thread.join(timeout=REQUEST_WITHIN + 20)
    reason, detail = refusal(slow)
    assert (reason, detail) == (
        "bad_parameter", f"the message was not sent whole within {REQUEST_WITHIN:g}s",
    )  # fmt: skip
    assert REQUEST_WITHIN - 0.5 <= slow["elapsed_s"] <= REQUEST_WITHIN + 5
    assert quick < REQUEST_WITHIN
    assert setup.old_file.exists()


def test_the_kill_switch_in_the_state_dir_stops_it(setup: Setup) -> None:
    state = setup.world / "state"
    state.mkdir(exist_ok=True)
    (state / "actions.paused").write_text("by test\n")
    try:
        answer = ask(
            setup.socket, {"op": "run", "action": "clear_temp", "params": {}}, setup.daemon
        )
    finally:
        (state / "actions.paused").unlink()
    assert refusal(answer)[0] == "paused"
    assert setup.old_file.exists()


# -- its life: ready, stop, an unsafe config --------------------------------------


def test_it_says_ready_and_a_sigterm_stops_it_with_0_and_takes_its_socket(world: Path) -> None:
    ensure_user(DAEMON_USER)
    config = write_config(world / "calmops.yaml", config_for(world))
    notify_path = world / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        notify.settimeout(20)
        with running_helper(
            config, world / "run" / "h.sock", {"NOTIFY_SOCKET": str(notify_path)}
        ) as helper:
            assert notify.recv(4096) == b"READY=1\nSTATUS=listening"
            assert (world / "run" / "h.sock").exists()
            assert helper.stop() == 0
            assert notify.recv(4096) == b"STOPPING=1"
        helper.wait_for("helper.stopped")
    assert not (world / "run" / "h.sock").exists()
    assert (world / "run" / "act").stat().st_mode & 0o777 == 0o700
    assert (world / "run").stat().st_mode & 0o777 == 0o755


def test_it_refuses_to_start_on_a_config_others_may_write(world: Path) -> None:
    config = write_config(world / "calmops.yaml", config_for(world))
    config.chmod(0o664)
    done = subprocess.run(
        [sys.executable, "-m", "calmopsd", "helper", "--config", str(config),
         "--socket", str(world / "h.sock")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "writable by others than root (mode 0664); the helper trusts only root's files" in (
        done.stderr
    )
    assert not (world / "h.sock").exists()


def test_sighup_reads_its_config_again_and_a_broken_one_is_not_applied(world: Path) -> None:
    daemon = ensure_user(DAEMON_USER)
    data = config_for(world)
    config = write_config(world / "calmops.yaml", data, group=daemon.pw_gid)
    request = {"op": "run", "action": "pm2_restart", "params": {"app": "api"}}
    with running_helper(config, world / "run" / "h.sock") as helper:
        assert refusal(ask(helper.socket, request, daemon))[0] == "not_allowed"
        data["actions"]["pm2_restart"]["apps"] = ["web", "api"]
        write_config(config, data, group=daemon.pw_gid)
        helper.proc.send_signal(signal.SIGHUP)
        helper.wait_for("helper.reloaded")
        # Allowed now: it gets as far as PM2, which is not running here.
        result = ask(helper.socket, request, daemon)["answer"]["result"]
        assert result["ok"] is False
        assert result["detail"].startswith("PM2 is not running")
        config.write_text("actions: {mode: [\n", encoding="utf-8")
        helper.proc.send_signal(signal.SIGHUP)
        helper.wait_for("helper.reload_failed")
        assert "pong" in ask(helper.socket, {"op": "ping"}, daemon)["answer"]
        assert "result" in ask(helper.socket, request, daemon)["answer"]
