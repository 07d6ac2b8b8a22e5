"""calmopsd doctor on real parts: a real config in a directory of the test's own, real
files and modes checked as a real unprivileged user (``calmopsd-doctor-test``, made once
when missing), a real PM2 (running and stopped), a real root helper answering its ping,
real systemd-analyze scores; exit codes and --json. Where a fix can be applied here, the
test applies the very command the doctor printed and runs the doctor again."""

from __future__ import annotations

import grp
import json
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from privsep.privsep_support import ensure_user, running_helper
from privsep.privsep_support import write_config as write_root_config
from support.pm2 import Pm2
from support.process import calmopsd, clean_env

from calmopsd import __version__
from calmopsd.doctor import CHECKS, Status, examine, look, sockets
from calmopsd.doctor.probe import MISSING, OK, Answer

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_UNITS = ROOT / "systemd"
USER = "calmopsd-doctor-test"
GROUP = "calmopsd-doctor-grp"
OTHER = "calmopsd-test-other"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("setpriv", "useradd", "groupadd")),
    reason="the doctor checks as the daemon's user through setpriv, as root, and these tests "
    "make that user and a group (root, setpriv, useradd and groupadd needed)",
)
needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)
ACL = "" if shutil.which("setfacl") else "apt-get install -y acl && "


@pytest.fixture
def world() -> Iterator[Path]:
    """A directory of the test's own that the test user may enter (0755, root's)."""
    made = Path(tempfile.mkdtemp(prefix="calmopsd-doctor-", dir="/tmp"))
    made.chmod(0o755)
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


@pytest.fixture
def user() -> pwd.struct_passwd:
    return ensure_user(USER)


@pytest.fixture
def group(user: pwd.struct_passwd) -> Iterator[grp.struct_group]:
    """A group the test user is not in; taken out of it again at the end."""
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        subprocess.run(["groupadd", "--system", GROUP], check=True, timeout=60)
    _leave(GROUP)
    yield grp.getgrnam(GROUP)
    _leave(GROUP)


def _leave(group: str) -> None:
    if USER in grp.getgrnam(group).gr_mem:
        subprocess.run(["gpasswd", "-d", USER, group], check=True, capture_output=True, timeout=60)


@pytest.fixture
def units(world: Path) -> Path:
    """A daemon unit of the test's own: the test user, and no PrivateTmp (the world is in
    /tmp); the shipped units are scored and read in tests of their own."""
    where = world / "units"
    where.mkdir()
    (where / "calmopsd.service").write_text(
        f"[Unit]\nDescription=doctor test\n[Service]\nExecStart=/bin/true\nUser={USER}\n"
    )
    return where


@pytest.fixture
def state(world: Path, user: pwd.struct_passwd) -> Path:
    made = world / "state"
    made.mkdir(mode=0o700)
    os.chown(made, user.pw_uid, user.pw_gid)
    return made


def base(world: Path, **sections: Any) -> dict[str, Any]:
    return {"state_dir": str(world / "state"), "sensing": {"pm2": {"enabled": False}}, **sections}


def config_file(world: Path, data: dict[str, Any]) -> Path:
    path = world / "calmops.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    path.chmod(0o644)
    return path


def doctor(config: Path, *args: str, user: str = USER) -> tuple[int, dict[str, Any]]:
    done = calmopsd("doctor", "--config", str(config), "--as-user", user, "--json", *args)
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)


