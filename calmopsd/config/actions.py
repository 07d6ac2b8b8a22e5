"""The safe-action executor (``actions:``): mode, kill switch, and each action's limits.

Only the five actions exist; each has its own section with the allowlist it
may act on (PM2 apps, temp directories, nginx files), a budget over a
wall-clock window and a cooldown. An empty allowlist means the action can
never run. Nothing here can name a command: argv lists are fixed in
``calmopsd/act/``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from calmopsd.config.section import NullIsEmpty, Section
from calmopsd.config.unique import each_once
from calmopsd.config.units import ConfigPath, Name, OptionalPath, PositiveDuration
from calmopsd.typed import AfterValidator, CrossCheck, Field, across_items

Mode = Literal["enforce", "shadow"]


_unique = each_once(
    lambda name, first, _: f"each entry at most once; {name!r} is also entry [{first}]"
)


AppNames = Annotated[list[Name], across_items(_unique)]


class Budget(Section):
    """How often one action may run on one target without a person."""

    mode: Mode | None = Field(
        default=None,
        description="enforce or shadow for this action alone (default: actions.mode).",
    )
    max_runs: int = Field(
        default=3, ge=0, le=100, description="Runs allowed per target within window."
    )
    window: PositiveDuration = Field(
        default=timedelta(minutes=30), description="The wall-clock window max_runs counts over."
    )
    cooldown: PositiveDuration = Field(
        default=timedelta(minutes=2), description="Least time between two runs on one target."
    )


class Pm2RestartConfig(Budget):
    """pm2_restart: restart (fork mode) or reload (cluster mode) one allowed PM2 app."""

    apps: AppNames = Field(
        default_factory=list, description="PM2 app names it may restart; empty: none."
    )


class NginxReloadConfig(Budget):
    """nginx_reload: nginx -t, then reload, verified by new worker pids."""

    max_runs: int = Field(default=2, ge=0, le=100, description="Reloads allowed within window.")
    window: PositiveDuration = Field(
        default=timedelta(hours=1), description="The wall-clock window max_runs counts over."
    )
    cooldown: PositiveDuration = Field(
        default=timedelta(minutes=5), description="Least time between two reloads."
    )


class PauseJobsConfig(Budget):
    """pause_jobs: stop PM2 worker apps, or create a flag file the app honours, for a TTL."""

    apps: AppNames = Field(
        default_factory=list, description="PM2 worker apps to stop while paused."
    )
    flag_file: OptionalPath = Field(
        default=None, description="A file to create while paused (the app checks for it)."
    )
    ttl: PositiveDuration = Field(
        default=timedelta(minutes=30), description="How long a pause lasts before it is undone."
    )
    max_extensions: int = Field(
        default=3, ge=0, le=20,
        description="Times a pause whose incident is still unresolved at its end is extended "
        "by its ttl instead of undone; once spent, it is undone and handed to a person.",
    )  # fmt: skip
    max_runs: int = Field(default=2, ge=0, le=100, description="Pauses allowed within window.")
    window: PositiveDuration = Field(
        default=timedelta(hours=2), description="The wall-clock window max_runs counts over."
    )


class RateLimitUploadsConfig(Budget):
    """rate_limit_uploads: limit uploads with nginx's limit_req for a TTL, host-wide (the
    include file) or for one organization (its line in the map file)."""

    include_file: OptionalPath = Field(
        default=None,
        description="The nginx file calmopsd owns, included in the upload locations; "
        "empty means no limit. Unset: no host-wide limit.",
    )
    organizations_map_file: OptionalPath = Field(
        default=None,
        description="The nginx file calmopsd owns, included in the operator's map from the "
        "organization to the key of a limit_req_zone; one line per organization limited. "
        "Unset: no per-organization limit.",
    )
    zone: Name = Field(
        default="calmopsd_uploads",
        description="The limit_req_zone name declared in nginx's http block.",
    )
    burst: int = Field(default=20, ge=0, le=10000, description="Requests allowed above the rate.")
    ttl: PositiveDuration = Field(
        default=timedelta(minutes=30), description="How long the limit stays before it is undone."
    )
    max_extensions: int = Field(
        default=3, ge=0, le=20,
        description="Times a limit whose incident is still unresolved at its end is extended "
        "by its ttl instead of undone; once spent, it is undone and handed to a person.",
    )  # fmt: skip
    max_runs: int = Field(
        default=2, ge=0, le=100,
        description="Limits allowed within window, per target (host-wide, or one organization).",
    )  # fmt: skip
    window: PositiveDuration = Field(
        default=timedelta(hours=2), description="The wall-clock window max_runs counts over."
    )

    def _two_files(self) -> None:
        if self.include_file is not None and self.include_file == self.organizations_map_file:
            raise ValueError(
                "include_file and organizations_map_file must be two files: one holds "
                "limit_req lines, the other map entries"
            )

    cross_checks = (CrossCheck(("include_file", "organizations_map_file"), _two_files),)


class ClearTempConfig(Budget):
    """clear_temp: delete old regular files under an allowed temp upload directory."""

    dirs: list[TempDir] = Field(
        default_factory=list, description="Temp upload directories it may clear; empty: none."
    )
    min_age: PositiveDuration = Field(
        default=timedelta(minutes=60), description="Only files older than this are deleted."
    )
    max_runs: int = Field(default=4, ge=0, le=100, description="Clears allowed within window.")
    window: PositiveDuration = Field(
        default=timedelta(hours=1), description="The wall-clock window max_runs counts over."
    )


# Trees the system's own files live in: never a temp upload directory to clear.
SYSTEM_TREES = tuple(
    Path(tree)
    for tree in (
        "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
        "/sbin", "/sys", "/usr", "/var/lib", "/var/log", "/var/spool", "/var/mail",
    )
)  # fmt: skip


def _a_temp_dir(directory: Path) -> Path:
    if ".." in directory.parts:
        raise ValueError(f"{directory}: a temp upload directory is named without '..'")
    if len(directory.parts) < 3:
        raise ValueError(f"{directory} is too close to / to be a temp upload directory")
    system = next((s for s in SYSTEM_TREES if directory.is_relative_to(s)), None)
    if system is not None:
        raise ValueError(f"{directory} is under {system}, not a temp upload directory")
    return directory


TempDir = Annotated[ConfigPath, AfterValidator(_a_temp_dir)]
"""A directory ``clear_temp`` may clear: not ``/`` or near it, no ``..``, no system tree."""


class NginxConfig(Section):
    """How calmopsd drives nginx."""

    binary: str = Field(default="nginx", description="The nginx program (name or path).")
    prefix: OptionalPath = Field(
        default=None, description="nginx -p PREFIX (default: nginx's own)."
    )
    conf: OptionalPath = Field(default=None, description="nginx -c FILE (default: nginx's own).")
    pid_file: ConfigPath = Field(
        default=Path("/run/nginx.pid"), description="The master's pid file."
    )
    error_log: ConfigPath = Field(
        default=Path("/var/log/nginx/error.log"),
        description="nginx's error log, read after a reload for a fresh [emerg] line.",
    )


Backend = Literal["direct", "helper"]


class HelperConfig(Section):
    """The root-owned privileged helper (``calmopsd helper``) and how the daemon reaches it."""

    socket: ConfigPath = Field(
        default=Path("/run/calmopsd-helper/helper.sock"),
        description="The helper's unix socket (calmopsd helper --socket overrides it there).",
    )
    allowed_user: Name = Field(
        default="calmopsd",
        description="The only user whose connections the helper accepts (checked by "
        "SO_PEERCRED): the user the daemon runs as.",
    )
    timeout: PositiveDuration = Field(
        default=timedelta(minutes=5),
        description="Longest the daemon waits for the helper's answer to one request.",
    )


class ActionsConfig(Section):
    """The safe-action executor."""

    mode: Mode = Field(
        default="shadow",
        description="enforce: run actions; shadow: decide and record what would run, run nothing.",
    )
    dry_run: bool = Field(
        default=False,
        description="Go through every check and record the exact commands, without running them.",
    )
    paused: bool = Field(
        default=False,
        description="Kill switch: refuse every action (also: calmopsd actions pause).",
    )
    timeout: PositiveDuration = Field(
        default=timedelta(seconds=60), description="Longest one command of an action may run."
    )
    ineffective_within: PositiveDuration = Field(
        default=timedelta(minutes=30),
        description="A symptom back this soon after an action worked marks the action "
        "ineffective for that incident: no more automatic tries of it.",
    )
    backend: Backend = Field(
        default="direct",
        description="direct: the daemon runs each action itself (development, make run); "
        "helper: it asks the root-owned helper at actions.helper.socket (production). "
        "Never falls back from one to the other.",
    )
    helper: Annotated[HelperConfig, NullIsEmpty] = Field(
        default_factory=HelperConfig, description="The privileged helper (actions.backend)."
    )
    nginx: Annotated[NginxConfig, NullIsEmpty] = Field(
        default_factory=NginxConfig, description="How calmopsd drives nginx."
    )
    pm2_restart: Annotated[Pm2RestartConfig, NullIsEmpty] = Field(
        default_factory=Pm2RestartConfig, description="Restart or reload an allowed PM2 app."
    )
    nginx_reload: Annotated[NginxReloadConfig, NullIsEmpty] = Field(
        default_factory=NginxReloadConfig, description="Test and reload nginx."
    )
    pause_jobs: Annotated[PauseJobsConfig, NullIsEmpty] = Field(
        default_factory=PauseJobsConfig, description="Pause background jobs for a while."
    )
    rate_limit_uploads: Annotated[RateLimitUploadsConfig, NullIsEmpty] = Field(
        default_factory=RateLimitUploadsConfig, description="Rate-limit uploads for a while."
    )
    clear_temp: Annotated[ClearTempConfig, NullIsEmpty] = Field(
        default_factory=ClearTempConfig, description="Delete old temp upload files."
    )
