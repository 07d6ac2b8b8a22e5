"""The nginx steps both nginx actions share: test the config, reload and prove it applied.

``nginx -s reload`` exiting 0 only means the signal was sent. A config that
parses but cannot be applied (a ``listen`` on a port already in use) makes the
master log ``[emerg]`` and keep its old workers. So :func:`reload_verified`
judges by effect:

1. before: the master's pid (from ``pid_file``), its worker pids and the
   error log's size;
2. ``nginx -s reload``;
3. poll, bounded by :data:`RELOAD_WAIT`, until the same master is alive and
   every serving worker is new — stopping early at a fresh ``[emerg]`` line;
4. read only what the error log gained since step 1 (bounded) and fail on an
   ``[emerg]`` line.

Old workers that still finish in-flight requests after a reload are titled
``nginx: worker process is shutting down``; they no longer take new
connections, so they do not count as serving.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from calmopsd.act.action import Result
from calmopsd.act.sandbox import Sandbox, last_line
from calmopsd.config.actions import NginxConfig

RELOAD_WAIT = 10.0  # seconds a reload may take to show new workers
POLL = 0.05  # seconds between two looks at the workers
LOG_READ_LIMIT = 256 << 10  # bytes of freshly appended error log read at most
PID_READ_LIMIT = 64  # bytes of the pid file read at most
EMERG = "[emerg]"
_EMERG_LINE = re.compile(r"\[emerg\] (?:\d+#\d+: )?(.*)")


def argv(config: NginxConfig, *args: str) -> list[str]:
    """``[binary, -p PREFIX, -c CONF, *args]``, each option only when configured."""
    base = [config.binary]
    if config.prefix is not None:
        base += ["-p", str(config.prefix)]
    if config.conf is not None:
        base += ["-c", str(config.conf)]
    return [*base, *args]


def test(sandbox: Sandbox) -> Result:
    """``nginx -t``: ok, or not ok with nginx's first meaningful error line as the detail."""
    done = sandbox.command(argv(sandbox.config.nginx, "-t"))
    if done.succeeded:
        return Result(True, "nginx -t: the configuration is valid")
    return Result(False, _first_error(done.stderr or done.stdout) or done.error or "no output")


def reload_verified(sandbox: Sandbox) -> Result:
    """Reload nginx and verify by effect (see the module docstring); dry-run only records."""
    config = sandbox.config.nginx
    reload = argv(config, "-s", "reload")
    if sandbox.dry_run:
        sandbox.command(reload)
        return Result(True, "dry run: nginx would be reloaded", data={"dry_run": True})
    master = _master(config.pid_file)
    if master is None:
        return Result(False, f"nginx is not running: no live master named in {config.pid_file}")
    before = _Before(master, _workers(master), _size(config.error_log))
    done = sandbox.command(reload)
    if not done.succeeded:
        why = _first_error(done.stderr or done.stdout) or done.error or "no output"
        return Result(False, f"nginx -s reload failed: {why}", data=before.data([]))
    return _verify(config, before)


@dataclass(frozen=True)
class _Before:
    master: psutil.Process
    workers: frozenset[int]
    log_size: int | None  # None: the error log could not be read

    def data(self, new: Sequence[int]) -> dict[str, object]:
        return {
            "master": self.master.pid,
            "old_workers": sorted(self.workers),
            "new_workers": sorted(new),
        }


