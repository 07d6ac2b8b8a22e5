"""What one check found: a status, what it is about, and the command that fixes it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """``ok``: nothing to do; ``warn``: look at it, the daemon runs; ``fail``: it will not work."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"

    @property
    def label(self) -> str:
        """As the doctor prints it: ``ok``, ``warn``, ``FAIL`` (a failure stands out)."""
        return "FAIL" if self is Status.FAIL else self.value


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's answer. ``fix`` is the command (or the one edit) that
    fixes the problem; an ``ok`` finding has none."""

    check: str
    status: Status
    what: str
    fix: str | None = None

    def line(self) -> str:
        """``STATUS  check: what — fix: COMMAND`` on one line."""
        text = f"{self.status.label:<4}  {self.check}: {self.what}"
        return f"{text} — fix: {self.fix}" if self.fix else text

    def as_json(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status.value, "what": self.what,
                "fix": self.fix}  # fmt: skip


def ok(check: str, what: str) -> Finding:
    return Finding(check, Status.OK, what)


def warn(check: str, what: str, fix: str | None = None) -> Finding:
    return Finding(check, Status.WARN, what, fix)


def fail(check: str, what: str, fix: str | None = None) -> Finding:
    return Finding(check, Status.FAIL, what, fix)
