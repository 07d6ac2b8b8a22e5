"""PM2: which PM2_HOME, whose it is, and the apps in it — without ever running ``pm2``.

Any ``pm2`` command starts a PM2 daemon when none runs, so none is run here.
A live daemon (``pm2.pid`` names a live process serving ``rpc.sock``) is asked
over its socket for its process list, as the sampler asks it; ``dump.pm2``
(what ``pm2 save`` wrote, and ``pm2 resurrect`` starts at boot) adds the apps
saved but not running now. Only the named fields of each entry are read (its
name, mode, ``PORT`` and log path), never the rest of its environment.

Where to look: the homes given, else the homes of the PM2 daemons in the
process table (titled ``PM2 vX: God Daemon (HOME)``; :func:`daemon_home`), ``$PM2_HOME``,
and ``~/.pm2`` of every user. The home with the most apps is chosen (a live
daemon before a dump); the others are named in the config's comments.
"""

from __future__ import annotations

import json
import pwd
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calmopsd.discover.findings import Pm2App, Pm2Found, Pm2Search
from calmopsd.pm2files import live_pid
from calmopsd.sense.pm2 import RPC_CHECKED_MAJORS
from calmopsd.sense.pm2_rpc import REPLY_LIMIT, Pm2Socket, RpcError

_GOD_DAEMON = re.compile(r"^PM2 v[0-9][^:]*: God Daemon \((/.*)")
_MAJOR = re.compile(r"([0-9]{1,4})\.")


@dataclass(frozen=True)
class Pm2Host:
    """Where to look: ``homes`` given (then only those), else the process table and users."""

    homes: tuple[Path, ...] | None
    environ: dict[str, str]
    daemons: Callable[[], Iterable[Path]]  # the homes of the running PM2 daemons
    user_homes: Callable[[], Iterable[Path]]  # every user's home directory
    timeout_s: float


def discover(host: Pm2Host) -> Pm2Search:
    homes = list(host.homes) if host.homes is not None else _candidates(host)
    found = [read_home(home, host.timeout_s) for home in dict.fromkeys(homes)]
    useful = sorted(
        (f for f in found if f.apps or f.live), key=lambda f: (not f.live, -len(f.apps))
    )
    looked_at = tuple(str(h) for h in dict.fromkeys(homes))
    if not useful:
        return Pm2Search(None, looked_at=looked_at)
    return Pm2Search(useful[0], tuple(useful[1:]), looked_at)


def _candidates(host: Pm2Host) -> list[Path]:
    homes = list(host.daemons())
    if host.environ.get("PM2_HOME"):
        homes.append(Path(host.environ["PM2_HOME"]))
    homes += [home / ".pm2" for home in host.user_homes()]
    return [h for h in homes if (h / "pm2.pid").exists() or (h / "dump.pm2").exists()]


def daemon_home(title: str, environ: dict[str, str]) -> Path | None:
    """The PM2_HOME of a process titled ``PM2 vX: God Daemon (HOME)``; None for another.

    Its environment says it best: the title is cut to the length of the command line
    it replaced, so a long home shows only in part there.
    """
    found = _GOD_DAEMON.match(title)
    if found is None:
        return None
    if environ.get("PM2_HOME"):
        return Path(environ["PM2_HOME"])
    if found.group(1).endswith(")"):
        return Path(found.group(1)[:-1])
    return Path(environ["HOME"]) / ".pm2" if environ.get("HOME") else None


def read_home(home: Path, timeout_s: float) -> Pm2Found:
    """The apps of one PM2_HOME: the live daemon's, then those only ``dump.pm2`` holds."""
    notes: list[str] = []
    live = _ask_daemon(home, timeout_s, notes)
    saved = _read_dump(home / "dump.pm2", notes)
    apps = _apps(live or [], running=True)
    names = {a.name for a in apps}
    apps += [a for a in _apps(saved or [], running=False) if a.name not in names]
    sources = [f"the daemon's socket {home}/rpc.sock"] if live is not None else []
    sources += [f"{home}/dump.pm2"] if saved is not None else []
    return Pm2Found(
        home=str(home),
        owner=_owner(home),
        source=" and ".join(sources) or "nothing",
        apps=tuple(apps),
        live=live is not None,
        notes=tuple(notes),
    )


def _ask_daemon(home: Path, timeout_s: float, notes: list[str]) -> list[Any] | None:
    pid = live_pid(home)
    if pid.pid is None:
        notes.append(f"no PM2 daemon runs on {home}: {pid.problem}")
        return None
    try:
        with Pm2Socket(home / "rpc.sock", timeout_s) as connection:
            if connection.peer_pid() not in (pid.pid, 0):
                notes.append(f"{home}/rpc.sock is not served by the daemon in pm2.pid")
                return None
            version = connection.call("getVersion", {})
            found = _MAJOR.match(version) if isinstance(version, str) else None
            if found is None or int(found.group(1)) not in RPC_CHECKED_MAJORS:
                notes.append(f"PM2 {version!s:.40} on {home}: its socket is not read by calmopsd")
                return None
            listed = connection.call("getMonitorData", {})
    except (OSError, RpcError) as exc:
        notes.append(f"{home}/rpc.sock: {getattr(exc, 'strerror', None) or exc}")
        return None
    return listed if isinstance(listed, list) else None


def _read_dump(path: Path, notes: list[str]) -> list[Any] | None:
    try:
        with path.open("rb") as file:
            data = file.read(REPLY_LIMIT)
    except FileNotFoundError:
        return None
    except OSError as exc:
        notes.append(f"{path}: {exc.strerror or exc}")
        return None
    try:
        listed = json.loads(data)
    except (ValueError, RecursionError):
        notes.append(f"{path} is not the JSON list pm2 save writes")
        return None
    return listed if isinstance(listed, list) else None


def _apps(entries: list[Any], running: bool) -> list[Pm2App]:
    """One app per name (a cluster app's instances counted), in PM2's order."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        env = _env_of(entry)
        name = env.get("name") if isinstance(env.get("name"), str) else None
        if name:
            by_name.setdefault(name, []).append(env)
    return [_app(name, envs, running) for name, envs in by_name.items()]


def _env_of(entry: Any) -> dict[str, Any]:
    """A live entry keeps its fields under pm2_env; a dump.pm2 entry is that object itself."""
    if not isinstance(entry, dict):
        return {}
    env = entry.get("pm2_env")
    return env if isinstance(env, dict) else entry


def _app(name: str, envs: list[dict[str, Any]], running: bool) -> Pm2App:
    first = envs[0]
    mode = first.get("exec_mode")
    out_log = first.get("pm_out_log_path")
    return Pm2App(
        name=name,
        exec_mode=mode if isinstance(mode, str) else None,
        instances=len(envs),
        port=_port(first),
        out_log=out_log if isinstance(out_log, str) else None,
        running=running,
    )


def _port(env: dict[str, Any]) -> int | None:
    inner = env.get("env")
    for value in (env.get("PORT"), inner.get("PORT") if isinstance(inner, dict) else None):
        text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
        if re.fullmatch(r"[0-9]{1,5}", text) and 0 < int(text) < 65536:
            return int(text)
    return None


def _owner(home: Path) -> str | None:
    try:
        return pwd.getpwuid(home.stat().st_uid).pw_name
    except (OSError, KeyError):
        return None
