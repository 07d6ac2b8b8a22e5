"""clear_temp on real files: what it removes, what it never touches, and what it refuses.

Time comes from a manual clock; file ages are set with ``os.utime`` relative to
it. Mounts (a tmpfs, a bind mount) are made by the test with ``mount`` and
skipped, with the reason, where the test may not mount. The moments between a
check and its use are reached through a Python audit hook (``open``,
``os.rename`` and ``os.remove`` events fire just before the system call), which observes and
swaps files without patching calmopsd.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.clock import ManualClock

from calmopsd.act import quarantine
from calmopsd.act.action import Refused
from calmopsd.act.clear_temp import CLEAR_TEMP, ClearTemp
from calmopsd.act.quarantine import PREFIX
from calmopsd.act.sandbox import Sandbox
from calmopsd.config.actions import ActionsConfig
from calmopsd.config.sensing import Pm2SamplerConfig
from calmopsd.model import SafeAction

NOW = ManualClock().now().timestamp()
MIN_AGE = timedelta(minutes=60)
OLD = NOW - MIN_AGE.total_seconds() - 60
YOUNG = NOW - 60

# -- a seam without patching: audit events fire just before each os call ---------------------

Listener = Callable[[str, tuple[Any, ...]], None]
_LISTENERS: list[Listener] = []
_HOOKED: list[bool] = []


def _dispatch(event: str, args: tuple[Any, ...]) -> None:
    for listener in list(_LISTENERS):
        listener(event, args)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    if not _HOOKED:  # an audit hook cannot be removed: add one, once, that is idle when unused
        sys.addaudithook(_dispatch)
        _HOOKED.append(True)
    _LISTENERS.append(listener)
    try:
        yield
    finally:
        _LISTENERS.remove(listener)


# -- building trees -------------------------------------------------------------------------


def sandbox_for(dirs: list[Path | str], workdir: Path, *, dry_run: bool = False) -> Sandbox:
    config = ActionsConfig.model_validate(
        {"clear_temp": {"dirs": [str(d) for d in dirs], "min_age": "60m"}}
    )
    return Sandbox(config, Pm2SamplerConfig(), workdir, ManualClock(), dry_run=dry_run)


def write(path: Path, size: int, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (mtime, mtime))
    return path


def link(path: Path, target: Path | str, mtime: float = OLD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    os.utime(path, (mtime, mtime), follow_symlinks=False)  # a link's own age must not matter
    return path


def snapshot(top: Path) -> dict[str, tuple[str, str | bytes, int]]:
    """Every entry under ``top``, without following links: kind, content or target, mtime."""
    found: dict[str, tuple[str, str | bytes, int]] = {}
    for here, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(here) / name
            seen = path.lstat()
            rel = str(path.relative_to(top))
            if path.is_symlink():
                found[rel] = ("link", str(path.readlink()), seen.st_mtime_ns)
            elif path.is_dir():
                found[rel] = ("dir", "", 0)  # removing a file changes its directory's mtime
            else:
                found[rel] = ("file", path.read_bytes(), seen.st_mtime_ns)
    return found


@pytest.fixture
def root(tmp_path: Path) -> Path:
    made = tmp_path / "uploads"
    made.mkdir()
    return made


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Files beside the temp dir, old enough to be deleted if clear_temp ever reached them."""
    made = tmp_path / "outside"
    write(made / "secret.txt", 6, OLD)
    write(made / "deep" / "data.bin", 7, OLD)
    return made


def run(root: Path, tmp_path: Path, params: dict[str, Any] | None = None, **kw: Any) -> Any:
    return CLEAR_TEMP.run(params or {}, sandbox_for([root], tmp_path / "work", **kw))


# -- what it removes and keeps ------------------------------------------------------------------


