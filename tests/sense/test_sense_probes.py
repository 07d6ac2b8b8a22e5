"""HTTP health checks against a real server on loopback, and TCP probes to real ports."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from calmopsd.config.sensing import (
    DependenciesSamplerConfig,
    DependencyProbeConfig,
    HttpCheckConfig,
    HttpSamplerConfig,
)
from calmopsd.sense.http import HttpSampler, failure_kind
from calmopsd.sense.tcp import DependencySampler

SLOW_S = 1.5
TOGETHER = threading.Barrier(3, timeout=5)


class Health(BaseHTTPRequestHandler):
    """/ok and /dbdown answer JSON, /fail 500, /slow waits, /text is not JSON; /stall, /cut
    and /badgzip send their headers and then a body that stalls, breaks off or cannot decode."""

    def do_GET(self) -> None:
        if self.path in BROKEN_BODIES:
            self._broken_body(self.path)
            return
        if self.path.startswith("/echo"):
            SEEN.append({k.lower(): v for k, v in self.headers.items()} | {"path": self.path})
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        routes: dict[str, tuple[int, bytes]] = {
            "/ok": (200, json.dumps({"db": "ok", "cache": "ok"}).encode()),
            "/dbdown": (200, json.dumps({"db": "down", "cache": "ok"}).encode()),
            "/fail": (500, b"boom"),
            "/text": (200, b"fine"),
            "/echo?token=t": (200, b"{}"),
        }
        if self.path == "/slow":
            time.sleep(SLOW_S)
            routes["/slow"] = (200, b"{}")
        if self.path == "/together":
            # Answers 200 only when three requests are in flight at the same moment.
            try:
                TOGETHER.wait()
                routes["/together"] = (200, b"{}")
            except threading.BrokenBarrierError:
                routes["/together"] = (503, b"")
        status, body = routes.get(self.path, (404, b""))
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test): nothing to answer

    def _broken_body(self, path: str) -> None:
        """Promise 100 bytes, send 10, then stall past any check's timeout or hang up."""
        try:
            self.send_response(200)
            self.send_header("Content-Length", "100")
            if path == "/badgzip":
                self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            self.wfile.write(b"not gzip, " * (10 if path == "/badgzip" else 1))
            self.wfile.flush()
            if path == "/stall":
                time.sleep(SLOW_S)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


BROKEN_BODIES = ("/stall", "/cut", "/badgzip")
SEEN: list[dict[str, str]] = []  # the headers /echo was asked with


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed when we return: nothing listens there


def check(url: str, **kwargs: Any) -> dict[str, Any]:
    config = HttpCheckConfig(name="app", url=url, **kwargs)
    result: dict[str, Any] = HttpSampler(HttpSamplerConfig(checks=[config])).sample()
    return result["checks"]["app"]


def test_a_200_is_up_with_its_latency(server: str) -> None:
    result = check(f"{server}/ok", body={"db": "ok"})
    assert (result["up"], result["status"], result["failure"]) == (True, 200, None)
    assert 0 < result["latency_ms"] < 5000


def test_a_500_is_down_as_an_unexpected_status(server: str) -> None:
    result = check(f"{server}/fail")
    assert (result["up"], result["status"], result["failure"]) == (False, 500, "unexpected_status")
    assert result["detail"] == "expected 200, got 500"


def test_a_slow_answer_beyond_the_timeout_is_a_timeout(server: str) -> None:
    began = time.monotonic()
    result = check(f"{server}/slow", timeout=timedelta(milliseconds=300))
    assert (result["up"], result["failure"]) == (False, "timeout")
    assert time.monotonic() - began < SLOW_S


def test_nothing_listening_is_connection_refused(closed_port: int) -> None:
    result = check(f"http://127.0.0.1:{closed_port}/health")
    assert (result["up"], result["status"], result["failure"]) == (
        False,
        None,
        "connection_refused",
    )


def test_tls_to_a_plain_http_server_is_a_tls_failure(server: str) -> None:
    result = check(server.replace("http://", "https://") + "/ok")
    assert (result["up"], result["failure"]) == (False, "tls")


def test_a_body_reporting_a_failed_dependency_names_it(server: str) -> None:
    result = check(f"{server}/dbdown", body={"db": "ok", "cache": "ok"})
    assert (result["up"], result["status"]) == (False, 200)
    assert result["failure"] == "body_check_failed"
    assert result["failed_dependencies"] == ["db"]


def test_a_body_that_is_not_json_fails_every_body_check(server: str) -> None:
    result = check(f"{server}/text", body={"db": "ok"})
    assert (result["failure"], result["failed_dependencies"]) == ("body_check_failed", ["db"])


def test_several_checks_each_report_their_own_result(server: str, closed_port: int) -> None:
    sampler = HttpSampler(
        HttpSamplerConfig(
            checks=[
                HttpCheckConfig(name="good", url=f"{server}/ok"),
                HttpCheckConfig(name="bad", url=f"http://127.0.0.1:{closed_port}/"),
            ]
        )
    )
    checks = sampler.sample()["checks"]
    assert {name: c["up"] for name, c in checks.items()} == {"good": True, "bad": False}


def test_a_dns_failure_is_named_dns() -> None:
    # A real lookup would query the machine's resolver, which is off loopback; instead
    # the exception urllib3 raises (retries off) for an unknown host is built as it is raised.
    from urllib3.exceptions import NameResolutionError

    gaierror = socket.gaierror(-2, "Name unknown")
    error = NameResolutionError("nohost.invalid", None, gaierror)  # type: ignore[arg-type]
    error.__cause__ = gaierror
    assert failure_kind(error) == "dns"


