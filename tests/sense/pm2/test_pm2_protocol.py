"""The socket client and the jlist fallback, against a stand-in daemon and a stand-in pm2.

The real daemon is in test_pm2_sampler.py; these cover what a real PM2 7 will
not do on request: answer as another version, answer nonsense, hang, print
warnings before its JSON, exit non-zero.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.pm2 import config_for

from calmopsd.config.sensing import Pm2SamplerConfig
from calmopsd.pm2files import pm2_home
from calmopsd.sense.pm2 import Pm2Sampler
from calmopsd.sense.pm2_rpc import Pm2Socket, RpcError, encode

LISTED = [
    {
        "pid": 4242,
        "name": "web",
        "pm_id": 0,
        "monit": {"memory": 1000, "cpu": 2.0},
        "pm2_env": {"status": "online", "restart_time": 3, "version": "2.0.0", "TOKEN": "x"},
    }
]
OUT_OF_DATE = ">>>> In-memory PM2 is out-of-date, do:\n>>>> $ pm2 update\n"

# What a stand-in daemon answers: a frame's raw bytes, or None to stay silent.
Answer = Callable[[str, bytes], bytes | None]


def frame(body: Any, call_id: bytes) -> bytes:
    return encode([b"j:" + json.dumps(body).encode(), call_id])


def daemon_answering(versions: dict[str, Any]) -> Answer:
    """Answers like PM2: each method's result from ``versions``, or an error."""

    def answer(method: str, call_id: bytes) -> bytes | None:
        if method not in versions:
            return frame({"error": f'method "{method}" does not exist'}, call_id)
        return frame({"args": [versions[method]]}, call_id)

    return answer


class FakeDaemon:
    """A unix socket that speaks PM2's framing; ``answer`` decides each reply."""

    def __init__(self, path: Path, answer: Answer, hang_up: bool = False):
        self.answer = answer
        self.hang_up = hang_up  # close the connection after each reply
        self.calls: list[str] = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                self._converse(conn)

    def _converse(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        while meta := reader.read(1):
            args = []
            for _ in range(meta[0] & 0x0F):
                (length,) = struct.unpack(">I", reader.read(4))
                args.append(reader.read(length))
            method = json.loads(args[0][2:])["method"]
            self.calls.append(method)
            reply = self.answer(method, args[1])
            if reply is None:
                reader.read()  # silent until the client hangs up
                return
            conn.sendall(reply)
            if self.hang_up:
                return

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A PM2_HOME whose pm2.pid names a live process (this one)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "pm2.pid").write_text(str(os.getpid()))
    return home


@pytest.fixture
def daemon(home: Path) -> Iterator[Callable[..., FakeDaemon]]:
    started: list[FakeDaemon] = []

    def start(answer: Answer, hang_up: bool = False) -> FakeDaemon:
        started.append(FakeDaemon(home / "rpc.sock", answer, hang_up))
        return started[-1]

    yield start
    for fake in started:
        fake.close()


