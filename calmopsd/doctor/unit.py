"""A systemd unit file as the doctor reads it: its directives (drop-ins included), what
it lets the service write, and where the doctor finds the units.

Only what the checks need is modelled, with systemd's own rules for it: a later
assignment of a single-valued directive wins; list directives (``ReadWritePaths=``,
``SupplementaryGroups=``, ``Environment=``…) add up, and an empty assignment empties
them. Drop-ins are ``UNIT.d/*.conf`` beside the file, read after it in name order.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import calmopsd

DAEMON_UNIT = "calmopsd.service"
HELPER_UNIT = "calmopsd-helper.service"
INSTALLED = Path("/etc/systemd/system")
SHIPPED = Path(calmopsd.__file__).resolve().parents[1] / "systemd"
_TRUE = {"1", "yes", "true", "on"}
# ProtectSystem= values and the trees each makes read-only (strict: all but the API
# file systems and what the unit names writable).
_READ_ONLY = {"yes": ("/usr", "/boot", "/efi"), "full": ("/usr", "/boot", "/efi", "/etc")}
_PRIVATE_TMP = (PurePosixPath("/tmp"), PurePosixPath("/var/tmp"))  # noqa: S108  # only compared
_ALWAYS_WRITABLE = (PurePosixPath("/dev"), PurePosixPath("/proc"), PurePosixPath("/sys"))


@dataclass(frozen=True)
class Unit:
    path: Path
    lines: tuple[tuple[str, str], ...]  # (key, value) in the order systemd reads them

    @classmethod
    def read(cls, path: Path) -> Unit:
        """The unit at ``path`` and its drop-ins; OSError if the file cannot be read."""
        files = [path, *sorted(path.with_name(path.name + ".d").glob("*.conf"))]
        lines: list[tuple[str, str]] = []
        for file in files:
            for raw in file.read_text(encoding="utf-8").splitlines():
                line = raw.strip()
                if line and not line.startswith(("#", ";", "[")):
                    key, _, value = line.partition("=")
                    lines.append((key.strip(), value.strip()))
        return cls(path, tuple(lines))

    def last(self, key: str) -> str | None:
        """A single-valued directive: its last assignment, or None."""
        found = [value for name, value in self.lines if name == key]
        return found[-1] if found else None

    def words(self, key: str) -> list[str]:
        """A list directive: every word of every assignment since the last empty one."""
        words: list[str] = []
        for name, value in self.lines:
            if name == key:
                words = [*words, *shlex.split(value)] if value else []
        return words

    def flag(self, key: str) -> bool:
        return (self.last(key) or "").lower() in _TRUE

    @property
    def user(self) -> str | None:
        return self.last("User")

    def environment(self) -> dict[str, str]:
        """``Environment=`` as the service gets it (``EnvironmentFile=`` is not read)."""
        pairs = (word.partition("=") for word in self.words("Environment"))
        return {key: value for key, _, value in pairs if key}

    def in_private_tmp(self, path: Path) -> bool:
        """Whether ``path`` is in the service's own /tmp or /var/tmp (``PrivateTmp=yes``),
        not the one the rest of the host sees."""
        pure = PurePosixPath(path)
        return self.flag("PrivateTmp") and any(pure.is_relative_to(t) for t in _PRIVATE_TMP)

    def writable(self, path: Path) -> bool:
        """Whether ``ProtectSystem=``/``ProtectHome=`` leave ``path`` writable to the
        service (its own permissions aside)."""
        pure = PurePosixPath(path)
        if any(pure.is_relative_to(root) for root in self.writable_roots()):
            return True
        if self.in_private_tmp(path):
            return True
        home = (self.last("ProtectHome") or "no").lower()
        homes = ("/home", "/root", "/run/user")
        if (home in _TRUE or home in ("read-only", "tmpfs")) and any(
            pure.is_relative_to(h) for h in homes
        ):
            return False
        system = (self.last("ProtectSystem") or "no").lower()
        if system == "strict":
            return any(pure.is_relative_to(root) for root in _ALWAYS_WRITABLE)
        trees = _READ_ONLY.get("yes" if system in _TRUE else system, ())
        return not any(pure.is_relative_to(tree) for tree in trees)

    def writable_roots(self) -> list[PurePosixPath]:
        """``ReadWritePaths=`` and the directories systemd makes for the service."""
        roots = [PurePosixPath(w.lstrip("-+")) for w in self.words("ReadWritePaths")]
        for key, base in (
            ("StateDirectory", "/var/lib"), ("RuntimeDirectory", "/run"),
            ("LogsDirectory", "/var/log"), ("CacheDirectory", "/var/cache"),
        ):  # fmt: skip
            roots += [PurePosixPath(base) / word.split(":")[0] for word in self.words(key)]
        return roots


def units_dir(explicit: Path | None) -> Path | None:
    """Where the units are: ``explicit``, else the installed copies in /etc/systemd/system,
    else this checkout's ``systemd/``; None when there are none."""
    if explicit is not None:
        return explicit
    for where in (INSTALLED, SHIPPED):
        if (where / DAEMON_UNIT).is_file():
            return where
    return None


def read_unit(directory: Path | None, name: str) -> Unit | None:
    if directory is None:
        return None
    try:
        return Unit.read(directory / name)
    except OSError:
        return None