def test_it_removes_old_files_and_keeps_young_ones(root: Path, tmp_path: Path) -> None:
    write(root / "old.bin", 100, OLD)
    write(root / "young.bin", 50, YOUNG)
    write(root / "exactly-min-age.bin", 10, NOW - MIN_AGE.total_seconds())

    result = run(root, tmp_path, {"dir": str(root)})

    assert result.ok, result.detail
    assert sorted(p.name for p in root.iterdir()) == ["exactly-min-age.bin", "young.bin"]
    assert result.data["files"] == 1
    assert result.data["bytes"] == 100
    assert result.data["removed"] == ["old.bin"]
    assert result.data["young"] == 2
    assert result.detail == f"removed 1 file (100 bytes) from {root}"


def test_it_walks_nested_directories_and_removes_no_directory(root: Path, tmp_path: Path) -> None:
    write(root / "a" / "b" / "c" / "old1", 11, OLD)
    write(root / "a" / "old2", 22, OLD)
    write(root / "a" / "b" / "young", 5, YOUNG)
    (root / "empty").mkdir()
    for directory in (root / "a", root / "a" / "b", root / "a" / "b" / "c", root / "empty"):
        os.utime(directory, (OLD, OLD))

    result = run(root, tmp_path)

    assert result.ok, result.detail
    assert sorted(result.data["removed"]) == ["a/b/c/old1", "a/old2"]
    assert result.data["bytes"] == 33
    assert not (root / "a" / "old2").exists()
    assert not (root / "a" / "b" / "c" / "old1").exists()
    assert (root / "a" / "b" / "young").is_file()
    assert all(d.is_dir() for d in (root / "a" / "b" / "c", root / "empty"))


