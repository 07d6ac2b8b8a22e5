"""The node apps, the TCP dependency and the nginx of the fault scenarios."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from support.nginx import LOOPBACK, Nginx  # noqa: E402
from support.pm2 import NodeApp, Pm2  # noqa: E402

# A web app on $PORT answering /health. ./mode is read at start: "run", "crash" (exit 3
# at once), "crash-first-N" (exit 3 at once on its first N starts, counted in ./starts,
# then run), "crash-later" (exit 4 after 1.5 s, longer than min_uptime), "leak" (keeps
# 20 MB more every 200 ms). A file ./deaf, seen while running, is removed and the
# listener closed: PM2 still says online, the port refuses (a restart cures it).
WEB_JS = """\
const fs = require('fs');
const http = require('http');
const path = require('path');
const here = (f) => path.join(__dirname, f);
let mode = 'run';
try { mode = fs.readFileSync(here('mode'), 'utf8').trim(); } catch (e) {}
if (mode === 'crash') { console.error('crashing on purpose'); process.exit(3); }
const first = /^crash-first-(\\d+)$/.exec(mode);
if (first) {
  let starts = 0;
  try { starts = parseInt(fs.readFileSync(here('starts'), 'utf8'), 10) || 0; } catch (e) {}
  fs.writeFileSync(here('starts'), String(starts + 1));
  if (starts < parseInt(first[1], 10)) { console.error('crashing on purpose'); process.exit(3); }
}
if (mode === 'crash-later') { setTimeout(() => process.exit(4), 1500); }
const kept = [];
if (mode === 'leak') {
  setInterval(() => { kept.push(Buffer.alloc(20 * 1024 * 1024, 1)); }, 200);
}
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ status: 'ok' }));
});
server.listen(parseInt(process.env.PORT, 10), '127.0.0.1');
setInterval(() => {
  if (fs.existsSync(here('deaf'))) { fs.unlinkSync(here('deaf')); server.close(); }
}, 200);
"""

WORKER_JS = "setInterval(() => {}, 1000);\n"

PROXY = """\
        location /health {{
            proxy_pass http://127.0.0.1:{port};
            proxy_connect_timeout 1s;
        }}
"""


def start_web(pm2: Pm2, port: int, mode: str = "run", **spec: object) -> NodeApp:
    """The web app under PM2 from an ecosystem file (min_uptime/max_restarts as given)."""
    app = pm2.app("web")
    app.script.write_text(WEB_JS, encoding="utf-8")
    app.set_mode(mode)
    entry = {"name": "web", "script": str(app.script), "env": {"PORT": str(port)}, **spec}
    ecosystem = app.dir / "ecosystem.json"
    ecosystem.write_text(json.dumps({"apps": [entry]}), encoding="utf-8")
    pm2.run("start", str(ecosystem))
    return app


def start_worker(pm2: Pm2) -> NodeApp:
    app = pm2.app("worker")
    app.script.write_text(WORKER_JS, encoding="utf-8")
    pm2.start(app)
    return app


class Listener:
    """A TCP dependency on 127.0.0.1: accepts and closes connections until closed."""

    def __init__(self, port: int):
        self.port = port
        self.sock: socket.socket | None = None

    def open(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, self.port))
        sock.listen(16)
        self.sock = sock
        threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            conn.close()

    def close(self) -> None:
        if self.sock is not None:
            # shutdown first: a bare close() leaves a thread blocked in accept() holding the
            # listening socket, and connections still succeed.
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
            self.sock = None


class ProxyNginx(Nginx):
    """The tests' nginx with ``location /health`` proxied to the web app's port."""

    def __init__(self, prefix: Path, upstream: int):
        super().__init__(prefix)
        self.upstream = upstream

    def write_conf(
        self, body: str = "up", extra_port: int | None = None, broken: bool = False
    ) -> None:
        super().write_conf(body, extra_port, broken)
        text = self.conf.read_text(encoding="utf-8")
        marker = "        location / {"
        text = text.replace(marker, PROXY.format(port=self.upstream) + marker, 1)
        self.conf.write_text(text, encoding="utf-8")
