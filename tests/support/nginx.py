"""A real nginx of the test's own: its prefix in a temp dir, serving 127.0.0.1 only.

The master runs in the foreground (``daemon off``) as a child of the test, in
its own session, with ``-p PREFIX -c CONF``: pid file, logs and temp paths
all live inside PREFIX. Its ``http`` block declares
``limit_req_zone … zone=calmopsd_uploads … rate=1r/s`` and ``location
/upload`` includes ``PREFIX/calmopsd-upload-limit.conf`` — the file
rate_limit_uploads owns — and serves a static file: a ``return`` there would
answer in the rewrite phase, before ``limit_req`` runs, and never be limited.
The per-organization limit is set up as its module docstring tells an operator:
a ``map`` from the ``X-Organization`` header that includes
``PREFIX/limited-organizations.map`` (created empty), a zone keyed by the
map's result (1r/s), ``limit_req … burst=5 nodelay`` in ``location /upload`` for
good and ``limit_req_status 429`` in the server block.
``location /`` answers with a body the test chooses, so a test can tell which
config is live.

Cleanup (:meth:`Nginx.stop`, run by :func:`running_nginx` even when a test
fails): SIGQUIT to the master, a bounded wait, then SIGKILL to its whole
process group, and the held sockets closed last (so a port conflict a test set
up cannot resolve itself while nginx still retries the bind).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

ZONE = "calmopsd_uploads"
INCLUDE = "calmopsd-upload-limit.conf"
ORG_ZONE = "calmopsd_org_uploads"
ORG_MAP = "limited-organizations.map"
ORG_BURST = 5  # a listed organization's requests past 1 + this within a second get 429
LOOPBACK = "127.0.0.1"

CONF = """\
{user}
daemon off;
worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log notice;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/temp/body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    limit_req_zone $binary_remote_addr zone={zone}:1m rate=1r/s;
    map $http_x_organization $calmopsd_limited_organization {{
        default "";
        include {prefix}/{org_map};
    }}
    limit_req_zone $calmopsd_limited_organization zone={org_zone}:1m rate=1r/s;
    server {{
        listen {host}:{port};
{extra_listen}
        # Here, not in the location: the include file sets it there when the limit is on.
        limit_req_status 429;
        location /upload {{
            limit_req zone={org_zone} burst={org_burst} nodelay;
            include {prefix}/{include}{glob};
            # Not `return`: it answers in the rewrite phase, before limit_req ever runs.
            root {prefix}/html;
            try_files /ok.txt =404;
        }}
        # What nginx answers when the app behind it is gone (a health check through it).
        location /bad-gateway {{
            return 502 "bad gateway";
        }}
        location / {{
            return 200 "{body}";
        }}
    }}
}}
{broken}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise AssertionError("nginx is not installed (Debian: apt-get install nginx-light)")
    return found


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