def _verify(config: NginxConfig, before: _Before) -> Result:
    """Steps 3 and 4: wait for an entirely new set of workers under the same master."""
    deadline = time.monotonic() + RELOAD_WAIT
    seen: frozenset[int] = frozenset()
    while True:
        if not _same_master(config.pid_file, before.master):
            return Result(False, "the nginx master is gone after the reload", before.data([]))
        emerg = _fresh_emerg(config.error_log, before.log_size)
        if emerg is not None:
            detail = f"nginx logged an error after the reload: {emerg}"
            return Result(False, detail, before.data(sorted(seen - before.workers)))
        current = _workers(before.master)
        if current and current.isdisjoint(before.workers) and current == seen:
            break  # the same new set twice in a row: the master has finished starting them
        seen = current
        if time.monotonic() > deadline:
            detail = f"the nginx workers were not all replaced within {RELOAD_WAIT:g}s"
            return Result(False, detail, before.data(sorted(seen - before.workers)))
        time.sleep(POLL)
    emerg = _fresh_emerg(config.error_log, before.log_size)  # one last look, after the workers
    if emerg is not None or before.log_size is None:
        why = emerg or f"{config.error_log} could not be read to check for [emerg]"
        return Result(False, f"nginx reloaded, but {why}", before.data(sorted(seen)))
    return Result(True, "nginx reloaded: new workers, no [emerg]", before.data(sorted(seen)))


def _first_error(output: bytes) -> str:
    """nginx's first ``[emerg]`` message (else its last line), as ``[emerg] message``.

    The line's prefix varies (``nginx: ``, or a log timestamp and ``pid#tid: ``
    when the early error log is stderr), so only the message is kept.
    """
    for line in output.decode("utf-8", "replace").splitlines():
        found = _EMERG_LINE.search(line)
        if found:
            return f"{EMERG} {found.group(1).strip()}"[:200]
    return last_line(output).removeprefix("nginx: ")


def _master(pid_file: Path) -> psutil.Process | None:
    """The live nginx master ``pid_file`` names, or None.

    A pid file outlives a crashed nginx, and its pid may be reused by anything
    (pid 1 included): ``nginx -s reload`` would send that process SIGHUP. So
    the process must call itself ``nginx: master process`` and be older than the
    pid file nginx wrote when it started.
    """
    try:
        with pid_file.open("rb") as stream:
            pid = int(stream.read(PID_READ_LIMIT).strip())
        written = pid_file.stat().st_mtime
        master = psutil.Process(pid)
        if master.status() == psutil.STATUS_ZOMBIE or pid <= 1:
            return None
        title = " ".join(master.cmdline())
        if not title.startswith("nginx: master process"):
            return None
        return master if master.create_time() <= written + 1 else None
    except (OSError, ValueError, psutil.Error):
        return None


def _same_master(pid_file: Path, master: psutil.Process) -> bool:
    """``master`` is alive (the same process, not a reused pid) and still in ``pid_file``."""
    current = _master(pid_file)
    # is_running() compares creation times, so a reused pid does not pass.
    return current is not None and current.pid == master.pid and master.is_running()


def _workers(master: psutil.Process) -> frozenset[int]:
    """The master's children that serve: workers not in graceful shutdown."""
    found = set()
    with contextlib.suppress(psutil.Error):
        for child in master.children():
            try:
                title = " ".join(child.cmdline())
            except psutil.AccessDenied:
                title = "worker process"  # cannot tell: count it as serving
            except psutil.Error:
                continue
            if "worker process" in title and "shutting down" not in title:
                found.add(child.pid)
    return frozenset(found)


def _size(path: Path) -> int | None:
    """The error log's size now: 0 if it does not exist yet, None if it cannot be read."""
    try:
        with path.open("rb") as stream:
            return stream.seek(0, 2)
    except FileNotFoundError:
        return 0
    except OSError:
        return None


def _fresh_emerg(path: Path, since: int | None) -> str | None:
    """The first ``[emerg]`` line written to the log after offset ``since`` (bounded read)."""
    if since is None:
        return None
    try:
        with path.open("rb") as stream:
            end = stream.seek(0, 2)
            stream.seek(since if end >= since else 0)  # shorter now: rotated, read it whole
            appended = stream.read(LOG_READ_LIMIT)
    except OSError:
        return None
    for line in appended.decode("utf-8", "replace").splitlines():
        found = _EMERG_LINE.search(line)
        if found:
            return f"{EMERG} {found.group(1).strip()}"[:200]
    return None
