"""The systemd units and `make install`: exposure scores, the units agree with the config,
the helper keeps the capabilities nginx and the runner need (checked against the real
programs), and the install target stages exactly the files and modes it promises."""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.nginx import running_nginx

from calmopsd.config import load_config

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "systemd"
DAEMON = UNITS / "calmopsd.service"
HELPER = UNITS / "calmopsd-helper.service"

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)


def directives(unit: Path) -> dict[str, list[str]]:
    """Every ``Key=value`` of a unit file, each key's values in order (sections merged:
    no key of ours appears in two)."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def analyze(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def exposure(unit: Path) -> float:
    """The "Overall exposure level" systemd-analyze gives the unit (0.0 safest, 10.0 worst)."""
    result = analyze(unit)
    line = rf"Overall exposure level for {re.escape(unit.name)}: ([0-9.]+)"
    match = re.search(line, result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1))


@needs_analyze
def test_the_daemon_unit_is_hardened_to_an_exposure_of_at_most_1_5() -> None:
    assert exposure(DAEMON) <= 1.5


@needs_analyze
def test_the_helper_unit_is_hardened_to_an_exposure_of_at_most_3_0() -> None:
    assert exposure(HELPER) <= 3.0


@needs_analyze
@pytest.mark.parametrize("unit", [DAEMON, HELPER], ids=lambda unit: unit.name)
def test_systemd_takes_every_line_of_the_unit(unit: Path) -> None:
    # A misspelt or misplaced directive is only a warning ("Unknown key …, ignoring"),
    # and a hardening line that is ignored hardens nothing.
    assert analyze(unit).stderr == ""


def test_the_daemon_starts_after_the_helper_and_runs_as_the_user_the_helper_allows() -> None:
    daemon = directives(DAEMON)
    config = load_config(ROOT / "config" / "calmops.yaml")
    assert "calmopsd-helper.service" in daemon["Wants"]
    assert "calmopsd-helper.service" in daemon["After"]
    assert daemon["User"] == [config.actions.helper.allowed_user]


def test_the_helper_unit_runs_the_helper_as_root_where_the_config_puts_its_socket() -> None:
    helper = directives(HELPER)
    config = load_config(ROOT / "config" / "calmops.yaml")
    socket = config.actions.helper.socket
    assert helper["ExecStart"] == [
        "/opt/calmopsd/venv/bin/calmopsd helper --config /etc/calmopsd/calmops.yaml"
    ]
    assert helper["Type"] == ["notify"]
    assert helper["User"] == ["root"]
    assert socket.parent == Path("/run") / helper["RuntimeDirectory"][0]
    # The socket's group is the allowed user's: root may set it without CAP_CHOWN
    # only as a member of that group.
    assert helper["SupplementaryGroups"] == [config.actions.helper.allowed_user]


def test_every_capability_the_helper_keeps_is_explained() -> None:
    text = HELPER.read_text(encoding="utf-8")
    kept = directives(HELPER)["CapabilityBoundingSet"][0].split()
    assert kept == [
        "CAP_DAC_OVERRIDE",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_KILL",
    ]
    unexplained = [cap for cap in kept if not re.search(rf"^# - .*\b{cap}\b.*:", text, re.M)]
    assert unexplained == []


# -- the helper's capabilities, against the real programs ---------------------------
# As root, a program exec'd under `setpriv --bounding-set` holds exactly that set, as
# under CapabilityBoundingSet=; `unshare --net` gives nginx -t a port 80 of its own.

NGINX_CONF = """\
user www-data;
pid {prefix}/run/nginx.pid;
error_log {prefix}/logs/error.log;
events {{}}
http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/temp;
    proxy_temp_path {prefix}/temp;
    fastcgi_temp_path {prefix}/temp;
    uwsgi_temp_path {prefix}/temp;
    scgi_temp_path {prefix}/temp;
    server {{ listen 80; location / {{ return 204; }} }}
}}
"""


def _www_data() -> bool:
    try:
        pwd.getpwnam("www-data")
    except KeyError:
        return False
    return True


needs_root_tools = pytest.mark.skipif(
    os.geteuid() != 0
    or not all(shutil.which(tool) for tool in ("nginx", "setpriv", "unshare"))
    or not _www_data(),
    reason="needs root, nginx, setpriv, unshare and the www-data user",
)


def helper_caps() -> list[str]:
    return directives(HELPER)["CapabilityBoundingSet"][0].split()


def as_helper(argv: list[str], caps: list[str]) -> list[str]:
    bounding = ",".join(["-all", *(f"+{cap.removeprefix('CAP_').lower()}" for cap in caps)])
    return ["setpriv", f"--bounding-set={bounding}", "--inh-caps=-all", "--", *argv]


@pytest.fixture
def debian_like_nginx(tmp_path: Path) -> Path:
    """A prefix laid out as Debian's nginx is: logs 0640 www-data:adm in a root:adm dir,
    temp paths www-data's, the pid file's directory root's."""
    www = pwd.getpwnam("www-data")
    adm = grp.getgrnam("adm").gr_gid
    for part in ("logs", "run", "temp"):
        (tmp_path / part).mkdir()
    os.chown(tmp_path / "logs", 0, adm)
    os.chown(tmp_path / "temp", www.pw_uid, www.pw_gid)
    for log in ("error.log", "access.log"):
        (tmp_path / "logs" / log).touch(mode=0o640)
        os.chown(tmp_path / "logs" / log, www.pw_uid, adm)
    (tmp_path / "nginx.conf").write_text(NGINX_CONF.format(prefix=tmp_path))
    return tmp_path


