"""What the doctor looks at: the config, the daemon's user, the units, and a way to ask
as that user. Built once (:func:`look`), then handed to every check."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from calmopsd.config import Config, load_config
from calmopsd.doctor.probe import Answer
from calmopsd.doctor.reach import Reach, Task, reach_for
from calmopsd.doctor.unit import DAEMON_UNIT, HELPER_UNIT, Unit, read_unit, units_dir
from calmopsd.doctor.user import DEFAULT_USER, DaemonUser, find_user
from calmopsd.errors import ConfigError


@dataclass(frozen=True)
class Install:
    """``user_from`` says where the user's name came from; ``reach`` is None when this
    process cannot ask as that user (it is neither root nor that user)."""

    config_path: Path
    config: Config | None
    problems: tuple[str, ...]
    user_name: str
    user_from: str
    user: DaemonUser | None
    units: Path | None
    daemon_unit: Unit | None
    helper_unit: Unit | None
    reach: Reach | None
    environ: Mapping[str, str]  # the daemon's environment, as far as it can be known

    def ask(self, tasks: Sequence[Task]) -> list[Answer] | None:
        """The answers as the daemon's user, or None when there is no way to ask."""
        return None if self.reach is None else self.reach.ask(tasks)

    @property
    def loaded(self) -> Config:
        """The config, for a check that only runs once it loaded."""
        assert self.config is not None  # noqa: S101  # the table runs it only then
        return self.config

    @property
    def known_user(self) -> DaemonUser:
        """The daemon's user, for a check that only runs once it exists."""
        assert self.user is not None  # noqa: S101  # the table runs it only then
        return self.user


def look(
    config_path: Path,
    *,
    as_user: str | None = None,
    units: Path | None = None,
    state_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    euid: int | None = None,
) -> Install:
    """Everything the checks read, gathered without changing anything; ``state_dir``
    overrides the config's (``--state-dir``), as for ``calmopsd run``."""
    environ = os.environ if environ is None else environ
    euid = os.geteuid() if euid is None else euid
    try:
        loaded = load_config(config_path)
        if state_dir is not None:
            loaded = loaded.model_copy(update={"state_dir": state_dir.resolve()})
        config: Config | None = loaded
        problems: tuple[str, ...] = ()
    except ConfigError as exc:
        config, problems = None, tuple(exc.problems)
    where = units_dir(units)
    daemon_unit, helper_unit = read_unit(where, DAEMON_UNIT), read_unit(where, HELPER_UNIT)
    if as_user:
        name, user_from = as_user, "--as-user"
    elif daemon_unit is not None and daemon_unit.user:
        name, user_from = daemon_unit.user, f"User= of {daemon_unit.path}"
    else:
        name, user_from = DEFAULT_USER, "the default"
    extra = daemon_unit.words("SupplementaryGroups") if daemon_unit else []
    user = find_user(name, extra)
    return Install(
        config_path=config_path, config=config, problems=problems, user_name=name,
        user_from=user_from, user=user, units=where, daemon_unit=daemon_unit,
        helper_unit=helper_unit, reach=reach_for(user, euid),
        environ=_daemon_environ(user, euid, environ, daemon_unit),
    )  # fmt: skip


def _daemon_environ(
    user: DaemonUser | None, euid: int, environ: Mapping[str, str], unit: Unit | None
) -> Mapping[str, str]:
    """This process's environment when it is the daemon's user (as under ``make run``);
    otherwise what systemd gives the service: the user's HOME and the unit's
    ``Environment=``."""
    if user is not None and user.uid == euid:
        return environ
    given = {"HOME": str(user.home)} if user is not None else {}
    return {**given, **(unit.environment() if unit is not None else {})}
