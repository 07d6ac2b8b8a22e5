"""``calmopsd doctor``: checks a live install and says what to fix.

Each check is a function of the :class:`~.install.Install` it looks at, returning
:class:`~.finding.Finding` values (status, what, and the command that fixes it), listed
in one table in the order they print. A check reads the host and asks as the daemon's
user (:mod:`.reach`), and changes nothing.

    install.py   what the checks look at (config, user, units, how to ask as the user)
    probe.py     what is asked as the daemon's user: read, list, PM2's socket, the helper
    reach.py     how: in this process, a setpriv child (root), or by modes
    access.py    who is kept out by which mode, and the command that lets them in
    unit.py      systemd unit files as far as the checks read them
    basics.py    config, user
    logs.py      logs
    sockets.py   pm2, helper
    places.py    temp_dirs, pause_flag, rate_limit, state_dir
    hardening.py enforce, exposure
    network.py   network
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from calmopsd.doctor import basics, hardening, logs, network, places, sockets
from calmopsd.doctor.finding import Finding, Status, warn
from calmopsd.doctor.install import Install, look


@dataclass(frozen=True)
class Check:
    """``needs_config``/``needs_user``: run only once the config loaded / the user exists
    (their own checks say what is wrong otherwise)."""

    run: Callable[[Install], list[Finding]]
    needs_config: bool = True
    needs_user: bool = True


CHECKS: dict[str, Check] = {
    "config": Check(basics.config, needs_config=False, needs_user=False),
    "user": Check(basics.user, needs_config=False, needs_user=False),
    "logs": Check(logs.check),
    "pm2": Check(sockets.pm2),
    "helper": Check(sockets.helper),
    "temp_dirs": Check(places.temp_dirs, needs_user=False),
    "pause_flag": Check(places.pause_flag, needs_user=False),
    "rate_limit": Check(places.rate_limit_files, needs_user=False),
    "state_dir": Check(places.state_dir),
    "enforce": Check(hardening.enforce, needs_user=False),
    "network": Check(network.check, needs_user=False),
    "exposure": Check(hardening.exposure, needs_config=False, needs_user=False),
}


def examine(install: Install) -> list[Finding]:
    """Every check's findings, in table order."""
    found: list[Finding] = []
    skipped: list[str] = []
    for name, check in CHECKS.items():
        if (check.needs_config and install.config is None) or (
            check.needs_user and install.user is None
        ):
            skipped.append(name)
            continue
        found += check.run(install)
    if skipped:
        missing = "the config loads" if install.config is None else "the user exists"
        found.append(warn("doctor", f"not checked until {missing}: {', '.join(skipped)}"))
    return found


def failed(findings: list[Finding]) -> bool:
    return any(finding.status is Status.FAIL for finding in findings)


__all__ = ["CHECKS", "Check", "Finding", "Install", "Status", "examine", "failed", "look"]