def nginx_test(prefix: Path, caps: list[str]) -> subprocess.CompletedProcess[str]:
    nginx = ["nginx", "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
    return subprocess.run(
        ["unshare", "--net", "--", *as_helper(nginx, caps)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@needs_root_tools
def test_nginx_t_passes_with_the_helpers_capabilities(debian_like_nginx: Path) -> None:
    result = nginx_test(debian_like_nginx, helper_caps())
    assert result.returncode == 0, result.stderr


@needs_root_tools
@pytest.mark.parametrize(
    ("cap", "failure"),
    [
        ("CAP_DAC_OVERRIDE", 'logs/error.log" failed (13: Permission denied)'),
        ("CAP_NET_BIND_SERVICE", "bind() to 0.0.0.0:80 failed (13: Permission denied)"),
    ],
)
def test_nginx_t_fails_without_each_capability_the_unit_gives_it_for(
    debian_like_nginx: Path, cap: str, failure: str
) -> None:
    result = nginx_test(debian_like_nginx, [c for c in helper_caps() if c != cap])
    assert result.returncode == 1
    assert failure in result.stderr


@needs_root_tools
def test_nginx_s_reload_signals_a_root_master_with_no_capability_at_all(tmp_path: Path) -> None:
    # Why CAP_KILL is for PM2 only: root signals root's processes without it.
    with running_nginx(tmp_path / "nginx") as nginx:
        before = nginx.workers()
        reload = [nginx.binary, "-s", "reload", "-p", str(nginx.prefix), "-c", str(nginx.conf)]
        result = subprocess.run(
            as_helper(reload, []), capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 0, result.stderr
        deadline = time.monotonic() + 10
        while nginx.workers() & before or not nginx.workers():
            assert time.monotonic() < deadline, "the workers were never replaced"
            time.sleep(0.05)


KILL_PROBE = """\
from calmopsd import runner
print(runner.run(["sleep", "2"], timeout=0.3, user="www-data").error)
"""


@needs_root_tools
def test_the_helper_kills_a_timed_out_command_of_the_apps_user_with_cap_kill() -> None:
    probe = [sys.executable, "-c", KILL_PROBE]
    kept = subprocess.run(
        as_helper(probe, helper_caps()), capture_output=True, text=True, timeout=30, check=False
    )
    assert (kept.returncode, kept.stdout.strip()) == (0, "timed out after 0.3s")
    without = [c for c in helper_caps() if c != "CAP_KILL"]
    dropped = subprocess.run(
        as_helper(probe, without), capture_output=True, text=True, timeout=30, check=False
    )
    assert dropped.returncode == 1
    assert "PermissionError: [Errno 1] Operation not permitted" in dropped.stderr


# -- make install -------------------------------------------------------------------


@dataclass(frozen=True)
class Staged:
    root: Path
    first: subprocess.CompletedProcess[str]
    config_mode: int  # the config's mode as the first run left it
    config_as_shipped: bool  # the shipped config's bytes then, but for backend: helper
    second: subprocess.CompletedProcess[str]


def make_install(destdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    return subprocess.run(
        ["make", "--no-print-directory", "install", f"DESTDIR={destdir}", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Staged]:
    """`make install` staged twice into one DESTDIR, the config edited (and made
    group-writable) in between."""
    root = tmp_path_factory.mktemp("destdir")
    shipped = (ROOT / "config" / "calmops.yaml").read_bytes()  # others may edit it meanwhile
    first = make_install(root, "SKIP_USER=1")
    assert first.returncode == 0, first.stdout + first.stderr
    edited = root / "etc/calmopsd/calmops.yaml"
    as_installed = shipped.replace(b"\n  backend: direct\n", b"\n  backend: helper\n")
    assert as_installed != shipped  # the shipped config names the direct backend
    config_mode, config_as_shipped = mode(edited), edited.read_bytes() == as_installed
    edited.write_text("# edited by the operator\nlog: {}\n")
    edited.chmod(0o660)  # group-writable: the helper would refuse it
    second = make_install(root, "SKIP_USER=1")
    assert second.returncode == 0, second.stdout + second.stderr
    yield Staged(root, first, config_mode, config_as_shipped, second)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_make_install_stages_config_state_dir_and_units_with_their_modes(staged: Staged) -> None:
    root = staged.root
    assert mode(root / "etc/calmopsd") == 0o750
    assert staged.config_mode == 0o640
    assert staged.config_as_shipped
    assert mode(root / "var/lib/calmopsd") == 0o700
    assert mode(root / "opt/calmopsd/README.md") == 0o644
    cli = (root / "usr/local/bin/calmopsd").readlink()
    assert cli == Path("/opt/calmopsd/venv/bin/calmopsd")
    for unit in (DAEMON, HELPER):
        installed = root / "etc/systemd/system" / unit.name
        assert mode(installed) == 0o644
        assert installed.read_bytes() == unit.read_bytes()
    assert "wrote /etc/calmopsd/calmops.yaml (the shipped config, actions.backend: helper)" in (
        staged.first.stdout
    )


def test_make_install_puts_the_program_the_units_start_into_the_venv(staged: Staged) -> None:
    program = directives(HELPER)["ExecStart"][0].split()[0]
    assert program == directives(DAEMON)["ExecStart"][0].split()[0]
    staged_program = staged.root / program.lstrip("/")
    shipped = ROOT / "config" / "calmops.yaml"
    result = subprocess.run(
        [str(staged_program), "check-config", str(shipped)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "config OK")


def test_a_second_make_install_keeps_the_operators_config(staged: Staged) -> None:
    config = staged.root / "etc/calmopsd/calmops.yaml"
    assert config.read_text() == "# edited by the operator\nlog: {}\n"
    assert "kept /etc/calmopsd/calmops.yaml" in staged.second.stdout
    assert "venv /opt/calmopsd/venv exists" in staged.second.stdout


def test_a_second_make_install_warns_of_a_kept_config_the_helper_would_refuse(
    staged: Staged,
) -> None:
    owner = (staged.root / "etc/calmopsd/calmops.yaml").stat().st_uid
    warning = f"warning: /etc/calmopsd/calmops.yaml (uid mode: {owner} 660) must be root's"
    assert warning in staged.second.stdout
    assert "warning:" not in staged.first.stdout


def test_make_install_says_why_it_skipped_the_daemon_reload(staged: Staged) -> None:
    # sd_booted(3): systemd is PID 1 exactly when /run/systemd/system exists.
    why = "systemd is not running" if not Path("/run/systemd/system").is_dir() else "DESTDIR"
    assert f"skipped systemctl daemon-reload: {why}" in staged.first.stdout


def test_make_install_into_a_destdir_refuses_to_make_a_user_on_this_host(tmp_path: Path) -> None:
    result = make_install(tmp_path / "stage")
    assert result.returncode != 0
    assert "DESTDIR stages files only: add SKIP_USER=1" in result.stderr
    assert not (tmp_path / "stage").exists()
