"""pause_jobs' flag file from the attacker's side: someone who can write a directory on the
flag's path plants a symlink there. calmopsd must write and remove nothing outside the
configured path, and say which component stopped it.

No PM2 here: a pause with only a flag file configured never runs a command.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.pm2 import config_for

from calmopsd.act.nofollow import open_dir
from calmopsd.act.pause_jobs import PAUSE_JOBS
from calmopsd.act.sandbox import Sandbox
from calmopsd.clock import SystemClock
from calmopsd.config.actions import ActionsConfig


def sandbox(tmp_path: Path, flag: Path) -> Sandbox:
    return Sandbox(
        config=ActionsConfig.model_validate({"pause_jobs": {"flag_file": str(flag)}}),
        pm2=config_for(tmp_path / "pm2"),
        workdir=tmp_path / "act",
        clock=SystemClock(),
    )


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_symlinked_parent_directory_is_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"  # where the attacker wants the write
    outside.mkdir()
    (tmp_path / "flags").symlink_to(outside)
    flag = tmp_path / "flags" / "jobs.paused"
    box = sandbox(tmp_path, flag)

    prepared = PAUSE_JOBS.prepare({}, box)
    paused = PAUSE_JOBS.run({}, box)

    assert (paused.ok, paused.detail, paused.undo) == (
        False,
        f"could not create {flag}: {tmp_path / 'flags'} is a symlink (never followed)",
        None,
    )
    assert prepared is not None and prepared.undo["flag_file"] is None  # nothing of ours to undo
    assert tree(outside) == []
    assert box.commands == []


def test_a_symlink_higher_up_is_named_too(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "run").mkdir(parents=True)
    (tmp_path / "srv").symlink_to(outside)
    flag = tmp_path / "srv" / "run" / "jobs.paused"

    paused = PAUSE_JOBS.run({}, sandbox(tmp_path, flag))

    assert (
        paused.detail
        == f"could not create {flag}: {tmp_path / 'srv'} is a symlink (never followed)"
    )
    assert tree(outside) == ["run"]


def test_a_symlink_at_the_flag_to_an_existing_file_leaves_that_file_alone(tmp_path: Path) -> None:
    victim = tmp_path / "etc" / "important.conf"
    victim.parent.mkdir()
    victim.write_text("keep me\n")
    victim.chmod(0o600)
    flag = tmp_path / "jobs.paused"
    flag.symlink_to(victim)
    box = sandbox(tmp_path, flag)

    paused = PAUSE_JOBS.run({}, box)
    reverted = PAUSE_JOBS.revert({"apps": [], "flag_file": str(flag)}, box)

    assert (paused.ok, paused.detail) == (
        False,
        f"could not create {flag}: a symlink is there (never followed)",
    )
    assert (reverted.ok, reverted.detail) == (
        False,
        f"{flag} is no longer a regular file: left in place",
    )
    assert victim.read_text() == "keep me\n"
    assert oct(victim.stat().st_mode & 0o777) == "0o600"
    assert flag.is_symlink()


def test_a_dangling_symlink_at_the_flag_creates_nothing_where_it_points(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    flag = tmp_path / "jobs.paused"
    flag.symlink_to(outside / "created-by-calmopsd")

    paused = PAUSE_JOBS.run({}, sandbox(tmp_path, flag))

    assert (paused.ok, paused.detail) == (
        False,
        f"could not create {flag}: a symlink is there (never followed)",
    )
    assert tree(outside) == []


def test_a_directory_at_the_flag_is_said_to_be_one(tmp_path: Path) -> None:
    flag = tmp_path / "jobs.paused"
    flag.mkdir()

    paused = PAUSE_JOBS.run({}, sandbox(tmp_path, flag))

    assert paused.detail == f"could not create {flag}: a directory is there, not a regular file"


def test_a_file_where_a_directory_should_be_is_named(tmp_path: Path) -> None:
    (tmp_path / "flags").write_text("")
    flag = tmp_path / "flags" / "jobs.paused"

    paused = PAUSE_JOBS.run({}, sandbox(tmp_path, flag))

    assert paused.detail == (
        f"could not create {flag}: {tmp_path / 'flags'} is a regular file, not a directory"
    )


def test_the_revert_does_not_follow_a_parent_swapped_for_a_symlink(tmp_path: Path) -> None:
    """Paused for real, then the flag's directory is replaced by a link to a directory that
    holds a file of the same name: the revert must not delete that file."""
    flags = tmp_path / "flags"
    flags.mkdir()
    flag = flags / "jobs.paused"
    box = sandbox(tmp_path, flag)
    paused = PAUSE_JOBS.run({}, box)
    assert (paused.ok, paused.undo) == (True, {"apps": [], "flag_file": str(flag)})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "jobs.paused").write_text("someone else's\n")
    flags.rename(tmp_path / "flags.moved")
    flags.symlink_to(outside)

    reverted = PAUSE_JOBS.revert(paused.undo or {}, box)

    assert (reverted.ok, reverted.detail) == (
        False,
        f"{flag} not removed: {flags} is a symlink (never followed)",
    )
    assert (outside / "jobs.paused").read_text() == "someone else's\n"
    assert (tmp_path / "flags.moved" / "jobs.paused").exists()  # ours, left for a person


def test_a_pause_and_its_revert_still_work_on_a_plain_path(tmp_path: Path) -> None:
    flag = tmp_path / "a" / "b" / "jobs.paused"
    flag.parent.mkdir(parents=True)
    box = sandbox(tmp_path, flag)

    paused = PAUSE_JOBS.run({}, box)
    present = flag.is_file()
    reverted = PAUSE_JOBS.revert(paused.undo or {}, box)

    assert (paused.ok, present, reverted.ok, flag.exists()) == (True, True, True, False)
    assert reverted.detail == f"jobs resumed: removed {flag}"


def test_the_revert_of_a_flag_whose_directory_is_gone_has_nothing_to_do(tmp_path: Path) -> None:
    flag = tmp_path / "gone" / "jobs.paused"

    reverted = PAUSE_JOBS.revert({"apps": [], "flag_file": str(flag)}, sandbox(tmp_path, flag))

    assert (reverted.ok, reverted.data["flag_file_removed"]) == (True, False)


def test_open_dir_names_the_component_that_stopped_it(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path)

    with pytest.raises(NotADirectoryError) as raised:
        os.close(open_dir(tmp_path / "link" / "x"))

    assert raised.value.filename == str(tmp_path / "link")
