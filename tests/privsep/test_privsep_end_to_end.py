"""The proof end to end: the daemon's executor as the unprivileged daemon user, on a
read-only system, gets all five actions done through the root helper — and undone.

What runs, all real processes:

- nginx's master as root, on 127.0.0.1, its files root's (tests/support/nginx.py);
- PM2 as the app's own user (``calmopsd-test-app``) with its own PM2_HOME, running two
  node apps, ``web`` and the background ``worker``;
- ``calmopsd helper`` as root, on a unix socket, with the config root keeps (0640,
  group the daemon's);
- the executor (tests/privsep/executor_run.py) as ``calmopsd-test`` under ``setpriv
  --no-new-privs``, in a mount namespace where ``/`` is read-only but its state dir
  (``unshare --mount`` and bind mounts, as ``ProtectSystem=strict`` with a
  ``StateDirectory`` does), with ``actions.backend: helper``.

The oracles are the host itself: nginx's workers and its 429s, the map and include files,
PM2's own ``jlist`` (run as the app's user), the temp dir's files, the flag file; and the
daemon's audit chain, which records every intent and result while the helper audits
nothing.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from privsep_support import (
    APP_USER,
    DAEMON_USER,
    HERE,
    as_user,
    ensure_user,
    needs_root,
    read_only_but,
    running_helper,
    write_config,
)
from support.nginx import Nginx, running_nginx
from support.pm2 import Pm2, wait_for

pytestmark = needs_root

OLD = time.time() - 3 * 3600


def _can_unshare() -> str | None:
    """None when a mount namespace with a read-only / can be made here, else why not."""
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
         "mount -o remount,bind,ro / && ! touch /.calmopsd-ro-probe 2>/dev/null"],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return f"no mount namespace here (needs CAP_SYS_ADMIN): {done.stderr.decode()[-200:]}"
    return None


NO_NAMESPACE = _can_unshare() if os.geteuid() == 0 else "not root"


class AppPm2(Pm2):
    """PM2 run as the app's own user (setpriv), its PM2_HOME and HOME in ``root``, theirs."""

    def __init__(self, root: Path, user: pwd.struct_passwd) -> None:
        root.mkdir(parents=True)
        os.chown(root, user.pw_uid, user.pw_gid)
        super().__init__(root)
        self.user = user

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            as_user(self.user, self.binary, *args), env=env or self.env(), capture_output=True,
            text=True, timeout=60, check=False, cwd=str(self.root),
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"pm2 {' '.join(args)} exited {done.returncode}: {done.stderr}")
        self._remember()
        return done.stdout

    def kill(self) -> None:
        self._remember()
        if self._daemon() is not None:
            subprocess.run(
                as_user(self.user, self.binary, "kill"), env=self.env(), capture_output=True,
                timeout=60, check=False, cwd=str(self.root),
            )  # fmt: skip
        for proc in self.leftovers():
            proc.kill()
        psutil.wait_procs(self.leftovers(), timeout=10)


@dataclass
class Host:
    world: Path
    config: Path
    state: Path
    nginx: Nginx
    pm2: AppPm2
    uploads: Path
    flag: Path
    daemon: pwd.struct_passwd


@pytest.fixture
def host(world: Path) -> Iterator[Host]:
    daemon, app = ensure_user(DAEMON_USER), ensure_user(APP_USER)
    state = world / "state"
    state.mkdir(mode=0o700)
    os.chown(state, daemon.pw_uid, daemon.pw_gid)
    uploads = world / "uploads"
    uploads.mkdir()
    for name, when in (("old.part", OLD), ("young.part", time.time())):
        (uploads / name).write_bytes(b"u" * 1000)
        os.utime(uploads / name, (when, when))
    (world / "flags").mkdir()
    pm2 = AppPm2(world / "pm2", app)
    try:
        with running_nginx(world / "nginx") as nginx:
            pm2.start_daemon()
            for name in ("web", "worker"):
                pm2.start(pm2.app(name))
                pm2.wait_entries(name, _online, f"{name} online")
            actions = nginx.actions_config(burst=0)
            actions.update(
                backend="helper",
                helper={"socket": str(world / "run" / "helper.sock"), "allowed_user": DAEMON_USER},
                pm2_restart={"apps": ["web"]},
                pause_jobs={"apps": ["worker"], "flag_file": str(world / "flags" / "paused")},
                clear_temp={"dirs": [str(uploads)], "min_age": "1h"},
            )
            config = write_config(
                world / "calmops.yaml",
                {
                    "state_dir": str(state),
                    "log": {"level": "info", "format": "json"},
                    "actions": actions,
                    "sensing": {
                        "pm2": {
                            "binary": pm2.binary,
                            "home": str(pm2.home),
                            "user": APP_USER,
                            "timeout": "20s",
                        }
                    },
                },
                group=daemon.pw_gid,
            )
            yield Host(
                world, config, state, nginx, pm2, uploads, world / "flags" / "paused", daemon
            )
    finally:
        pm2.kill()
    assert pm2.leftovers() == []


def _online(entries: list[dict[str, Any]]) -> bool:
    return all(e["pm2_env"]["status"] == "online" and e["pid"] for e in entries)


def _stopped(entries: list[dict[str, Any]]) -> bool:
    return all(e["pm2_env"]["status"] == "stopped" for e in entries)


