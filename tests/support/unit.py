"""What systemd/calmopsd.service sets for the daemon, for tests and benches that run it
as the unit does."""

from __future__ import annotations

from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "calmopsd.service"


def unit_assignments() -> list[str]:
    """The unit's ``Environment=`` assignments, as written."""
    return [
        line.removeprefix("Environment=")
        for line in UNIT.read_text(encoding="utf-8").splitlines()
        if line.startswith("Environment=")
    ]


def unit_environment() -> dict[str, str]:
    """The unit's ``Environment=`` variables (NAME → value)."""
    return dict(assignment.partition("=")[::2] for assignment in unit_assignments())
