"""nginx: its access logs and their ``log_format``, its error log and pid file, health locations.

In order: ``nginx -V`` for the compiled defaults (prefix, conf, access log,
pid), then ``nginx -T`` (``-p``/``-c`` when given), which prints every file
nginx reads once its config test passed. As a user who may not open what
nginx opens (the pid file, the logs) that test fails; then the files are read
from the main conf as nginx would. With no nginx at all, only
``/var/log/nginx/access.log`` (if it exists) is offered, as combined.

``access_log`` is inherited the way nginx inherits it: a block with its own
directives replaces its parent's, ``off`` turns logging off there, and an
``http`` block without one logs to the compiled default in ``combined``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from calmopsd import runner
from calmopsd.discover.findings import AccessLog, HealthCandidate, LogFormat, NginxFound, Seen
from calmopsd.discover.nginx_conf import Directive, DiskFiles, DumpFiles, Files, parse

FILES = "nginx's config files"
OUTPUT_LIMIT = 16 << 20  # bytes of `nginx -T`: a big site tree fits
_VARIABLE = re.compile(r"\$(?:\{\w+\}|\w+)")
_CONFIGURE = re.compile(r"--([a-z-]+)=(\S+)")
HEALTH_PATH = re.compile(
    r"^/(?:api/|_/)?(?:v\d+/)?(?:health|healthz|healthcheck|health-check|_health|ping"
    r"|ready|readyz|livez|alive)/?$"
)
# A listen on every address (or by name) is reached here on loopback.
_REACHABLE = {
    "*": "127.0.0.1",
    "0.0.0.0": "127.0.0.1",  # noqa: S104  # an address nginx listens on, not one we bind
    "localhost": "127.0.0.1",
    "[::]": "[::1]",
}
_LISTEN = re.compile(r"^(?:(?P<host>\[[^\]]*\]|[^:\[]+):)?(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class NginxHost:
    """Which nginx to ask: ``binary`` None when none is installed."""

    binary: str | None
    conf: Path | None
    prefix: Path | None
    default_access_log: Path
    timeout_s: float


def discover(host: NginxHost) -> NginxFound:
    compiled = _compiled(host.binary, host.timeout_s) if host.binary else {}
    files, label, read = _files(host, compiled)
    top = parse(files) if files is not None else ()
    notes = tuple(getattr(files, "problems", ()))
    if not top:
        return _without_config(host, (*notes, read))
    prefix = str(host.prefix) if host.prefix else compiled.get("prefix", "/etc/nginx")
    walk = _Walk(label, prefix, compiled)
    return walk.found(host, top, notes, read)


def _compiled(binary: str, timeout_s: float) -> dict[str, str]:
    """``--prefix=…`` and the other configure arguments ``nginx -V`` prints."""
    done = runner.run([binary, "-V"], timeout=timeout_s)
    text = (done.stdout + done.stderr).decode("utf-8", "replace")
    return dict(_CONFIGURE.findall(text))


def _files(host: NginxHost, compiled: dict[str, str]) -> tuple[Files | None, str, str]:
    """Where nginx's config comes from: the files, a label for comments, what was read."""
    conf = host.conf or (Path(compiled["conf-path"]) if "conf-path" in compiled else None)
    if host.binary is None:
        if host.conf is None:
            return None, "", "no nginx program found"
        return DiskFiles(host.conf), FILES, f"{FILES} from {host.conf} (no nginx program found)"
    argv = [host.binary, "-T"]
    argv += ["-p", str(host.prefix)] if host.prefix else []
    argv += ["-c", str(host.conf)] if host.conf else []
    done = runner.run(argv, timeout=host.timeout_s, output_limit=OUTPUT_LIMIT)
    stdout = done.stdout.decode("utf-8", "replace")
    if done.succeeded and "# configuration file " in stdout and not done.truncated:
        return DumpFiles(stdout), "nginx -T", shlex.join(["nginx", *argv[1:]])
    failed = done.error or _last_line(done.stderr) or f"exit {done.returncode}"
    if conf is None:
        return None, "", f"nginx -T failed ({failed})"
    return DiskFiles(conf), FILES, f"{FILES} from {conf}, as nginx -T failed ({failed})"


def _without_config(host: NginxHost, reasons: tuple[str, ...]) -> NginxFound:
    log, said = host.default_access_log, "; ".join(reasons)
    if log.is_file():
        why = f"no nginx config could be read, but {log} exists; combined is a guess"
        logs = (AccessLog(str(log), "combined", why),)
        return NginxFound(str(log), f"only {log} ({said})", access_logs=logs)
    return NginxFound(None, notes=(f"{said}, and {log} does not exist",))


