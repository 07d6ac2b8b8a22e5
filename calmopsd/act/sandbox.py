"""Where an action's commands run: fixed argv, minimal environment, own directory, limits.

Every command goes through :meth:`Sandbox.command`: the argv (built by the
action from validated parameters, never a string), a timeout, a working
directory of its own, the minimal environment plus what the action names
(``PM2_HOME``), output truncated, and resource limits applied by ``prlimit``
in front of the command (no core dumps, bounded CPU time, bounded file size,
bounded open files). In dry-run mode nothing runs: the argv is recorded and a
successful, empty result comes back, so the whole path can be followed.

The backend is a seam: the argv runs directly (as the configured user where the
action allows it). Who runs the action code at all is ``actions.backend``: the
daemon itself (``direct``), or the root-owned helper (``helper``,
:mod:`calmopsd.privsep`), which builds a Sandbox of its own with this
DirectBackend. Allowlists and dry-run are decided before either runs anything.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from calmopsd import runner
from calmopsd.clock import Clock
from calmopsd.config.actions import ActionsConfig
from calmopsd.config.sensing import Pm2SamplerConfig
from calmopsd.record.statedir import make_private_dir

OUTPUT_LIMIT = 64 << 10  # bytes kept of a command's stdout and of its stderr
LIMITS = ("--core=0", "--cpu=120", "--fsize=67108864", "--nofile=1024")


class Backend(Protocol):
    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str],
        cwd: Path,
        user: str | None,
        output_limit: int = ...,
    ) -> runner.Completed: ...


class DirectBackend:
    """Runs the argv itself, under ``prlimit`` when it is installed."""

    def __init__(self) -> None:
        self.prlimit = shutil.which("prlimit")

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str],
        cwd: Path,
        user: str | None,
        output_limit: int = OUTPUT_LIMIT,
    ) -> runner.Completed:
        limited = [self.prlimit, *LIMITS, "--", *argv] if self.prlimit else list(argv)
        return runner.run(
            limited, timeout=timeout, env=env, cwd=cwd, user=user, output_limit=output_limit
        )


@dataclass
class Sandbox:
    """One action run's view of the host: commands, files, time — and what it did."""

    config: ActionsConfig
    pm2: Pm2SamplerConfig  # PM2 is configured once, under sensing.pm2 (binary, home, user)
    workdir: Path
    clock: Clock
    dry_run: bool = False
    backend: Backend = field(default_factory=DirectBackend)
    # Set only for a revert whose undo record matched the digest in the audit log.
    undo_vouched: bool = False
    commands: list[tuple[str, ...]] = field(default_factory=list)  # everything asked to run

    def command(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        timeout: float | None = None,
        output_limit: int = OUTPUT_LIMIT,
    ) -> runner.Completed:
        """Run one command (or, dry, only record it); never raises for the child.

        ``output_limit`` is for a command whose output is the point (``pm2 jlist``
        on a busy host is megabytes); the default keeps 64 KiB of each stream.
        """
        args = tuple(argv)
        self.commands.append(args)
        if self.dry_run:
            return runner.Completed(args, 0, b"", b"", 0.0)
        make_private_dir(self.workdir)  # and its parents (state_dir/act): 0700 whatever the umask
        return self.backend.run(
            args,
            timeout=timeout or self.config.timeout.total_seconds(),
            env=runner.minimal_env(dict(env or {})),
            cwd=self.workdir,
            user=user,
            output_limit=output_limit,
        )


def last_line(output: bytes, limit: int = 200) -> str:
    """The last non-empty line of a command's output, for a one-line detail."""
    lines = [line.strip() for line in output.decode("utf-8", "replace").splitlines()]
    found = next((line for line in reversed(lines) if line), "")
    return found[:limit]