def of(body: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [f for f in body["findings"] if f["check"] == check]


def apply(fix: str) -> None:
    """Run the doctor's fix as printed: commands joined by ``&&``, each one argv."""
    for command in fix.split(" && "):
        argv = shlex.split(command)
        if argv[:2] == ["systemctl", "restart"]:
            continue  # no service here: the next doctor run is the service's next start
        subprocess.run(argv, check=True, capture_output=True, timeout=60)


def nginx_log(path: Path) -> dict[str, Any]:
    return {"nginx": [{"name": "web", "paths": [str(path)]}]}


def a_log(world: Path, mode: int, group: int = 0) -> Path:
    logs = world / "logs"
    logs.mkdir(exist_ok=True)
    logs.chmod(0o755)
    log = logs / "access.log"
    log.write_text('127.0.0.1 - - [01/May/2024:12:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n')
    os.chown(log, 0, group)
    log.chmod(mode)
    return log


# -- the whole command -----------------------------------------------------------------


def test_a_sound_install_exits_0_and_says_each_check_as_json_and_as_lines(
    world: Path, state: Path, units: Path
) -> None:
    log = a_log(world, 0o644)
    config = config_file(world, base(world, logs=nginx_log(log)))
    code, body = doctor(config, "--units", str(units))
    assert code == 0, body
    assert body["ok"] is True
    assert (body["user"], body["checked"], body["units"]) == (USER, f"as {USER} (setpriv)",
                                                             str(units))  # fmt: skip
    assert [f for f in body["findings"] if f["status"] == "fail"] == []
    assert of(body, "logs") == [{
        "check": "logs", "status": "ok", "fix": None,
        "what": f"logs.nginx[0] web: 1 file(s), each readable by {USER}",
    }]  # fmt: skip
    assert of(body, "state_dir")[0]["what"] == f"{state} is {USER}'s alone (0700)"
    assert {f["check"] for f in body["findings"]} == set(CHECKS)
    assert body["counts"]["fail"] == 0
    assert body["counts"]["ok"] + body["counts"]["warn"] == len(body["findings"])

    text = calmopsd("doctor", "--config", str(config), "--as-user", USER, "--units", str(units))
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert len(lines) == len(body["findings"]) + 1
    assert all(line.startswith(("ok    ", "warn  ")) for line in lines[:-1])
    assert f"ok    logs: logs.nginx[0] web: 1 file(s), each readable by {USER}" in lines
    counts = body["counts"]
    assert lines[-1] == (
        f"doctor: 0 FAIL, {counts['warn']} warn, {counts['ok']} ok ({config}, as {USER})"
    )


def test_a_config_with_a_bad_key_fails_naming_file_and_line_and_the_rest_waits(
    world: Path, units: Path
) -> None:
    config = config_file(world, base(world))
    config.write_text(config.read_text() + "logs:\n  bogus: 1\n")
    code, body = doctor(config, "--units", str(units))
    assert code == 1
    # The oracle: check-config, the same loader, on the same file.
    (expected,) = calmopsd("check-config", str(config)).stderr.splitlines()
    assert expected.startswith(f"{config}:")
    quoted = shlex.quote(str(config))
    assert of(body, "config")[0] == {
        "check": "config", "status": "fail", "what": expected,
        "fix": f"edit {quoted}, then: calmopsd check-config {quoted}",
    }  # fmt: skip
    assert of(body, "doctor") == [{
        "check": "doctor", "status": "warn", "fix": None,
        "what": "not checked until the config loads: logs, pm2, helper, temp_dirs, "
        "pause_flag, rate_limit, state_dir, enforce, network",
    }]  # fmt: skip


def test_a_units_directory_that_does_not_exist_is_a_usage_error(world: Path) -> None:
    """Found by a tester: a missing --units directory was checked as if it held units that
    limit nothing ("ok network: the daemon's unit does not limit the addresses")."""
    config = world / "calmops.yaml"
    config.write_text(f"state_dir: {world / 'state'}\n")
    done = calmopsd("doctor", "--config", str(config), "--units", str(world / "nowhere"))
    assert done.returncode == 2 and done.stdout == ""
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr


def test_an_empty_config_fails_as_the_loader_refuses_it(world: Path, units: Path) -> None:
    config = world / "calmops.yaml"
    config.write_text("# only a comment\n")
    code, body = doctor(config, "--units", str(units))
    assert code == 1
    (finding,) = [f for f in of(body, "config") if f["status"] == "fail"]
    assert finding["what"].startswith(f"{config}: the config is empty (no keys")


def test_a_config_the_daemon_user_cannot_read_fails_with_the_acl_that_lets_it(
    world: Path, state: Path, units: Path
) -> None:
    config = config_file(world, base(world))
    config.chmod(0o600)
    code, body = doctor(config, "--units", str(units))
    assert code == 1
    (finding,) = [f for f in of(body, "config") if f["status"] == "fail"]
    assert finding["what"] == f"{USER} cannot read {config}: {config}: Permission denied"
    assert finding["fix"] == f"{ACL}setfacl -m u:{USER}:r {config}"


def test_a_missing_daemon_user_fails_with_the_useradd_and_the_rest_waits(
    world: Path, units: Path
) -> None:
    config = config_file(world, base(world))
    code, body = doctor(config, "--units", str(units), user="calmopsd-no-such-user")
    assert code == 1
    assert of(body, "user") == [{
        "check": "user", "status": "fail",
        "what": "no user 'calmopsd-no-such-user' (--as-user): the daemon runs as it",
        "fix": "useradd --system --no-create-home --shell /usr/sbin/nologin "
        "calmopsd-no-such-user (make install makes it)",
    }]  # fmt: skip
    assert of(body, "doctor")[0]["what"] == (
        "not checked until the user exists: logs, pm2, helper, state_dir"
    )


# -- logs, as the daemon's user ----------------------------------------------------------


def test_a_log_file_chmod_000_fails_for_the_daemon_user_and_the_acl_fix_works(
    world: Path, state: Path, units: Path
) -> None:
    log = a_log(world, 0o000)
    config = config_file(world, base(world, logs=nginx_log(log)))
    code, body = doctor(config, "--units", str(units))
    assert code == 1
    assert of(body, "logs") == [{
        "check": "logs", "status": "fail",
        "what": f"logs.nginx[0] web: {USER} cannot read {log}: {log}: Permission denied",
        "fix": f"{ACL}setfacl -m u:{USER}:r {log} && setfacl -m d:u:{USER}:r {log.parent}",
    }]  # fmt: skip
    # Root reads anything: as root the same file is fine (the user is what matters).
    code, as_root = doctor(config, "--units", str(units), user="root")
    assert of(as_root, "logs")[0]["status"] == "ok"
    if ACL:
        return  # setfacl is not installed here: the fix starts with installing it
    apply(of(body, "logs")[0]["fix"])
    code, after = doctor(config, "--units", str(units))
    assert (code, of(after, "logs")[0]["status"]) == (0, "ok")


def test_a_group_readable_log_fails_until_the_user_joins_the_group_as_the_fix_says(
    world: Path, state: Path, units: Path, group: grp.struct_group
) -> None:
    log = a_log(world, 0o640, group.gr_gid)
    config = config_file(world, base(world, logs=nginx_log(log)))
    code, body = doctor(config, "--units", str(units))
    assert code == 1
    (finding,) = of(body, "logs")
    assert finding["fix"] == f"usermod -aG {GROUP} {USER} && systemctl restart calmopsd"
    apply(finding["fix"])
    code, after = doctor(config, "--units", str(units))
    assert (code, of(after, "logs")[0]["status"]) == (0, "ok")


def test_the_units_supplementary_groups_count_as_the_service_runs_with_them(
    world: Path, state: Path, units: Path, group: grp.struct_group
) -> None:
    log = a_log(world, 0o640, group.gr_gid)
    config = config_file(world, base(world, logs=nginx_log(log)))
    unit = units / "calmopsd.service"
    unit.write_text(unit.read_text() + f"SupplementaryGroups={GROUP}\n")
    code, body = doctor(config, "--units", str(units))
    assert (code, of(body, "logs")[0]["status"]) == (0, "ok")


def test_a_directory_the_user_cannot_enter_is_what_the_fix_opens(
    world: Path, state: Path, units: Path
) -> None:
    log = a_log(world, 0o644)
    log.parent.chmod(0o700)
    pattern = log.parent / "*.log"
    config = config_file(world, base(world, logs=nginx_log(pattern)))
    code, body = doctor(config, "--units", str(units))
    assert code == 1
    listing, reading = of(body, "logs")
    assert listing["what"] == (
        f"logs.nginx[0] web: {USER} cannot list {log.parent}: {log.parent}: Permission denied"
    )
    assert listing["fix"] == f"{ACL}setfacl -m u:{USER}:rx {log.parent}"
    assert reading["fix"] == f"{ACL}setfacl -m u:{USER}:x {log.parent}"
    if ACL:
        return  # setfacl is not installed here: the fix starts with installing it
    apply(listing["fix"])
    code, after = doctor(config, "--units", str(units))
    assert (code, [f["status"] for f in of(after, "logs")]) == (0, ["ok"])


def test_a_fifo_at_a_log_path_is_not_a_log_file_and_is_never_opened(
    world: Path, state: Path, units: Path
) -> None:
    fifo = world / "access.log"
    os.mkfifo(fifo, 0o644)  # an open for reading would wait for a writer: the run is bounded
    config = config_file(world, base(world, logs=nginx_log(fifo)))
    code, body = doctor(config, "--units", str(units))
    assert code == 1
    assert of(body, "logs")[0]["what"] == f"logs.nginx[0] web: {fifo} is a FIFO, not a log file"


def test_a_log_path_in_tmp_under_the_shipped_unit_is_never_seen_by_the_daemon(
    world: Path, state: Path
) -> None:
    log = a_log(world, 0o644)
    config = config_file(world, base(world, logs=nginx_log(log)))
    code, body = doctor(config, "--units", str(SHIPPED_UNITS))
    assert code == 1
    (finding,) = of(body, "logs")
    assert finding["status"] == "fail"
    assert finding["what"].endswith("(PrivateTmp=yes): it never sees this file")


def test_as_another_user_the_doctor_judges_by_modes_and_says_so(
    world: Path, state: Path, units: Path
) -> None:
    other = ensure_user(OTHER)
    log = a_log(world, 0o000)
    config = config_file(world, base(world, logs=nginx_log(log)))
    argv = [sys.executable, "-m", "calmopsd", "doctor", "--config", str(config), "--as-user",
            USER, "--units", str(units), "--json"]  # fmt: skip
    done = subprocess.run(
        ["setpriv", "--reuid", str(other.pw_uid), "--regid", str(other.pw_gid),
         "--init-groups", "--", *argv],
        capture_output=True, text=True, timeout=60, env=clean_env(), cwd="/", check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    body = json.loads(done.stdout)
    assert body["checked"] == f"by modes, not as {USER} (run as root to ask for real)"
    assert of(body, "logs")[0]["what"] == (
        f"logs.nginx[0] web: {USER} cannot read {log}: {log} does not give {USER} r (by its mode)"
    )


# -- PM2 ---------------------------------------------------------------------------------


@pytest.fixture
def pm2(world: Path) -> Iterator[Pm2]:
    root = world / "pm2"
    root.mkdir()
    running = Pm2(root)
    try:
        yield running
    finally:
        running.kill()


def test_pm2s_socket_is_asked_as_the_daemon_user_and_a_stopped_pm2_is_not_spawned(
    world: Path, state: Path, units: Path, pm2: Pm2, group: grp.struct_group
) -> None:
    pid = pm2.start_daemon()
    config = config_file(world, base(world, sensing={"pm2": {"home": str(pm2.home)}}))
    sock = pm2.home / "rpc.sock"
    code, as_root = doctor(config, "--units", str(units), user="root")
    (finding,) = of(as_root, "pm2")
    assert finding["status"] == "ok"
    assert finding["what"].startswith("PM2 7.")
    assert finding["what"].endswith(f" (pid {pid}) answers root on {sock}")

    # PM2 runs as root here: its socket is root:root, srwxrwxr-x.
    code, body = doctor(config, "--units", str(units))
    assert code == 1
    assert of(body, "pm2") == [{
        "check": "pm2", "status": "fail",
        "what": f"{USER} cannot reach PM2: {sock}: Permission denied",
        "fix": f"{ACL}setfacl -m u:{USER}:w {sock} (lost when PM2 restarts: PM2 runs with "
        f"group root; run it as the apps' own user and add {USER} to that user's group)",
    }]  # fmt: skip
    # As when PM2 runs as the app's user: the socket is that user's group's.
    os.chown(sock, 0, group.gr_gid)
    code, body = doctor(config, "--units", str(units))
    (finding,) = of(body, "pm2")
    assert finding["fix"] == f"usermod -aG {GROUP} {USER} && systemctl restart calmopsd"
    apply(finding["fix"])
    code, body = doctor(config, "--units", str(units))
    assert of(body, "pm2")[0]["status"] == "ok"

    pm2.kill()
    assert pm2.daemon_pid() is None
    code, body = doctor(config, "--units", str(units))
    assert code == 1
    (finding,) = of(body, "pm2")
    assert finding["status"] == "fail"
    assert finding["what"].startswith("PM2 is not running: ")
    assert finding["fix"] == (
        f"start the apps' PM2 as root: sudo -u root env PM2_HOME={pm2.home} pm2 resurrect"
    )
    # Asking did not start a PM2 daemon (any `pm2` command would have).
    assert pm2.daemon_pid() is None
    assert pm2.leftovers() == []


# -- the privileged helper -------------------------------------------------------------


def test_the_helper_answers_the_daemon_users_ping_and_no_one_elses(
    world: Path, state: Path, units: Path, user: pwd.struct_passwd
) -> None:
    socket = world / "run" / "helper.sock"
    helper = {"socket": str(socket), "allowed_user": USER}
    data = base(world, actions={"backend": "helper", "helper": helper})
    config = write_root_config(world / "calmops.yaml", data, group=user.pw_gid)
    with running_helper(config, socket):
        code, body = doctor(config, "--units", str(units))
        assert of(body, "helper") == [{
            "check": "helper", "status": "ok", "fix": None,
            "what": f"the helper on {socket} answers {USER}'s ping (calmopsd {__version__})",
        }]  # fmt: skip
        code, as_root = doctor(config, "--units", str(units), user="root")
        mismatch, refused = of(as_root, "helper")
        assert (mismatch["status"], refused["status"]) == ("fail", "fail")
        assert mismatch["what"] == (
            f"actions.helper.allowed_user is '{USER}', but the daemon runs as 'root': "
            "the helper answers no one else"
        )
        assert refused["what"].startswith("the helper refused root's ping: ")
    code, body = doctor(config, "--units", str(units))
    assert code == 1
    assert of(body, "helper") == [{
        "check": "helper", "status": "fail",
        "what": f"no helper socket at {socket} (the helper is not running)",
        "fix": "systemctl enable --now calmopsd-helper",
    }]  # fmt: skip


def test_checks_are_functions_of_the_install_so_an_answer_can_be_handed_in(
    world: Path, state: Path, units: Path
) -> None:
    socket = world / "helper.sock"
    helper = {"socket": str(socket), "allowed_user": USER}
    config = config_file(world, base(world, actions={"backend": "helper", "helper": helper}))

    class Canned:
        how = "canned"

        def ask(self, tasks: list[dict[str, Any]]) -> list[Answer]:
            return [
                Answer(MISSING, "gone", str(socket)) if task["op"] == "ping" else Answer(OK, "")
                for task in tasks
            ]

    install = replace(look(config, as_user=USER, units=units), reach=Canned())
    (finding,) = sockets.helper(install)
    assert (finding.status, finding.fix) == (Status.FAIL, "systemctl enable --now calmopsd-helper")
    assert [f.check for f in examine(install) if f.status is Status.FAIL] == ["helper"]


# -- places the actions use, the state dir ---------------------------------------------


def test_the_actions_places_must_be_real_directories_and_files_reached_without_symlinks(
    world: Path, state: Path, units: Path
) -> None:
    uploads, nginx = world / "uploads", world / "nginx"
    uploads.mkdir()
    nginx.mkdir()
    (world / "linked").symlink_to(uploads)
    (nginx / "orgs.map").symlink_to(world / "elsewhere.map")
    actions = {
        "clear_temp": {"dirs": [str(uploads), str(world / "missing"), str(world / "linked")]},
        "pause_jobs": {"flag_file": str(world / "flags" / "paused")},
        "rate_limit_uploads": {"include_file": str(nginx / "limit.conf"),
                               "organizations_map_file": str(nginx / "orgs.map")},
    }  # fmt: skip
    config = config_file(world, base(world, actions=actions))
    code, body = doctor(config, "--units", str(units))
    assert code == 1
    quoted = shlex.quote(str(config))
    assert [(f["status"], f["what"], f["fix"]) for f in of(body, "temp_dirs")] == [
        ("ok", f"{uploads} is a directory, reached without symlinks", None),
        ("fail", f"actions.clear_temp.dirs[1]: {world / 'missing'} does not exist",
         f"mkdir -p {world / 'missing'} (or fix actions.clear_temp.dirs[1] in {quoted})"),
        ("fail", f"actions.clear_temp.dirs[2]: {world / 'linked'} is a symlink (never followed)",
         f"set actions.clear_temp.dirs[2] in {quoted} to the real directory, {uploads}"),
    ]  # fmt: skip
    assert [(f["status"], f["what"]) for f in of(body, "pause_flag")] == [
        ("fail", f"actions.pause_jobs.flag_file: {world / 'flags'} does not exist"),
    ]
    include, org_map = of(body, "rate_limit")
    assert (include["status"], include["what"]) == ("warn", (
        f"actions.rate_limit_uploads.include_file: {nginx / 'limit.conf'} does not exist: "
        "nginx cannot include it"
    ))  # fmt: skip
    assert include["fix"].startswith(f"install -m 0644 /dev/null {nginx / 'limit.conf'} ")
    assert (org_map["status"], org_map["what"]) == ("fail", (
        f"actions.rate_limit_uploads.organizations_map_file: {nginx / 'orgs.map'} is a "
        "symlink, not a file calmopsd may replace"
    ))  # fmt: skip

    apply(include["fix"].split(" (")[0])
    (world / "flags").mkdir()
    code, body = doctor(config, "--units", str(units))
    assert [f["status"] for f in of(body, "rate_limit")] == ["ok", "fail"]
    assert of(body, "pause_flag")[0] == {
        "check": "pause_flag", "status": "ok", "fix": None,
        "what": f"{world / 'flags'} is there for the flag paused",
    }  # fmt: skip


def test_a_state_dir_open_to_others_and_roots_fails_and_its_fix_makes_it_private(
    world: Path, units: Path, user: pwd.struct_passwd
) -> None:
    state = world / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    config = config_file(world, base(world))
    code, body = doctor(config, "--units", str(units))
    assert code == 1
    primary = grp.getgrgid(user.pw_gid).gr_name
    assert of(body, "state_dir") == [{
        "check": "state_dir", "status": "fail",
        "what": f"{state}: owned by root, not {USER}; mode 0755: others may read the store",
        "fix": f"chown -R {USER}:{primary} {state} && chmod 0700 {state}",
    }]  # fmt: skip
    apply(of(body, "state_dir")[0]["fix"])
    info = state.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (user.pw_uid, 0o700)
    code, body = doctor(config, "--units", str(units))
    assert (code, of(body, "state_dir")[0]["status"]) == (0, "ok")
    # --state-dir overrides the config's, as for `calmopsd run`.
    code, body = doctor(config, "--units", str(units), "--state-dir", str(world / "elsewhere"))
    assert of(body, "state_dir")[0]["what"].startswith(f"{world / 'elsewhere'} does not exist")


# -- what the units permit --------------------------------------------------------------


def test_enforce_with_the_direct_backend_under_the_shipped_unit_warns_with_the_helper_fix(
    world: Path, state: Path
) -> None:
    uploads = world / "uploads"
    uploads.mkdir()
    actions = {"mode": "enforce", "clear_temp": {"dirs": [str(uploads)]}}
    config = config_file(world, base(world, actions=actions))
    code, body = doctor(config, "--units", str(SHIPPED_UNITS))
    assert code == 0  # a warning: the daemon runs, its actions will fail
    unit = SHIPPED_UNITS / "calmopsd.service"
    (finding,) = of(body, "enforce")
    assert finding["status"] == "warn"
    assert finding["what"] == (
        "pm2_restart, nginx_reload, pause_jobs, rate_limit_uploads, clear_temp in enforce mode "
        f"with actions.backend: direct, but the daemon runs as {USER}, not root; {unit} leaves "
        f"it no capabilities; it sees its own /tmp, not {uploads} (PrivateTmp=yes): "
        "nginx_reload, rate_limit_uploads, clear_temp and the pause flag will fail"
    )
    assert finding["fix"] == (
        "make install (installs systemd/calmopsd-helper.service), systemctl enable --now "
        f"calmopsd-helper, set actions.backend: helper in {config}, then: systemctl restart "
        "calmopsd"
    )


def test_enforce_with_the_helper_warns_where_the_helpers_unit_may_not_write(
    world: Path, state: Path
) -> None:
    outside = Path("/srv/calmopsd-doctor-uploads")  # only named: nothing is made there
    actions = {
        "mode": "enforce", "backend": "helper",
        "clear_temp": {"dirs": [str(world / "uploads"), str(outside)]},
        "pause_jobs": {"flag_file": "/run/calmopsd-doctor/paused"},
    }  # fmt: skip
    config = config_file(world, base(world, actions=actions))
    code, body = doctor(config, "--units", str(SHIPPED_UNITS))
    assert code == 1  # neither upload dir exists (temp_dirs)
    helper_unit = SHIPPED_UNITS / "calmopsd-helper.service"
    assert [(f["status"], f["what"], f["fix"]) for f in of(body, "enforce")] == [
        ("warn", f"clear_temp writes {world / 'uploads'}, in /tmp, where the helper has its own "
         f"/tmp ({helper_unit}: PrivateTmp=yes)",
         "systemctl edit calmopsd-helper: [Service] PrivateTmp=no"),
        ("warn", f"clear_temp writes {outside}, read-only to the helper under {helper_unit} "
         "(ProtectSystem=)", f"systemctl edit calmopsd-helper: [Service] ReadWritePaths={outside}"),
    ]  # fmt: skip


def test_checks_and_probes_outside_the_units_ip_allowlist_warn_with_the_drop_in(
    world: Path, state: Path
) -> None:
    sensing = {
        "pm2": {"enabled": False},
        "http": {"checks": [{"name": "local", "url": "http://127.0.0.1:3000/health"},
                            {"name": "remote", "url": "http://192.0.2.10/health"}]},
        "dependencies": {"probes": [{"name": "db", "host": "::1", "port": 5432},
                                    {"name": "cache", "host": "198.51.100.7", "port": 6379}]},
    }  # fmt: skip
    config = config_file(world, {**base(world), "sensing": sensing})
    code, body = doctor(config, "--units", str(SHIPPED_UNITS))
    assert code == 0  # warnings
    unit = SHIPPED_UNITS / "calmopsd.service"
    assert [(f["what"], f["fix"]) for f in of(body, "network")] == [
        (f"http check remote reaches 192.0.2.10 (192.0.2.10), outside IPAddressAllow= of {unit}: "
         "blocked (Operation not permitted)",
         "systemctl edit calmopsd: [Service] IPAddressAllow=192.0.2.10"),
        (f"probe cache reaches 198.51.100.7 (198.51.100.7), outside IPAddressAllow= of {unit}: "
         "blocked (Operation not permitted)",
         "systemctl edit calmopsd: [Service] IPAddressAllow=198.51.100.7"),
    ]  # fmt: skip
    # A unit that does not limit addresses (the test's own) has nothing to say.
    (units := world / "units").mkdir()
    (units / "calmopsd.service").write_text(f"[Service]\nExecStart=/bin/true\nUser={USER}\n")
    code, body = doctor(config, "--units", str(units))
    assert [f["status"] for f in of(body, "network")] == ["ok"]


@needs_analyze
def test_the_shipped_units_score_within_their_ceilings_and_a_weakened_drop_in_warns(
    world: Path, state: Path, units: Path
) -> None:
    config = config_file(world, base(world))
    code, body = doctor(config, "--units", str(SHIPPED_UNITS))
    daemon, helper = of(body, "exposure")
    assert daemon["status"] == helper["status"] == "ok"
    assert daemon["what"].startswith(f"{SHIPPED_UNITS / 'calmopsd.service'} exposure ")
    assert daemon["what"].endswith(" (at most 1.5)")
    assert helper["what"].endswith(" (at most 3)")

    copied = world / "installed"
    copied.mkdir()
    for name in ("calmopsd.service", "calmopsd-helper.service"):
        shutil.copy(SHIPPED_UNITS / name, copied / name)
    (copied / "calmopsd.service.d").mkdir()
    (copied / "calmopsd.service.d" / "weaker.conf").write_text(
        "[Service]\nProtectSystem=no\nNoNewPrivileges=no\nCapabilityBoundingSet=~\n"
    )
    code, body = doctor(config, "--units", str(copied))
    assert code == 0  # an exposure above the ceiling is a warning
    daemon, helper = of(body, "exposure")
    assert (daemon["status"], helper["status"]) == ("warn", "ok")
    score = float(daemon["what"].split(" exposure ")[1].split(",")[0])
    assert score > 1.5
    assert daemon["what"] == f"{copied / 'calmopsd.service'} exposure {score:g}, above 1.5"
    assert daemon["fix"].startswith(
        f"systemd-analyze security --offline=true {copied / 'calmopsd.service'} lists what"
    )