class Nginx:
    """One nginx master under ``prefix``; always :meth:`stop` it (see :func:`running_nginx`)."""

    def __init__(self, prefix: Path, optional_include: bool = False):
        self.prefix = prefix
        # A glob include may match nothing, so the file may be absent; a plain one may not.
        self.optional_include = optional_include
        self.binary = nginx_binary()
        self.conf = prefix / "nginx.conf"
        self.include = prefix / INCLUDE
        self.org_map = prefix / ORG_MAP
        self.pid_file = prefix / "nginx.pid"
        self.error_log = prefix / "logs" / "error.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.held: list[socket.socket] = []
        self.seen: list[psutil.Process] = []
        for sub in ("logs", "temp", "html"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        (prefix / "html" / "ok.txt").write_text("ok", encoding="utf-8")

    def actions_config(self, **rate_limit: Any) -> dict[str, Any]:
        """The ``actions:`` section that drives this nginx (rate_limit_uploads fields added)."""
        return {
            "mode": "enforce",
            "timeout": "20s",
            "nginx": {
                "binary": self.binary,
                "prefix": str(self.prefix),
                "conf": str(self.conf),
                "pid_file": str(self.pid_file),
                "error_log": str(self.error_log),
            },
            "rate_limit_uploads": {
                "include_file": str(self.include),
                "organizations_map_file": str(self.org_map),
                "zone": ZONE,
                **rate_limit,
            },
        }

    def write_conf(
        self, body: str = "up", extra_port: int | None = None, broken: bool = False
    ) -> None:
        """(Re)write nginx.conf; nothing is reloaded."""
        text = CONF.format(
            # Root's workers would otherwise run as nobody, who cannot enter tmp_path.
            user="user root root;" if os.geteuid() == 0 else "",
            prefix=self.prefix,
            host=LOOPBACK,
            port=self.port,
            extra_listen=f"        listen {LOOPBACK}:{extra_port};" if extra_port else "",
            zone=ZONE,
            include=INCLUDE,
            org_map=ORG_MAP,
            org_zone=ORG_ZONE,
            org_burst=ORG_BURST,
            glob="*" if self.optional_include else "",
            body=body,
            broken="calmopsd_no_such_directive on;" if broken else "",
        )
        self.conf.write_text(text, encoding="utf-8")

    def start(self) -> None:
        """Start the master and wait (bounded) until it answers on its port."""
        self.write_conf()
        if not self.optional_include:
            self.include.touch()
        self.org_map.touch()
        with (self.prefix / "logs" / "stderr.log").open("wb") as stderr:
            self.proc = subprocess.Popen(
                [self.binary, "-p", str(self.prefix), "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while self.workers() == set() or self.get("/")[0] != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"nginx did not come up: {self.log_tail()}")
            time.sleep(0.05)

    # -- looking at it ---------------------------------------------------

    def master_pid(self) -> int:
        return int(self.pid_file.read_text().strip())

    def workers(self) -> set[int]:
        """Pids of the master's serving workers (not those shutting down)."""
        try:
            master = psutil.Process(self.master_pid())
            children = master.children()
        except (OSError, ValueError, psutil.Error):
            return set()
        found = set()
        for child in children:
            with contextlib.suppress(psutil.Error):
                title = " ".join(child.cmdline())
                if "worker process" in title and "shutting down" not in title:
                    found.add(child.pid)
        return found

    def get(self, path: str, organization: str | None = None) -> tuple[int, str]:
        """Status and body of one GET to this nginx on 127.0.0.1 (0 if it did not answer),
        on behalf of ``organization`` (the ``X-Organization`` header) if given."""
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=2)
        headers = {} if organization is None else {"X-Organization": organization}
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        except OSError:
            return 0, ""
        finally:
            connection.close()

    def burst(self, path: str, count: int = 30, organization: str | None = None) -> list[int]:
        """The statuses of ``count`` GETs sent back to back."""
        return [self.get(path, organization)[0] for _ in range(count)]

    def log_tail(self, size: int = 2000) -> str:
        try:
            return self.error_log.read_text(encoding="utf-8", errors="replace")[-size:]
        except OSError:
            return "(no error log)"

    def wait_in_log(self, text: str, timeout: float = 8.0) -> None:
        """Wait (bounded) until ``text`` appears in the error log."""
        deadline = time.monotonic() + timeout
        while text not in self.log_tail(1 << 20):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the error log: {self.log_tail()}")
            time.sleep(0.05)

    # -- making trouble --------------------------------------------------

    def break_syntax(self) -> None:
        """A config ``nginx -t`` rejects (and that says ``v2`` if it were ever applied)."""
        self.write_conf(body="v2", broken=True)

    def make_unappliable(self) -> int:
        """A config that passes ``nginx -t`` but cannot be applied: a port we hold."""
        holder = socket.socket()
        holder.bind((LOOPBACK, 0))
        holder.listen(1)
        self.held.append(holder)
        port: int = holder.getsockname()[1]
        self.write_conf(body="v2", extra_port=port)
        return port

    # -- cleanup -----------------------------------------------------------

    def stop(self) -> None:
        """Quit nginx, then SIGKILL whatever of it is left; bounded; never raises."""
        if self.proc is None:
            return
        self.seen = self._family()
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGQUIT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for proc in self.leftovers():
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(self.leftovers(), timeout=5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for holder in self.held:
            holder.close()
        self.held.clear()

    def leftovers(self) -> list[psutil.Process]:
        """The master and workers seen at :meth:`stop` that still live (not reused pids)."""
        alive = []
        for proc in self.seen:
            with contextlib.suppress(psutil.Error):
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
        return alive

    def _family(self) -> list[psutil.Process]:
        """The master (our child) and all its children, workers shutting down included."""
        assert self.proc is not None
        try:
            master = psutil.Process(self.proc.pid)
            return [master, *master.children(recursive=True)]
        except psutil.Error:
            return []


@contextlib.contextmanager
def running_nginx(prefix: Path, optional_include: bool = False) -> Iterator[Nginx]:
    """A started :class:`Nginx`, stopped on the way out whatever happened."""
    server = Nginx(prefix, optional_include)
    try:
        server.start()
        yield server
    finally:
        server.stop()