def as_the_daemon(host: Host, *args: str) -> list[dict[str, Any]]:
    """executor_run.py as the daemon's user, in the ProtectSystem=strict emulation when the
    machine can make one; its JSON lines."""
    run = as_user(
        host.daemon, sys.executable, str(HERE / "executor_run.py"), str(host.config), *args
    )
    if NO_NAMESPACE is None:
        run = [*read_only_but(host.state), *run]
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "PYTHONPATH": str(HERE.parents[1])}
    done = subprocess.run(
        run, capture_output=True, text=True, timeout=300, check=False, env=env, cwd="/"
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


REQUESTS = [
    ["nginx_reload", {}],
    ["rate_limit_uploads", {}],
    ["rate_limit_uploads", {"organization": "acme"}],
    ["clear_temp", {}],
    ["pm2_restart", {"app": "web"}],
    ["pause_jobs", {}],
]


def test_all_five_actions_run_and_revert_through_the_helper_for_the_unprivileged_daemon(
    host: Host,
) -> None:
    nginx, pm2 = host.nginx, host.pm2
    workers_before = nginx.workers()
    web_before = [e["pid"] for e in pm2.entries("web")]
    with running_helper(host.config, host.world / "run" / "helper.sock") as helper:
        *outcomes, audit = as_the_daemon(host, "act", json.dumps(REQUESTS))
        assert [(o["action"], o["status"]) for o in outcomes] == [
            (action, "succeeded") for action, _ in REQUESTS
        ], outcomes
        assert audit["uid"] == host.daemon.pw_uid
        # nginx: reloaded by root (new workers), the host-wide limit answers 429, acme listed.
        assert nginx.workers().isdisjoint(workers_before)
        assert 429 in nginx.burst("/upload", 10)
        assert host.nginx.org_map.read_text() == "\\acme acme;\n"
        # clear_temp: the old upload gone from root's directory, the young one kept.
        assert sorted(p.name for p in host.uploads.iterdir()) == ["young.part"]
        # PM2 as the app's user: web restarted with new pids, worker stopped; the flag is root's.
        web_after = pm2.wait_entries("web", _online, "web online")
        assert {e["pid"] for e in web_after}.isdisjoint(web_before)
        app_uid = pwd.getpwnam(APP_USER).pw_uid
        daemon_pid = pm2.daemon_pid()
        assert daemon_pid is not None
        assert {psutil.Process(p).uids().real for p in (daemon_pid, web_after[0]["pid"])} == {
            app_uid
        }
        pm2.wait_entries("worker", _stopped, "worker stopped")
        assert host.flag.stat().st_uid == 0
        # The daemon's audit chain holds intent and result, with the commands the helper ran.
        executed = [e for e in audit["audit"] if e["kind"] == "action.executed"]
        assert [e["status"] for e in executed] == ["succeeded"] * len(REQUESTS)
        assert [nginx.binary, "-p", str(nginx.prefix), "-c", str(nginx.conf), "-t"] in (
            executed[0]["commands"]
        )
        assert audit["chain_ok"] is True
        helper.wait_for("helper.done", op="run", action="pause_jobs", ok=True)

        *reverts, audit = as_the_daemon(host, "revert")
        assert sorted((r["revert"], r["done"]) for r in reverts) == [
            ("pause_jobs", True), ("rate_limit_uploads", True), ("rate_limit_uploads", True),
        ], reverts  # fmt: skip
        assert nginx.include.read_bytes() == b""
        assert nginx.org_map.read_bytes() == b""
        wait_for(lambda: 429 not in nginx.burst("/upload", 10), "the limit lifted", timeout=10)
        pm2.wait_entries("worker", _online, "worker online again")
        assert not host.flag.exists()
        assert audit["chain_ok"] is True
        assert {e["kind"] for e in audit["audit"]} >= {
            "action.intent", "action.executed", "action.in_force", "action.reverted",
        }  # fmt: skip


@pytest.mark.skipif(
    NO_NAMESPACE is not None, reason=f"ProtectSystem=strict emulation: {NO_NAMESPACE}"
)
def test_the_daemon_could_not_have_done_any_of_it_itself(host: Host) -> None:
    """In the emulation the daemon's user cannot write what the actions change (the include
    file, the temp dir, the flag's directory: root's, on a read-only system), nor even a
    directory of its own outside its state dir; in its state dir it can."""
    for path in (host.nginx.include, host.nginx.org_map, host.uploads / "x", host.flag):
        said = as_the_daemon(host, "write", str(path))
        assert said in ([{"write": "Permission denied"}], [{"write": "Read-only file system"}])
    own = host.world / "own"
    own.mkdir()
    os.chown(own, host.daemon.pw_uid, host.daemon.pw_gid)
    assert as_the_daemon(host, "write", str(own / "x")) == [{"write": "Read-only file system"}]
    assert as_the_daemon(host, "write", str(host.state / "x")) == [{"write": "ok"}]


def test_with_the_helper_backend_and_no_helper_the_actions_fail_and_nothing_falls_back(
    host: Host,
) -> None:
    *outcomes, audit = as_the_daemon(host, "act", json.dumps([["clear_temp", {}]]))
    assert outcomes[0]["status"] == "failed"
    assert outcomes[0]["detail"] == (
        f"the privileged helper does not answer at {host.world / 'run' / 'helper.sock'}: "
        "No such file or directory (actions.backend is helper: nothing runs without it)"
    )
    assert sorted(p.name for p in host.uploads.iterdir()) == ["old.part", "young.part"]
    assert audit["chain_ok"] is True
