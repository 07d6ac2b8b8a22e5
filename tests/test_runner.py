"""The subprocess runner from the attacker's and the unlucky user's side."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from calmopsd import runner


def test_metacharacters_are_arguments_never_shell(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    result = runner.run(["echo", f"x; rm -f {victim}", "$(id)", "`id`"], timeout=10)
    assert result.stdout == f"x; rm -f {victim} $(id) `id`\n".encode()
    assert victim.read_text() == "keep"


def test_the_child_gets_a_minimal_environment_not_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALMOPS_SECRET", "hunter2")
    result = runner.run(["env"], timeout=10)
    names = {line.split("=", 1)[0] for line in result.stdout.decode().splitlines()}
    assert names == {"PATH", "LANG", "HOME"}


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = f"sleep 60 & echo $! > {pid_file}; wait"
    began = time.monotonic()
    result = runner.run(["sh", "-c", script], timeout=0.5)
    assert (result.returncode, result.error) == (None, "timed out after 0.5s")
    assert time.monotonic() - began < 5
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while psutil.pid_exists(grandchild) and time.monotonic() < deadline:
        if psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.05)
    assert not psutil.pid_exists(grandchild) or (
        psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
    )


def test_output_is_kept_only_up_to_the_limit_and_flagged() -> None:
    code = "import sys; sys.stdout.write('x' * 5_000_000); sys.stderr.write('e' * 10)"
    result = runner.run([sys.executable, "-c", code], timeout=30, output_limit=1000)
    assert (result.returncode, len(result.stdout), result.truncated) == (0, 1000, True)
    assert result.stderr == b"e" * 10


def test_a_missing_program_is_an_error_value_not_an_exception() -> None:
    result = runner.run(["/nonexistent/calmopsd-test-binary"], timeout=5)
    assert (result.returncode, result.error) == (None, "could not start: No such file or directory")


def test_an_unknown_user_is_an_error_value() -> None:
    result = runner.run(["true"], timeout=5, user="no-such-user-calmopsd")
    assert result.error == "could not start: no such user 'no-such-user-calmopsd'"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_running_as_another_user_takes_that_users_groups_not_roots() -> None:
    result = runner.run(["sh", "-c", "id -u; id -G"], timeout=5, user="nobody")
    uid, groups = result.stdout.decode().splitlines()
    assert uid == "65534"
    assert "0" not in groups.split()


@pytest.mark.parametrize("argv", [[], [""], ["echo", "a\0b"]])
def test_malformed_argv_is_refused_before_anything_runs(argv: list[str]) -> None:
    with pytest.raises(ValueError, match="argv must be"):
        runner.run(argv, timeout=5)