def test_a_tcp_probe_to_a_listening_port_is_up(closed_port: int) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        probes = DependenciesSamplerConfig(
            probes=[
                DependencyProbeConfig(name="db", host="127.0.0.1", port=port),
                DependencyProbeConfig(name="cache", host="127.0.0.1", port=closed_port),
            ]
        )
        result = DependencySampler(probes).sample()["probes"]
    assert (result["db"]["up"], result["db"]["failure"]) == (True, None)
    assert result["db"]["latency_ms"] >= 0
    assert (result["cache"]["up"], result["cache"]["failure"]) == (False, "connection_refused")


def test_a_body_that_stalls_is_a_timeout_and_the_other_checks_still_report(
    server: str, closed_port: int
) -> None:
    sampler = HttpSampler(
        HttpSamplerConfig(
            checks=[
                HttpCheckConfig(
                    name="stalls",
                    url=f"{server}/stall",
                    timeout=timedelta(milliseconds=300),
                    body={"db": "ok"},
                ),
                HttpCheckConfig(name="good", url=f"{server}/ok", body={"db": "ok"}),
                HttpCheckConfig(name="bad", url=f"http://127.0.0.1:{closed_port}/"),
            ]
        )
    )
    began = time.monotonic()
    checks = sampler.sample()["checks"]

    assert time.monotonic() - began < SLOW_S
    stalls = checks["stalls"]
    assert (stalls["up"], stalls["status"], stalls["failure"]) == (False, 200, "timeout")
    assert stalls["detail"] == f"timeout: {server}: timed out"
    assert (checks["good"]["up"], checks["good"]["failure"]) == (True, None)
    assert (checks["bad"]["up"], checks["bad"]["failure"]) == (False, "connection_refused")


def test_a_body_cut_short_is_a_connection_error(server: str) -> None:
    result = check(f"{server}/cut", body={"db": "ok"})
    assert (result["up"], result["status"], result["failure"]) == (False, 200, "connection_error")
    assert result["detail"] == f"connection_error: {server}"


def test_a_body_that_does_not_decode_is_a_connection_error(server: str) -> None:
    result = check(f"{server}/badgzip", body={"db": "ok"})
    assert (result["up"], result["status"], result["failure"]) == (False, 200, "connection_error")
    assert result["detail"] == f"connection_error: {server}"


def test_a_token_or_password_in_the_url_appears_nowhere_in_the_reading(closed_port: int) -> None:
    sampler = HttpSampler(
        HttpSamplerConfig(
            checks=[
                HttpCheckConfig(
                    name="query", url=f"http://127.0.0.1:{closed_port}/h?token=SECRET123"
                ),
                HttpCheckConfig(
                    name="userinfo", url=f"http://admin:SECRET456@127.0.0.1:{closed_port}/h"
                ),
                HttpCheckConfig(
                    name="path",
                    url=f"http://127.0.0.1:{closed_port}/hooks/SECRET789",
                    timeout=timedelta(milliseconds=300),
                ),
            ]
        )
    )
    reading = sampler.sample()

    text = json.dumps(reading)
    assert [secret for secret in ("SECRET123", "SECRET456", "SECRET789") if secret in text] == []
    assert reading["checks"]["query"]["detail"] == (
        f"connection_refused: http://127.0.0.1:{closed_port}: Connection refused"
    )


def test_checks_run_at_once_so_one_hung_target_does_not_hold_up_the_others(server: str) -> None:
    TOGETHER.reset()
    checks = [
        HttpCheckConfig(name=f"c{i}", url=f"{server}/together", timeout=timedelta(seconds=10))
        for i in range(3)
    ]
    sampler = HttpSampler(HttpSamplerConfig(checks=checks))
    result = sampler.sample()["checks"]
    assert {name: c["status"] for name, c in result.items()} == {"c0": 200, "c1": 200, "c2": 200}
    assert sampler.timeout_s == 21.0  # one wave: twice the slowest timeout, plus a second


@pytest.mark.parametrize(
    ("url", "through_nginx", "via"),
    [
        ("http://127.0.0.1/health", None, True),  # the scheme's default port: nginx's
        ("https://app.example.com/health", None, True),
        ("http://127.0.0.1:3000/health", None, False),  # an app's own port
        ("http://127.0.0.1:8080/health", True, True),  # said: nginx on another port
        ("http://127.0.0.1/health", False, False),  # said: straight to the app
    ],
)
def test_a_check_says_whether_it_goes_through_nginx(
    url: str, through_nginx: bool | None, via: bool
) -> None:
    assert HttpCheckConfig(name="app", url=url, through_nginx=through_nginx).via_nginx is via


def test_a_reading_carries_whether_the_check_goes_through_nginx(server: str) -> None:
    """The real sampler against a real server on a port of its own: not through nginx,
    unless the config says it is."""
    assert check(f"{server}/fail")["via_nginx"] is False
    assert check(f"{server}/fail", through_nginx=True)["via_nginx"] is True


def test_a_check_sends_what_a_plain_http_client_sends_and_its_userinfo_as_basic_auth(
    server: str,
) -> None:
    """The checks go through urllib3 itself: the request must still carry the URL's
    percent-decoded userinfo as basic auth, offer gzip, and say who asks."""
    SEEN.clear()
    host = server.removeprefix("http://")
    assert check(f"http://ops%40x:p%3Ass@{host}/echo?token=t")["up"] is True
    (headers,) = SEEN
    assert headers["path"] == "/echo?token=t"
    assert headers["authorization"] == "Basic " + base64.b64encode(b"ops@x:p:ss").decode()
    assert "gzip" in headers["accept-encoding"]
    assert headers["user-agent"].startswith("calmopsd/")
    assert headers["host"] == host


def test_a_redirect_is_not_followed(server: str) -> None:
    result = check(f"{server}/moved")
    assert result["up"] is False
    assert (result["status"], result["failure"]) == (302, "unexpected_status")