@pytest.fixture
def fake_pm2(tmp_path: Path) -> Callable[..., Path]:
    """A stand-in pm2 that records its argv and environment and prints what it is told."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()

    def make(stdout: str = "", stderr: str = "", code: int = 0, sleep: float = 0) -> Path:
        (bin_dir / "stdout").write_text(stdout)
        (bin_dir / "stderr").write_text(stderr)
        script = bin_dir / "pm2"
        script.write_text(
            "#!/bin/sh\n"
            f'echo "$@" > "{bin_dir}/argv"\n'
            f'env > "{bin_dir}/env"\n'
            f"sleep {sleep}\n"
            f'cat "{bin_dir}/stdout"; cat "{bin_dir}/stderr" >&2\n'
            f"exit {code}\n"
        )
        script.chmod(0o755)
        return script

    return make


def sampler(home: Path, binary: Path, **fields: Any) -> Pm2Sampler:
    return Pm2Sampler(config_for(home, binary=str(binary), **fields))


def test_an_unchecked_pm2_version_falls_back_to_jlist_past_its_warning(
    home: Path, daemon: Callable[..., FakeDaemon], fake_pm2: Callable[..., Path]
) -> None:
    fake = daemon(daemon_answering({"getVersion": "8.0.0", "getMonitorData": []}))
    binary = fake_pm2(stdout=OUT_OF_DATE + json.dumps(LISTED))

    reading = sampler(home, binary).sample()

    assert fake.calls == ["getVersion"]
    assert (reading["state"], reading["source"], reading["pm2_version"]) == ("ok", "jlist", "8.0.0")
    assert reading["fallback"] == "PM2 8.0.0 not checked on the socket"
    assert reading["apps"]["web"]["restart_time"] == 3
    assert (binary.parent / "argv").read_text() == "jlist\n"
    env = dict(line.split("=", 1) for line in (binary.parent / "env").read_text().splitlines())
    assert set(env) - {"PWD", "SHLVL", "_"} == {"PATH", "LANG", "HOME", "PM2_HOME"}
    assert env["PM2_HOME"] == str(home)


def test_a_daemon_answering_with_an_error_falls_back_to_jlist(
    home: Path, daemon: Callable[..., FakeDaemon], fake_pm2: Callable[..., Path]
) -> None:
    daemon(daemon_answering({"getVersion": "7.0.4"}))

    reading = sampler(home, fake_pm2(stdout=json.dumps(LISTED))).sample()

    assert (reading["state"], reading["source"], reading["pm2_version"]) == ("ok", "jlist", "7.0.4")
    assert reading["fallback"] == (
        'getMonitorData: the daemon answered with an error: method "getMonitorData" does not exist'
    )


def test_a_reply_to_another_call_is_not_trusted(
    home: Path, daemon: Callable[..., FakeDaemon], fake_pm2: Callable[..., Path]
) -> None:
    daemon(lambda method, call_id: frame({"args": ["7.0.4"]}, b"s:someone-else:0"))

    reading = sampler(home, fake_pm2(stdout="[]")).sample()

    assert (reading["state"], reading["source"]) == ("ok", "jlist")
    assert reading["fallback"] == "getVersion: reply does not match the request"


def test_a_daemon_that_never_answers_is_an_error_and_jlist_is_not_run(
    home: Path, daemon: Callable[..., FakeDaemon], fake_pm2: Callable[..., Path]
) -> None:
    daemon(lambda method, call_id: None)
    binary = fake_pm2(stdout="[]")

    reading = sampler(home, binary, timeout="300ms").sample()

    assert reading["state"] == "error"
    assert reading["detail"] == "the PM2 daemon did not answer in time"
    assert not (binary.parent / "argv").exists()


def test_the_socket_client_refuses_malformed_frames(
    home: Path, daemon: Callable[..., FakeDaemon]
) -> None:
    replies = iter(
        [
            b"\x22" + b"\x00\x00\x00\x02j:",  # frame version 2
            b"\x12" + struct.pack(">I", 1 << 30),  # an argument of 1 GiB
            b"\x12\x00\x00\x00\x05s:abc\x00\x00\x00\x01x",  # not JSON
            encode([b"j:", b"s:x"])[:7],  # cut short, then the daemon hangs up
        ]
    )
    daemon(lambda method, call_id: next(replies), hang_up=True)
    expected = [
        "unknown frame version 2",
        f"reply larger than {64 << 20} bytes",
        "getVersion: reply does not match the request",
        "the daemon closed the connection mid-reply",
    ]

    for message in expected:
        with Pm2Socket(home / "rpc.sock", 2.0) as connection, pytest.raises(RpcError) as caught:
            connection.call("getVersion", {})
        assert str(caught.value) == message


def test_jlist_output_without_a_list_reads_as_unparsable(
    home: Path, daemon: Callable[..., FakeDaemon], fake_pm2: Callable[..., Path]
) -> None:
    daemon(daemon_answering({"getVersion": "8.1.0"}))

    reading = sampler(home, fake_pm2(stdout="<html>oops " + "x" * 89)).sample()

    assert reading["state"] == "unparsable"
    assert reading["detail"] == "pm2 jlist printed no JSON process list (100 bytes)"


def test_a_failing_or_slow_jlist_reads_as_an_error(
    home: Path, daemon: Callable[..., FakeDaemon], fake_pm2: Callable[..., Path]
) -> None:
    daemon(daemon_answering({"getVersion": "8.1.0"}))
    failing = fake_pm2(stderr="\x1b[31m[PM2][ERROR]\x1b[39m Daemon not reachable\n\n", code=1)

    assert sampler(home, failing).sample()["detail"] == (
        "pm2 jlist exited 1: [PM2][ERROR] Daemon not reachable"
    )
    slow = sampler(home, fake_pm2(stdout="[]", sleep=5), timeout="300ms").sample()
    assert (slow["state"], slow["detail"]) == ("error", "pm2 jlist timed out after 0.3s")


def test_pm2_home_is_config_then_env_then_the_users_home() -> None:
    with_home = Pm2SamplerConfig.model_validate({"home": "/srv/pm2", "user": "root"})
    with_user = Pm2SamplerConfig.model_validate({"user": "root"})
    plain = Pm2SamplerConfig()

    assert pm2_home(with_home, {"PM2_HOME": "/env/pm2"}) == Path("/srv/pm2")
    assert pm2_home(with_user, {"PM2_HOME": "/env/pm2"}) == Path("/env/pm2")
    assert pm2_home(with_user, {"HOME": "/elsewhere"}) == Path("/root/.pm2")
    assert pm2_home(plain, {"HOME": "/home/calm"}) == Path("/home/calm/.pm2")


def test_an_unknown_user_is_an_error_reading(tmp_path: Path) -> None:
    config = Pm2SamplerConfig.model_validate({"user": "calmopsd-no-such-user"})

    reading = Pm2Sampler(config, environ={"PATH": os.environ["PATH"]}).sample()

    assert (reading["state"], reading["detail"]) == (
        "error",
        "no user named 'calmopsd-no-such-user'",
    )


def test_a_reply_nested_absurdly_deep_falls_back_instead_of_failing_the_sample(
    home: Path, daemon: Callable[..., FakeDaemon], fake_pm2: Callable[..., Path]
) -> None:
    def answer(method: str, call_id: bytes) -> bytes | None:
        if method == "getVersion":
            return frame({"args": ["7.0.4"]}, call_id)
        deep = b'{"args":[' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
        return encode([b"j:" + deep, call_id])

    daemon(answer)
    reading = sampler(home, fake_pm2(stdout=json.dumps(LISTED))).sample()
    assert (reading["state"], reading["source"]) == ("ok", "jlist")
    assert reading["fallback"] == "getMonitorData: reply is not valid JSON"


def test_a_version_with_non_ascii_digits_is_unchecked_not_a_crash(
    home: Path, daemon: Callable[..., FakeDaemon], fake_pm2: Callable[..., Path]
) -> None:
    daemon(daemon_answering({"getVersion": "².0.0", "getMonitorData": []}))
    reading = sampler(home, fake_pm2(stdout=json.dumps(LISTED))).sample()
    assert (reading["state"], reading["source"]) == ("ok", "jlist")
    assert reading["fallback"] == "PM2 ².0.0 not checked on the socket"


@pytest.mark.parametrize("text", ["99999999999999999999", "-1", "１２３"])
def test_a_pid_file_without_a_plausible_pid_is_not_running(
    home: Path, fake_pm2: Callable[..., Path], text: str
) -> None:
    (home / "pm2.pid").write_text(text)
    reading = sampler(home, fake_pm2(stdout="[]")).sample()
    assert (reading["state"], reading["detail"]) == ("not_running", "pm2.pid holds no pid")


def test_only_the_process_named_in_pm2_pid_may_answer_on_rpc_sock(
    home: Path, daemon: Callable[..., FakeDaemon], fake_pm2: Callable[..., Path]
) -> None:
    daemon(daemon_answering({"getVersion": "7.0.4", "getMonitorData": LISTED}))
    (home / "pm2.pid").write_text("1")  # alive, but not the process serving the socket
    reading = sampler(home, fake_pm2(stdout="[]")).sample()
    assert reading["state"] == "error"
    assert reading["detail"] == (
        f"rpc.sock is served by pid {os.getpid()}, not by the PM2 daemon in pm2.pid (1)"
    )
    assert reading["apps"] == {}