class _Walk:
    """One pass over the tree: what each block says, with nginx's inheritance."""

    def __init__(self, source: str, prefix: str, compiled: dict[str, str]):
        self.source = source
        self.prefix = prefix
        self.compiled = compiled
        self.notes: list[str] = []
        self.logs: dict[tuple[str, str], AccessLog] = {}

    def found(
        self, host: NginxHost, top: tuple[Directive, ...], notes: tuple[str, ...], read: str
    ) -> NginxFound:
        http = next((d for d in top if d.name == "http"), None)
        formats: dict[str, LogFormat] = {}
        health: list[HealthCandidate] = []
        names: list[str] = []
        if http is not None:
            formats = {f.name: f for f in map(_log_format, http.children("log_format")) if f}
            self._http_logs(http)
            servers = http.children("server")
            health = [c for server in servers for c in self._health(server)]
            names = [n for s in servers for d in s.children("server_name") for n in d.args]
        return NginxFound(
            source=self.source,
            read=read,
            binary=host.binary,
            prefix=str(host.prefix) if host.prefix else None,
            conf=str(host.conf) if host.conf else None,
            access_logs=tuple(self.logs.values()),
            log_formats=formats,
            error_log=self._main_file(top, "error_log", "error-log-path"),
            pid_file=self._main_file(top, "pid", "pid-path"),
            health=tuple(health),
            notes=(*notes, *self.notes),
            server_names=tuple(dict.fromkeys(names)),
        )

    def _main_file(self, top: tuple[Directive, ...], name: str, default: str) -> Seen | None:
        for d in top:
            if d.name == name and d.args and not d.args[0].startswith(("syslog:", "stderr")):
                why = f"guessed from {self.source}: {name} {' '.join(d.args)} ({d.where})"
                return Seen(self._path(d.args[0]), why)
        path = self.compiled.get(default, "")
        if path.startswith("/"):
            return Seen(path, f"nginx's compiled default (nginx -V: --{default}={path})")
        return None

    def _http_logs(self, http: Directive) -> None:
        inherited = self._own(http)
        if inherited is None:
            path = self.compiled.get("http-log-path", "/var/log/nginx/access.log")
            why = f"no access_log in http {{}}: nginx's default, {path}, in combined"
            inherited = [AccessLog(path, "combined", why)]
        servers = http.children("server")
        for block in servers or [http]:
            self._block_logs(block, inherited)

    def _block_logs(self, block: Directive, inherited: list[AccessLog]) -> None:
        own = self._own(block) if block.name != "http" else None
        used = inherited if own is None else own
        inner = [d for d in block.block or () if d.name in ("location", "if", "limit_except")]
        for child in inner:
            self._block_logs(child, used)
        for log in used:
            self.logs.setdefault((log.path, log.format_name), log)

    def _own(self, block: Directive) -> list[AccessLog] | None:
        """This block's access logs ([] for ``off``), None when it has no access_log."""
        directives = block.children("access_log")
        if not directives:
            return None
        return [log for log in map(self._access_log, directives) if log is not None]

    def _access_log(self, d: Directive) -> AccessLog | None:
        shown = f"access_log {' '.join(d.args)} ({d.where})"
        if not d.args or d.args[0] == "off":
            return None
        if d.args[0].startswith("syslog:"):
            self.notes.append(f"{shown}: sent to syslog, not a file calmopsd can read")
            return None
        if any(a == "gzip" or a.startswith("gzip=") for a in d.args[1:]):
            self.notes.append(f"{shown}: written compressed, which calmopsd cannot read")
            return None
        name = d.args[1] if len(d.args) > 1 and "=" not in d.args[1] else "combined"
        path = self._path(_VARIABLE.sub("*", d.args[0]))
        return AccessLog(path, name, f"guessed from {self.source}: {shown}")

    def _path(self, path: str) -> str:
        return path if path.startswith("/") else str(Path(self.prefix) / path)

    def _health(self, server: Directive) -> list[HealthCandidate]:
        url = _base_url(server)
        found = []
        for location in _locations(server):
            path = location.args[-1] if location.args else ""
            if location.args[:1] in (("~",), ("~*",)) or not HEALTH_PATH.match(path):
                continue
            if location.children("stub_status") or url is None:
                continue
            why = f"guessed from {self.source}: location {' '.join(location.args)}"
            found.append(HealthCandidate("nginx", url + path, True, f"{why} ({location.where})"))
        return found


def _log_format(d: Directive) -> LogFormat | None:
    if not d.args:
        return None
    name, rest = d.args[0], list(d.args[1:])
    escape = rest.pop(0).removeprefix("escape=") if rest and rest[0].startswith("escape=") else ""
    return LogFormat(name, escape or "default", "".join(rest), d.where)


def _locations(block: Directive) -> list[Directive]:
    found = []
    for d in block.children("location"):
        found += [d, *_locations(d)]
    return found


def _base_url(server: Directive) -> str | None:
    """``scheme://host:port`` of the server's first plain-HTTP listen reachable here."""
    listens = [d.args for d in server.children("listen") if d.args] or [("80",)]
    plain = [a for a in listens if "ssl" not in a[1:] and "quic" not in a[1:]]
    for args in plain:
        found = _LISTEN.match(args[0])
        if found is None:  # unix:…
            continue
        host = found.group("host") or "*"
        host = _REACHABLE.get(host, host)
        return f"http://{host}:{found.group('port')}"
    return None


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""
