"""Who may read /metrics, from the client's side: the decision on the peer's address, the
real app asked from an address that is not loopback, and a real daemon in a private network
namespace scraped from 10.9.9.1 (an address of the host that is not loopback)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.clock import ManualClock

from calmopsd.config import Config
from calmopsd.record.database import Database, database_path
from calmopsd.serve.app import create_app
from calmopsd.serve.monitoring import Monitoring, local_peer, needs_token
from calmopsd.serve.operations import Operations
from calmopsd.serve.tokens import TokenEntry, Tokens, digest
from calmopsd.serve.vitals import Vitals

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize(
    ("remote_addr", "local"),
    [
        ("127.0.0.1", True),
        ("127.200.3.4", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),  # waitress's name for the unix socket's peer
        ("10.9.9.1", False),
        ("203.0.113.9", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1", False),
        ("0.0.0.0", False),  # noqa: S104  # a peer's address here, not one to bind
        ("::", False),
        ("127.0.0.1.example.com", False),
        ("LOCALHOST", False),
        ("", False),
        (None, False),
    ],
)
def test_only_loopback_and_the_unix_socket_are_this_host(
    remote_addr: str | None, local: bool
) -> None:
    assert local_peer(remote_addr) is local


@pytest.mark.parametrize(
    ("path", "remote_addr", "sent", "access", "needed"),
    [
        ("/metrics", "127.0.0.1", False, "open_on_loopback", False),
        ("/metrics", "10.9.9.1", False, "open_on_loopback", True),
        ("/metrics", "127.0.0.1", True, "open_on_loopback", True),  # a sent token is checked
        ("/metrics", "127.0.0.1", False, "token", True),
        ("/metrics", "localhost", False, "token", True),
        ("/-/ready", "203.0.113.9", False, "token", False),
        ("/-/healthy", "203.0.113.9", False, "token", False),
        ("/-/healthy/", "127.0.0.1", False, "open_on_loopback", True),
        ("/api/ops/health", "127.0.0.1", False, "open_on_loopback", True),
        ("/metrics/x", "127.0.0.1", False, "open_on_loopback", True),
    ],
)
def test_which_requests_need_a_token(
    path: str, remote_addr: str, sent: bool, access: str, needed: bool
) -> None:
    assert needs_token(path, remote_addr, sent, access) is needed  # type: ignore[arg-type]  # both values of the Literal


def test_the_app_refuses_metrics_to_a_client_beyond_this_host(tmp_path: Path) -> None:
    clock = ManualClock()
    database = Database.open(database_path(tmp_path / "state"))
    vitals = Vitals(
        latest=dict, sampling=dict, running=lambda: True,
        actions=lambda: Config().actions, metrics=lambda: "open_on_loopback",
    )  # fmt: skip
    tokens = Tokens([TokenEntry("root", None, "viewer", digest("secret-root"))])
    app = create_app(
        Operations(database, clock), tokens, monitoring=Monitoring(database, clock, vitals)
    )
    try:
        client = app.test_client()
        remote = {"REMOTE_ADDR": "203.0.113.9"}
        refused = client.get("/metrics", environ_base=remote)
        assert (refused.status_code, refused.json) == (401, {
            "error": "unauthorized",
            "detail": "a valid token is required: Authorization: Bearer TOKEN",
        })  # fmt: skip
        # What a client may say about itself changes nothing: the peer's address decides.
        forged = {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1", "Host": "localhost"}
        assert client.get("/metrics", environ_base=remote, headers=forged).status_code == 401
        with_token = {"Authorization": "Bearer secret-root"}
        assert client.get("/metrics", environ_base=remote, headers=with_token).status_code == 200
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
        assert client.get("/-/healthy", environ_base=remote).status_code == 200
    finally:
        database.close()


def _namespaces() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"],
                           capture_output=True, timeout=10, check=False)  # fmt: skip
    return probe.returncode == 0


@pytest.mark.skipif(not _namespaces(), reason="needs unshare -rn (user and network namespaces)")
def test_a_real_client_on_another_address_needs_a_super_admin_token(tmp_path: Path) -> None:
    run = subprocess.run(
        ["unshare", "-rn", sys.executable, str(HERE / "remote_scrape.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    answers = json.loads(run.stdout.splitlines()[-1])
    assert answers == {
        "127.0.0.1 None /metrics": 200,
        "127.0.0.1 None /-/healthy": 200,
        "127.0.0.1 secret-root /metrics": 200,
        "127.0.0.1 secret-root /-/healthy": 200,
        "127.0.0.1 secret-acme /metrics": 404,
        "127.0.0.1 secret-acme /-/healthy": 200,
        "10.9.9.1 None /metrics": 401,
        "10.9.9.1 None /-/healthy": 200,
        "10.9.9.1 secret-root /metrics": 200,
        "10.9.9.1 secret-root /-/healthy": 200,
        "10.9.9.1 secret-acme /metrics": 404,
        "10.9.9.1 secret-acme /-/healthy": 200,
    }