def test_fifos_and_hard_linked_files_are_left_alone(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    os.mkfifo(root / "pipe")
    os.utime(root / "pipe", (OLD, OLD))
    os.link(outside / "secret.txt", root / "linked.txt")

    result = run(root, tmp_path)

    assert result.ok, result.detail
    assert (result.data["files"], result.data["skipped_hardlinks"]) == (0, 1)
    assert sorted(p.name for p in root.iterdir()) == ["linked.txt", "pipe"]
    assert (outside / "secret.txt").read_bytes() == b"x" * 6


def test_it_clears_every_configured_dir_for_empty_params(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    write(first / "a", 1, OLD)
    write(second / "b", 2, OLD)

    result = CLEAR_TEMP.run({}, sandbox_for([first, second], tmp_path / "work"))

    assert result.ok, result.detail
    assert result.data["dirs"] == [str(first), str(second)]
    assert sorted(result.data["removed"]) == [f"{first}/a", f"{second}/b"]
    assert result.data["bytes"] == 3


def test_it_names_its_target_and_cannot_be_reverted(root: Path, tmp_path: Path) -> None:
    sandbox = sandbox_for([root], tmp_path / "work")

    assert (CLEAR_TEMP.name, CLEAR_TEMP.reversible) == (SafeAction.CLEAR_TEMP, False)
    assert CLEAR_TEMP.target({"dir": str(root)}) == str(root)
    assert CLEAR_TEMP.target({}) == "all temp dirs"
    assert not CLEAR_TEMP.revert({}, sandbox).ok


# -- symlinks -----------------------------------------------------------------------------------


def test_a_symlink_to_an_outside_file_is_left_alone_and_its_target_intact(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    link(root / "escape", outside / "secret.txt")

    result = run(root, tmp_path)

    assert result.ok, result.detail
    assert (root / "escape").is_symlink()
    assert (outside / "secret.txt").read_bytes() == b"x" * 6
    assert (result.data["files"], result.data["skipped_symlinks"]) == (0, 1)


def test_a_symlink_to_an_outside_directory_is_not_descended(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    link(root / "a" / "into-outside", outside)
    before = snapshot(outside)

    result = run(root, tmp_path)

    assert result.ok, result.detail
    assert snapshot(outside) == before
    assert (root / "a" / "into-outside").is_symlink()
    assert result.data["skipped_symlinks"] == 1


def test_a_configured_dir_that_is_a_symlink_fails_and_its_target_is_untouched(
    tmp_path: Path, outside: Path
) -> None:
    configured = link(tmp_path / "uploads", outside)
    before = snapshot(outside)

    result = CLEAR_TEMP.run({"dir": str(configured)}, sandbox_for([configured], tmp_path / "work"))

    assert not result.ok
    assert result.data["files"] == 0
    assert result.data["errors"] == [
        f"{configured}: it, or a directory above it, is a symlink or not a directory"
    ]
    assert snapshot(outside) == before


def test_a_configured_dir_below_a_symlink_fails_too(tmp_path: Path, outside: Path) -> None:
    link(tmp_path / "via", outside)
    configured = tmp_path / "via" / "deep"

    result = CLEAR_TEMP.run({}, sandbox_for([configured], tmp_path / "work"))

    assert not result.ok
    assert (outside / "deep" / "data.bin").read_bytes() == b"x" * 7


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_a_configured_dir_that_is_not_a_directory_fails_and_the_others_are_still_cleared(
    tmp_path: Path, kind: str
) -> None:
    broken, fine = tmp_path / "uploads", tmp_path / "fine"
    if kind == "file":
        write(broken, 3, OLD)
    write(fine / "old", 4, OLD)

    result = CLEAR_TEMP.run({}, sandbox_for([broken, fine], tmp_path / "work"))

    assert not result.ok
    assert result.detail.startswith(f"incomplete: {broken}: ")
    assert result.data["failed"] == 1
    assert result.data["removed"] == [f"{fine}/old"]
    assert broken.exists() == (kind == "file")


# -- refusals -----------------------------------------------------------------------------------

LOOKALIKE = "upl\u043eads"  # Cyrillic o


def refused_params(root: Path) -> list[tuple[object, str]]:
    return [
        (f"{root}/../../etc", "bad_parameter"),
        (f"{root}/sub/..", "bad_parameter"),  # lexically the configured dir, still refused
        (f"{root}/..", "bad_parameter"),
        ("/etc", "not_allowed"),
        (str(root.parent), "not_allowed"),
        (f"{root}/sub", "not_allowed"),
        (str(root).lstrip("/"), "bad_parameter"),
        ("uploads", "bad_parameter"),
        (f"{root}\0", "bad_parameter"),
        ("/" + "a" * 5000, "bad_parameter"),
        (str(root.parent / LOOKALIKE), "not_allowed"),
        (str(root).replace("/", "\uff0f"), "bad_parameter"),  # fullwidth solidus
        (f"{root}; rm -rf /", "not_allowed"),
        (f"$(reboot){root}", "bad_parameter"),
        (b"/tmp", "bad_parameter"),
        (None, "bad_parameter"),
        ([str(root)], "bad_parameter"),
    ]


def test_escapes_and_paths_not_configured_are_refused_with_nothing_deleted(
    root: Path, tmp_path: Path
) -> None:
    write(root / "old.bin", 4, OLD)
    sandbox = sandbox_for([root], tmp_path / "work")

    for value, reason in refused_params(root):
        with pytest.raises(Refused) as refused:
            CLEAR_TEMP.validate({"dir": value}, sandbox.config)
        assert (value, refused.value.reason) == (value, reason)
        result = CLEAR_TEMP.run({"dir": value}, sandbox)  # run checks again on its own
        assert (value, result.ok, result.data) == (value, False, {"refused": reason})

    assert (root / "old.bin").is_file()


def test_other_parameters_and_an_empty_allowlist_are_refused(root: Path, tmp_path: Path) -> None:
    config = sandbox_for([root], tmp_path).config
    with pytest.raises(Refused, match="only 'dir', not rm") as extra:
        CLEAR_TEMP.validate({"dir": str(root), "rm": "-rf"}, config)
    with pytest.raises(Refused, match=r"actions\.clear_temp\.dirs is empty") as empty:
        CLEAR_TEMP.validate({}, ActionsConfig())
    assert (extra.value.reason, empty.value.reason) == ("bad_parameter", "not_configured")


@pytest.mark.parametrize("spelling", ["{root}/", "{root}/.", "{root}//", "{parent}//uploads/./"])
def test_harmless_spellings_of_a_configured_dir_are_normalized(
    root: Path, tmp_path: Path, spelling: str
) -> None:
    given_path = spelling.format(root=root, parent=root.parent)
    config = sandbox_for([root], tmp_path).config

    assert CLEAR_TEMP.validate({"dir": given_path}, config) == {"dir": str(root)}


# -- other filesystems --------------------------------------------------------------------------


@contextmanager
def mounted(*argv: str) -> Iterator[None]:
    """Run ``mount ARGV``; skip the test, saying why, where this host does not allow it."""
    point = argv[-1]
    try:
        done = subprocess.run(["mount", *argv], capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        pytest.skip("the mount program is not installed, so no second filesystem can be made")
    if done.returncode != 0:
        why = done.stderr.strip() or f"exit {done.returncode}"
        pytest.skip(f"this test may not mount (it needs root or CAP_SYS_ADMIN): {why}")
    try:
        yield
    finally:
        subprocess.run(["umount", point], capture_output=True, timeout=10, check=True)


@pytest.mark.parametrize("mountinfo", ["/proc/self/mountinfo", "empty"])
def test_files_on_a_tmpfs_mounted_inside_are_not_touched(
    root: Path, tmp_path: Path, mountinfo: str
) -> None:
    """With an empty mountinfo the device check alone must keep the walk out."""
    point = root / "mnt"
    point.mkdir()
    write(root / "old.bin", 3, OLD)
    (tmp_path / "empty").write_bytes(b"")
    action = ClearTemp(mountinfo=tmp_path / mountinfo)
    with mounted("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(point)):
        write(point / "on-tmpfs.bin", 9, OLD)
        write(point / "sub" / "deeper.bin", 9, OLD)

        result = action.run({}, sandbox_for([root], tmp_path / "work"))

        assert sorted(p.name for p in point.iterdir()) == ["on-tmpfs.bin", "sub"]
        assert (point / "sub" / "deeper.bin").is_file()
    assert result.ok, result.detail
    assert (result.data["removed"], result.data["skipped_other_fs"]) == (["old.bin"], 1)


def test_a_bind_mount_of_the_same_filesystem_is_not_crossed(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    point = root / "bound"
    point.mkdir()
    before = snapshot(outside)
    with mounted("--bind", str(outside), str(point)):
        assert point.stat().st_dev == root.stat().st_dev  # the device check alone would enter

        result = run(root, tmp_path)

    assert snapshot(outside) == before
    assert result.ok, result.detail
    assert (result.data["files"], result.data["skipped_other_fs"]) == (0, 1)


# -- check-then-use: the walk goes through directory descriptors --------------------------------


def test_it_only_opens_bare_names_without_following_and_never_a_symlinked_directory(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    write(root / "a" / "b" / "old", 1, OLD)
    link(root / "a" / "linkdir", outside / "deep")
    events: list[tuple[str, tuple[Any, ...]]] = []

    def record(event: str, args: tuple[Any, ...]) -> None:
        if event in ("open", "os.remove", "os.scandir", "os.rmdir", "os.rename", "os.mkdir"):
            events.append((event, args))

    with listening(record):
        result = run(root, tmp_path)

    assert result.ok, result.detail
    opened = [args for event, args in events if event == "open" and args[1] is None]
    assert all(flags & os.O_NOFOLLOW and flags & os.O_DIRECTORY for _, _, flags in opened)
    assert all(path == "/" or "/" not in path for path, _, _ in opened)
    assert "linkdir" not in [path for path, _, _ in opened]
    assert all(isinstance(args[0], int) for event, args in events if event == "os.scandir")
    # Taken aside into a private dir made in the root, by bare names relative to descriptors,
    # unlinked there, and the private dir (the only directory removed) removed at the end.
    made = [args for event, args in events if event == "os.mkdir"]
    assert len(made) == 1 and made[0][0].startswith(PREFIX) and isinstance(made[0][2], int)
    renamed = [args for event, args in events if event == "os.rename"]
    assert [(src, dst) for src, dst, _, _ in renamed] == [("old", "1")]
    assert all(isinstance(fd, int) for _, _, *fds in renamed for fd in fds)
    removed = [args for event, args in events if event == "os.remove"]
    assert [name for name, _ in removed] == ["1"]
    assert isinstance(removed[0][1], int)  # unlinked relative to a directory descriptor
    assert [args[0] for event, args in events if event == "os.rmdir"] == [made[0][0]]
    assert sorted(p.name for p in root.iterdir()) == ["a"]
    assert (outside / "deep" / "data.bin").is_file()


def test_a_subdirectory_swapped_for_a_symlink_before_it_is_opened_is_not_followed(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    write(root / "sub" / "old", 1, OLD)
    before = snapshot(outside)
    swapped: list[str] = []

    def swap(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and args[0] == "sub" and not swapped:
            swapped.append("sub")
            (root / "sub").rename(root / "moved")
            (root / "sub").symlink_to(outside)

    with listening(swap):
        result = run(root, tmp_path)

    assert swapped == ["sub"]
    assert snapshot(outside) == before
    assert (root / "sub").is_symlink()
    assert not result.ok
    assert result.data["errors"][0].startswith("sub: it, or a directory above it, is a symlink")


def test_a_file_swapped_for_a_symlink_at_deletion_loses_only_the_link(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    write(root / "victim", 1, OLD)
    swapped: list[str] = []

    def swap(event: str, args: tuple[Any, ...]) -> None:
        if event == "os.rename" and args[0] == "victim" and not swapped:
            swapped.append("victim")
            (root / "victim").rename(tmp_path / "kept")
            (root / "victim").symlink_to(outside / "secret.txt")

    with listening(swap):
        result = run(root, tmp_path)

    assert swapped == ["victim"]
    assert (outside / "secret.txt").read_bytes() == b"x" * 6
    assert (tmp_path / "kept").read_bytes() == b"x"
    # The link that arrived at the last moment was not ours to delete: it is back.
    assert (root / "victim").readlink() == outside / "secret.txt"
    assert (result.data["files"], result.data["changed"]) == (0, 1)


def test_an_old_file_written_to_just_before_its_removal_is_kept(root: Path, tmp_path: Path) -> None:
    write(root / "part.bin", 3, OLD)

    def append(event: str, args: tuple[Any, ...]) -> None:
        if event == "os.rename" and args[0] == "part.bin":
            with (root / "part.bin").open("ab") as f:  # the upload resumed: mtime is now
                f.write(b"more")

    with listening(append):
        result = run(root, tmp_path)

    assert (root / "part.bin").read_bytes() == b"xxxmore"
    assert result.ok, result.detail
    assert (result.data["files"], result.data["changed"]) == (0, 1)
    assert sorted(p.name for p in root.iterdir()) == ["part.bin"]  # no private dir left


def test_a_directory_moved_onto_a_checked_name_is_moved_back(root: Path, tmp_path: Path) -> None:
    write(root / "job", 1, OLD)

    def swap(event: str, args: tuple[Any, ...]) -> None:
        if event == "os.rename" and args[0] == "job" and (root / "job").is_file():
            (root / "job").unlink()
            write(root / "job" / "inside.txt", 2, OLD)

    with listening(swap):
        result = run(root, tmp_path)

    assert (root / "job" / "inside.txt").read_bytes() == b"xx"
    assert (result.data["files"], result.data["changed"]) == (0, 1)


def test_a_file_put_back_onto_a_name_taken_again_is_kept_aside_and_said(
    root: Path, tmp_path: Path
) -> None:
    write(root / "chunk", 1, OLD)
    uploads: list[str] = []

    def uploads_land(event: str, args: tuple[Any, ...]) -> None:
        # A young upload lands before clear_temp takes the name, and another before it
        # puts the first back (renameat2 is looked up in libc just before the call).
        taking = event == "os.rename" and args[0] == "chunk"
        putting_back = event == "ctypes.dlsym" and args[1] == "renameat2"
        if (taking or putting_back) and len(uploads) < 2:
            uploads.append(event)
            write(root / ".incoming", 4 + len(uploads), YOUNG).rename(root / "chunk")

    with listening(uploads_land):
        result = run(root, tmp_path)

    assert uploads == ["os.rename", "ctypes.dlsym"]
    assert (root / "chunk").read_bytes() == b"x" * 6  # the newest upload has the name
    private = [p for p in root.iterdir() if p.name.startswith(PREFIX)]
    assert len(private) == 1 and (private[0] / "1").read_bytes() == b"x" * 5  # and none is lost
    assert not result.ok
    assert result.data["errors"] == [
        "chunk: changed meanwhile, not put back (its name was taken again meanwhile): "
        f"kept as {private[0].name}/1"
    ]
    # The next run leaves that directory to a person, and says so.
    again = run(root, tmp_path)
    assert (private[0] / "1").read_bytes() == b"x" * 5
    assert again.ok and again.data["left_aside"] == [private[0].name]
    assert f"left for a person: {private[0].name}" in again.detail


def test_where_renameat2_is_missing_a_file_is_put_back_with_a_hard_link(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The only fake here: a filesystem without RENAME_NOREPLACE (EINVAL) is not at hand."""

    def unsupported(*args: object) -> None:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    monkeypatch.setattr(quarantine, "_rename_noreplace", unsupported)
    write(root / "chunk", 1, OLD)

    def upload_lands(event: str, args: tuple[Any, ...]) -> None:
        if event == "os.rename" and args[0] == "chunk":
            write(root / ".incoming", 5, YOUNG).rename(root / "chunk")

    with listening(upload_lands):
        result = run(root, tmp_path)

    assert (root / "chunk").read_bytes() == b"x" * 5
    assert (root / "chunk").stat().st_nlink == 1
    assert result.ok and (result.data["files"], result.data["changed"]) == (0, 1)
    assert sorted(p.name for p in root.iterdir()) == ["chunk"]


def test_a_private_dir_swapped_between_mkdir_and_open_is_not_used(
    root: Path, tmp_path: Path
) -> None:
    """The app owns the temp dir, so it may rename our new directory and make its own."""
    root.chmod(0o777)
    write(root / "vault" / "secret", 6, OLD)
    (root / "vault").chmod(0o700)
    swapped: list[str] = []

    def attacker(event: str, args: tuple[Any, ...]) -> None:
        name = args[0] if event == "open" and isinstance(args[0], str) else ""
        if name.startswith(PREFIX) and not swapped:
            swapped.append(name)
            (root / name).rename(root / "ours-moved")
            (root / name).mkdir()
            os.chown(root / name, 65534, 65534)  # nobody's, as the app's would be
            (root / name).chmod(0o700)

    with listening(attacker):
        result = run(root, tmp_path)

    assert swapped
    assert (root / "vault" / "secret").read_bytes() == b"x" * 6  # neither moved nor deleted
    assert list((root / swapped[0]).iterdir()) == []
    assert not result.ok
    assert "replaced between mkdir and open" in result.data["errors"][0]


def test_private_dirs_of_earlier_runs_are_skipped_but_lookalikes_are_walked(
    root: Path, tmp_path: Path
) -> None:
    write(root / f"{PREFIX}left" / "1", 1, OLD).parent.chmod(0o700)  # a crash left it
    write(root / f"{PREFIX}fake" / "old", 2, OLD).parent.chmod(0o755)  # anyone may read it

    result = run(root, tmp_path)

    assert (root / f"{PREFIX}left" / "1").exists()
    assert not (root / f"{PREFIX}fake" / "old").exists()
    assert result.ok and result.data["left_aside"] == [f"{PREFIX}left"]
    assert result.data["removed"] == [f"{PREFIX}fake/old"]


def test_on_a_full_disk_old_files_are_still_removed(root: Path, tmp_path: Path) -> None:
    """No room for the private dir (no inode left on a tiny tmpfs): files are unlinked directly."""
    with mounted("-t", "tmpfs", "-o", "size=1m,nr_inodes=8", "tmpfs", str(root)):
        made = 0
        with contextlib.suppress(OSError):
            while made < 16:
                write(root / f"old{made}", 1, OLD)
                made += 1
        assert 0 < made < 16  # the inodes ran out
        with pytest.raises(OSError):
            (root / "probe").mkdir()

        result = run(root, tmp_path)

        assert result.ok, result.detail
        assert result.data["files"] == made and result.data["unlinked_directly"] >= 1
        assert list(root.iterdir()) == []


# -- bounds -------------------------------------------------------------------------------------


def test_a_walk_deeper_than_32_levels_stops_there_and_says_so(root: Path, tmp_path: Path) -> None:
    bottom = root.joinpath(*(f"d{level}" for level in range(34)))
    write(bottom / "old", 1, OLD)
    write(root / "d0" / "old", 2, OLD)

    result = run(root, tmp_path)

    assert not result.ok
    assert result.data["bounds"] == ["1 directories below 32 levels not entered"]
    assert (bottom / "old").is_file()
    assert result.data["removed"] == ["d0/old"]


def test_a_walk_past_its_entry_bound_stops_and_says_so(root: Path, tmp_path: Path) -> None:
    for number in range(8):
        write(root / f"f{number}", 1, OLD)

    result = ClearTemp(max_entries=5).run({}, sandbox_for([root], tmp_path / "work"))

    assert not result.ok
    assert result.data["bounds"] == ["stopped after 5 entries"]
    assert result.data["files"] == 5
    assert len(list(root.iterdir())) == 3
    assert result.detail.startswith("incomplete: stopped after 5 entries; removed 5 files")


# -- dry run ------------------------------------------------------------------------------------


def test_a_dry_run_deletes_nothing_and_reports_what_a_real_run_does(
    root: Path, tmp_path: Path
) -> None:
    write(root / "a" / "old", 10, OLD)
    write(root / "old", 20, OLD)
    write(root / "young", 30, YOUNG)
    link(root / "link", root / "old")
    before = snapshot(root)

    dry = run(root, tmp_path, dry_run=True)
    assert snapshot(root) == before
    real = run(root, tmp_path)

    assert dry.detail == f"dry run: would remove 2 files (30 bytes) from {root}"
    assert {**dry.data, "dry_run": False} == real.data
    assert real.data["bytes"] == 30


# -- property: nothing outside the root, and no directory, is ever removed ------------------------

NAMES = st.text(alphabet="ab .-é\n", min_size=1, max_size=6).filter(lambda n: n not in (".", ".."))
ENTRY = st.tuples(
    st.integers(0, 50),  # which directory made so far holds it
    st.sampled_from(["file", "dir", "link"]),
    NAMES,
    st.booleans(),  # old
    st.integers(0, 64),  # size
    st.integers(0, 50),  # which link target
)


def build(
    root: Path, outside: Path, entries: list[tuple[int, str, str, bool, int, int]]
) -> set[str]:
    """Make the tree; return the relative paths of the old regular files (what should go)."""
    dirs, made, old = [root], [root], set()
    targets_outside: list[Path | str] = [outside / "secret.txt", outside / "deep", outside, "/"]
    for holder, kind, name, is_old, size, target in entries:
        path = dirs[holder % len(dirs)] / name
        if path.exists() or path.is_symlink():
            continue
        if kind == "dir":
            path.mkdir()
            dirs.append(path)
        elif kind == "file":
            write(path, size, OLD if is_old else YOUNG)
            if is_old:
                old.add(str(path.relative_to(root)))
        else:
            choices = [*targets_outside, "..", "../..", "missing", root, *made]
            link(path, choices[target % len(choices)])
        made.append(path)
    return old


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(ENTRY, max_size=18))
def test_no_random_tree_loses_anything_outside_the_root_or_any_directory(
    entries: list[tuple[int, str, str, bool, int, int]],
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        top = Path(scratch)
        root, outside = top / "uploads", top / "outside"
        root.mkdir()
        write(outside / "secret.txt", 6, OLD)
        write(outside / "deep" / "data.bin", 7, OLD)
        expected = build(root, outside, entries)
        outside_before, inside_before = snapshot(outside), snapshot(root)

        dry = run(root, top, dry_run=True)
        assert snapshot(root) == inside_before
        real = run(root, top)

        assert real.ok, real.detail
        assert snapshot(outside) == outside_before
        inside_after = snapshot(root)
        assert set(real.data["removed"]) == expected
        assert inside_after == {k: v for k, v in inside_before.items() if k not in expected}
        assert {**dry.data, "dry_run": False} == real.data
