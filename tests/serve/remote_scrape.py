"""Run inside ``unshare -rn`` by test_serve_metrics_access.py: a daemon served on every
address of a private network namespace, scraped from loopback and from 10.9.9.1, an address
of this host that is not loopback. Nothing outside the namespace can reach it. Prints JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests

from calmopsd.config import load_config
from calmopsd.daemon import Daemon, Source
from calmopsd.serve.tokens import digest

REMOTE = "10.9.9.1"


def main(where: Path) -> None:
    for argv in (
        ["ip", "link", "set", "lo", "up"],
        ["ip", "addr", "add", f"{REMOTE}/32", "dev", "lo"],
    ):
        subprocess.run(argv, check=True, timeout=10)
    config = where / "calmops.yaml"
    config.write_text(
        "state_dir: state\napi:\n  public: true\n  listen: 0.0.0.0:0\n  tokens:\n"
        f"    - {{name: root, super_admin: true, role: viewer, sha256: {digest('secret-root')}}}\n"
        f"    - {{name: acme, organization: acme, role: viewer, sha256: {digest('secret-acme')}}}\n"
    )
    daemon = Daemon(Source(config), load_config(config), planner=lambda c, k: [])
    daemon.start()
    try:
        assert daemon.serving is not None and daemon.serving.server is not None
        port = daemon.serving.server.port
        answers = {}
        for host in ("127.0.0.1", REMOTE):
            for token in (None, "secret-root", "secret-acme"):
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                for path in ("/metrics", "/-/healthy"):
                    got = requests.get(f"http://{host}:{port}{path}", headers=headers, timeout=10)
                    answers[f"{host} {token} {path}"] = got.status_code
    finally:
        daemon.stop()
    print(json.dumps(answers))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
