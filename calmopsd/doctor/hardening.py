"""What the units permit: whether actions in enforce mode can run under them, and how
exposed each unit is.

Under the shipped ``calmopsd.service`` the daemon is an unprivileged user with no
capabilities and a read-only system, so with ``actions.backend: direct`` it cannot
reload a root nginx or write the places the file actions write; those go through the
helper, whose own unit must in turn leave those places writable (``ReadWritePaths=``)
and outside its private /tmp. Exposure is ``systemd-analyze security --offline=true``
on the unit file (its drop-ins beside it included), against the ceilings the tests
keep for the shipped units.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from calmopsd import runner
from calmopsd.config.actions import ActionsConfig
from calmopsd.doctor.finding import Finding, ok, warn
from calmopsd.doctor.install import Install
from calmopsd.doctor.unit import DAEMON_UNIT, HELPER_UNIT, Unit
from calmopsd.model import SafeAction

CEILINGS = {DAEMON_UNIT: 1.5, HELPER_UNIT: 3.0}
ANALYZE_WITHIN = 60.0  # seconds
_SCORE = re.compile(r"Overall exposure level for (\S+): ([0-9]+(?:\.[0-9]+)?)")


def enforced(actions: ActionsConfig) -> list[str]:
    """The actions in enforce mode: their own ``mode``, else ``actions.mode``."""
    return [a.value for a in SafeAction if (getattr(actions, a.value).mode or actions.mode)
            == "enforce"]  # fmt: skip


def writes(actions: ActionsConfig) -> list[tuple[str, Path]]:
    """(action, directory) for every place an action writes."""
    places = [("clear_temp", d) for d in actions.clear_temp.dirs]
    if actions.pause_jobs.flag_file is not None:
        places.append(("pause_jobs", actions.pause_jobs.flag_file.parent))
    limit = actions.rate_limit_uploads
    for path in (limit.include_file, limit.organizations_map_file):
        if path is not None:
            places.append(("rate_limit_uploads", path.parent))
    return places


def enforce(install: Install) -> list[Finding]:
    actions = install.loaded.actions
    running = enforced(actions)
    if not running:
        return [ok("enforce", "every action is in shadow mode: decided and recorded, none run")]
    if actions.backend == "direct":
        return [_direct(install, actions, running)]
    return _helper(install, actions)


def _direct(install: Install, actions: ActionsConfig, running: list[str]) -> Finding:
    reasons = []
    user = install.user
    if user is not None and user.uid != 0:
        reasons.append(f"the daemon runs as {user.name}, not root")
    unit = install.daemon_unit
    if unit is not None:
        if not unit.words("CapabilityBoundingSet") and unit.last("CapabilityBoundingSet") == "":
            reasons.append(f"{unit.path} leaves it no capabilities")
        places = [place for _, place in writes(actions)]
        blocked = sorted({str(p) for p in places if not unit.writable(p)})
        if blocked:
            reasons.append(f"{unit.path} makes {', '.join(blocked)} read-only to it")
        private = sorted({str(p) for p in places if unit.in_private_tmp(p)})
        if private:
            reasons.append(f"it sees its own /tmp, not {', '.join(private)} (PrivateTmp=yes)")
    if not reasons:
        return ok("enforce", f"{', '.join(running)} in enforce mode, run by the daemon "
                  "itself (actions.backend: direct) as root")  # fmt: skip
    quoted = shlex.quote(str(install.config_path))
    return warn(
        "enforce",
        f"{', '.join(running)} in enforce mode with actions.backend: direct, but "
        f"{'; '.join(reasons)}: nginx_reload, rate_limit_uploads, clear_temp and the pause "
        "flag will fail",
        "make install (installs systemd/calmopsd-helper.service), systemctl enable --now "
        f"calmopsd-helper, set actions.backend: helper in {quoted}, "
        "then: systemctl restart calmopsd",
    )


def _helper(install: Install, actions: ActionsConfig) -> list[Finding]:
    unit = install.helper_unit
    if unit is None:
        return [warn("enforce", f"actions.backend: helper, but no {HELPER_UNIT} in "
                     f"{install.units or 'any units directory'}", "make install")]  # fmt: skip
    found = []
    for action, place in writes(actions):
        if unit.in_private_tmp(place):
            found.append(
                warn(
                    "enforce",
                    f"{action} writes {place}, in /tmp, where the helper "
                    f"has its own /tmp ({unit.path}: PrivateTmp=yes)",
                    "systemctl edit calmopsd-helper: [Service] PrivateTmp=no",
                )
            )
        elif not unit.writable(place):
            found.append(
                warn(
                    "enforce",
                    f"{action} writes {place}, read-only to the helper "
                    f"under {unit.path} (ProtectSystem=)",
                    f"systemctl edit calmopsd-helper: [Service] ReadWritePaths={place}",
                )
            )
    if not found:
        found.append(ok("enforce", f"actions.backend: helper, and {unit.path} lets the helper "
                        "write every place the actions write"))  # fmt: skip
    return found


def exposure(install: Install) -> list[Finding]:
    units = [u for u in (install.daemon_unit, install.helper_unit) if u is not None]
    if not units:
        return [warn("exposure", f"no {DAEMON_UNIT} found (/etc/systemd/system, this "
                     "checkout's systemd/ or --units)", "make install")]  # fmt: skip
    if shutil.which("systemd-analyze") is None:
        return [warn("exposure", "units not scored: systemd-analyze is not installed",
                     "apt-get install systemd")]  # fmt: skip
    return [_score(unit) for unit in units]


def _score(unit: Unit) -> Finding:
    ceiling = CEILINGS[unit.path.name]
    argv = ["systemd-analyze", "security", "--offline=true", str(unit.path)]
    done = runner.run(argv, timeout=ANALYZE_WITHIN)
    found = _SCORE.search(done.stdout.decode("utf-8", "replace"))
    if found is None:
        said = done.error or done.stderr.decode("utf-8", "replace").strip()[:200]
        return warn("exposure", f"{unit.path} could not be scored: {said}",
                    f"{' '.join(argv)} says why")  # fmt: skip
    score = float(found.group(2))
    what = f"{unit.path} exposure {score:g}"
    if score > ceiling:
        return warn("exposure", f"{what}, above {ceiling:g}",
                    f"{' '.join(argv)} lists what raises it; make install puts the shipped "
                    "unit back (local changes belong in drop-ins)")  # fmt: skip
    return ok("exposure", f"{what} (at most {ceiling:g})")
