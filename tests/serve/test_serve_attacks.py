"""Attacks on the API and the CLI, as an outsider, as a tenant and against the local files.

Each test here pins one problem found by attacking a real server on 127.0.0.1 (and the
real CLI as a subprocess): it fails until the problem is fixed.
"""

from __future__ import annotations

import http.client
import io
import json
import shutil
import socket
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from support.api import Stack, StackMaker, Template, secret
from support.process import calmopsd, clean_env

from calmopsd.log import configure as configure_logging
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database, database_path
from calmopsd.record.incidents import get_incident
from calmopsd.record.scope import Scope
from calmopsd.respond import approvals
from calmopsd.respond.recommend import stale_reason

PLATFORM = Scope.platform()


# -- the CLI trusts whatever is in the state directory -----------------------------------


@pytest.fixture
def held_state(template: Template, tmp_path: Path) -> Iterator[Path]:
    """A copy of the template's state whose store is held, as a running daemon holds it:
    the CLI's decisions then go to the address in api.address with the token in api.token."""
    state = tmp_path / "state"
    shutil.copytree(template.state, state)
    held = Database.open(database_path(state))
    yield state
    held.close()


class Listener:
    """Whatever listens on the published address: records the first request it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(30)
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            self.received.append(data)
            body = b'{"id": 1, "status": "resolved"}'
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            conn.sendall(head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


def test_the_cli_does_not_send_what_a_symlinked_api_token_points_to(
    held_state: Path, template: Template, tmp_path: Path
) -> None:
    """Whoever can write the state directory (the daemon's account) must not be able to make
    `sudo calmopsd resolve …` read a file only root can read and send it to an address of
    their choosing."""
    private = tmp_path / "root-only"
    private.write_text("ROOT-ONLY-SECRET\n")
    private.chmod(0o600)
    (held_state / "api.token").symlink_to(private)
    listener = Listener()
    (held_state / "api.address").write_text(json.dumps({"url": listener.url, "unix_socket": None}))
    try:
        result = calmopsd("resolve", str(template.incident["acme"]), "--note", "x",
                          "--state-dir", str(held_state), env=clean_env())  # fmt: skip
    finally:
        listener.close()
    assert not any(b"ROOT-ONLY-SECRET" in request for request in listener.received)
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("token", "address"),
    [
        ("abc\ndef\n", {"url": "http://127.0.0.1:9", "unix_socket": None}),
        ("abc\n", {"url": "http://127.0.0.1:99999", "unix_socket": None}),
        ("abc\n", {"url": "http://[::1", "unix_socket": None}),
        ("abc\n", {"url": 5, "unix_socket": None}),
    ],
    ids=["newline-in-token", "port-out-of-range", "broken-url", "url-not-text"],
)
def test_a_malformed_api_token_or_address_is_a_clear_refusal_not_a_traceback(
    held_state: Path, template: Template, token: str, address: dict[str, Any]
) -> None:
    (held_state / "api.token").write_text(token)
    (held_state / "api.address").write_text(json.dumps(address))
    result = calmopsd("resolve", str(template.incident["acme"]), "--note", "x",
                      "--state-dir", str(held_state), env=clean_env())  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr[-400:]
    assert result.returncode == 1


# -- a tenant writes into the platform operator's terminal --------------------------------

INJECTED_ROW = "#1     open        critical platform    run: calmopsd approve 4 3"


def _control_characters(text: str) -> list[str]:
    return sorted({c for c in text if unicodedata.category(c) == "Cc" and c != "\n"})


def test_a_tenants_title_and_note_cannot_put_control_characters_on_the_operators_terminal(
    make_stack: StackMaker,
) -> None:
    stack = make_stack()
    title = f"disk\x1b]0;owned\x07\x1b[2J\n{INJECTED_ROW}"
    opened = stack.call("POST", "/incidents", "acme-op",
                        json={"title": title, "type": "disk", "severity": "critical"})  # fmt: skip
    if opened.status_code == 400:
        return  # refused at the door: fixed
    incident = opened.json()["id"]
    note = "done\r\x1b[2K\x1b[8m"
    change = {"status": "monitoring", "note": note}
    stack.call("PATCH", f"/incidents/{incident}", "acme-op", json=change)
    state = str(stack.database.path.parent)
    for args in (["incidents"], ["status"], ["show", str(incident)]):
        result = calmopsd(*args, "--state-dir", state, env=clean_env())
        assert result.returncode == 0, result.stderr
        assert _control_characters(result.stdout) == [], args
        assert INJECTED_ROW not in result.stdout.splitlines(), args


# -- an approval and a resolve racing ------------------------------------------------------


def test_an_approval_racing_a_resolve_is_not_recorded_after_the_resolution(
    make_stack: StackMaker, template: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person resolves the incident between the approval's re-check and its decision."""
    stack = make_stack()
    incident, rec = template.incident["acme"], template.recommendation["acme"]
    resolving: list[threading.Thread] = []

    def resolve_meanwhile(*args: Any, **kwargs: Any) -> str | None:
        reason = stale_reason(*args, **kwargs)
        if not resolving:
            patch = threading.Thread(target=lambda: stack.call(
                "PATCH", f"/incidents/{incident}", "acme-op",
                json={"status": "resolved", "note": "fixed by hand"}))  # fmt: skip
            resolving.append(patch)
            patch.start()
            patch.join(5)  # a fix that serializes the two may keep it waiting: fine
        return reason

    monkeypatch.setattr(approvals, "stale_reason", resolve_meanwhile)
    stack.call("POST", f"/incidents/{incident}/recommendations/{rec}/approve", "acme-op")
    for patch in resolving:
        patch.join(30)
    found = get_incident(stack.database, PLATFORM, incident)
    assert found is not None and found.status == "resolved"
    events = list_events(stack.database, PLATFORM, incident_id=incident)
    resolutions = [e.seq for e in events if e.data.get("to") == "resolved"]
    resolved = min(resolutions)
    approved = [e.seq for e in events if e.kind == "recommendation.approved"]
    assert [seq for seq in approved if seq > resolved] == []


# -- the super-admin's bypass --------------------------------------------------------------


def test_a_super_admins_read_of_an_organizations_incident_leaves_a_trace_at_log_level_warning(
    make_stack: StackMaker, template: Template
) -> None:
    """log.level: warning is a valid setting; the bypass must still leave a trace."""
    stack = make_stack()
    out = io.StringIO()
    configure_logging("warning", "json", stream=out)
    before = stack.dump()
    response = stack.call("GET", f"/incidents/{template.incident['acme']}", "root")
    assert response.status_code == 200
    logged = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    in_log = any(line.get("event") == "api.bypass_read" for line in logged)
    in_audit = stack.dump() != before
    assert in_log or in_audit


# -- what an organization learns about the others ------------------------------------------


def test_an_organizations_timeline_does_not_show_how_much_happened_elsewhere(
    make_stack: StackMaker, template: Template
) -> None:
    """acme's view of its own incident is the same whether or not globex was busy meanwhile
    (today the global seq and the chained hashes count globex's events for acme)."""
    acme, globex = template.incident["acme"], template.incident["globex"]
    quiet, busy = make_stack(name="quiet"), make_stack(name="busy")
    for status in ("monitoring", "open", "monitoring"):
        assert busy.call("PATCH", f"/incidents/{globex}", "globex-op",
                         json={"status": status}).status_code == 200  # fmt: skip
    views = []
    for stack in (quiet, busy):
        assert stack.call("PATCH", f"/incidents/{acme}", "acme-op",
                          json={"status": "monitoring"}).status_code == 200  # fmt: skip
        views.append(stack.call("GET", f"/incidents/{acme}", "acme-op").json())
    assert views[0]["events"] == views[1]["events"]


# -- HTTP corners --------------------------------------------------------------------------


def test_a_double_slash_path_is_a_json_404_not_a_redirect_built_from_the_host_header(
    make_stack: StackMaker, template: Template
) -> None:
    stack = make_stack()
    assert stack.server.port is not None
    conn = http.client.HTTPConnection("127.0.0.1", stack.server.port, timeout=10)
    try:
        conn.request("GET", f"/api/ops//incidents/{template.incident['acme']}", headers={
            "Host": "evil.example", "Authorization": f"Bearer {secret('acme-op')}"})  # fmt: skip
        answer = conn.getresponse()
        body = answer.read()
    finally:
        conn.close()
    assert answer.getheader("Location") is None
    assert answer.status == 404
    assert json.loads(body)["error"] == "not_found"


def test_a_cursor_with_junk_appended_is_refused(make_stack: StackMaker) -> None:
    stack = make_stack()
    for title in ("a", "b", "c"):
        stack.call("POST", "/incidents", "acme-op",
                   json={"title": title, "type": "disk", "severity": "info"})  # fmt: skip
    cursor = stack.call("GET", "/incidents?limit=1", "acme-op").json()["next_cursor"]
    assert cursor
    response = stack.call("GET", "/incidents", "acme-op", params={"cursor": cursor + "!*!"})
    assert response.status_code == 400, response.text[:200]
    assert response.json()["error"] == "invalid_cursor"


def test_head_does_not_run_a_health_check_round(make_stack: StackMaker) -> None:
    stack: Stack = make_stack()
    before = stack.dump()
    response = requests.head(stack.url + "/health?check=now", timeout=30,
                             headers={"Authorization": f"Bearer {secret('root')}"})  # fmt: skip
    assert response.status_code in (200, 405)
    assert stack.checks == []
    assert stack.dump() == before
