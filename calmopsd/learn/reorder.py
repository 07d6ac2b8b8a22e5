"""A playbook reorder the history supports: a pure decision with a named reason.

When the last incidents of one problem (at least :data:`MIN_TIMES`, every one of those
read) were each fixed by an action the playbook lists *later*, after an earlier listed
one ran and did not hold, trying the later one first would have saved that step. That
is offered to a person as a recommendation with its evidence and the YAML diff of the
playbook — never applied: approving it records the decision, and the operator applies
the diff to the config file and reloads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from calmopsd.model import Learning

MIN_TIMES = 2


class ReorderReason(StrEnum):
    LATER_ACTION_FIXED_IT = "later_action_fixed_it"  # the offer's reason


@dataclass(frozen=True)
class Reorder:
    incident_type: str
    current: tuple[str, ...]
    proposed: tuple[str, ...]
    reason: ReorderReason
    evidence: tuple[str, ...]
    diff: str  # of config/calmops.yaml's playbook line, for a person to apply


def reorder(
    incident_type: str, current: Sequence[str], history: Sequence[Learning]
) -> Reorder | None:
    """The reorder ``history`` (newest first) supports for ``current``; None if none."""
    if len(history) < MIN_TIMES or len(current) < 2:
        return None
    fixes = {h.fix for h in history}
    if len(fixes) != 1 or None in fixes:
        return None
    fix = str(next(iter(fixes)))
    if fix not in current:
        return None
    ahead = [a for a in current[: current.index(fix)] if all(a in h.ineffective for h in history)]
    if not ahead:
        return None
    proposed = (fix, *(a for a in current if a != fix))
    ids = ", ".join(f"#{h.incident_id}" for h in history)
    evidence = (
        f"The last {len(history)} {incident_type} incidents of this problem ({ids}) were each "
        f"fixed by {fix}, listed after {', '.join(ahead)}.",
        f"Each time {', '.join(ahead)} ran first and did not hold.",
    )
    return Reorder(incident_type, tuple(current), proposed,
                   ReorderReason.LATER_ACTION_FIXED_IT, evidence,
                   playbook_diff(incident_type, current, proposed))  # fmt: skip


def playbook_diff(incident_type: str, current: Sequence[str], proposed: Sequence[str]) -> str:
    """A unified diff of the playbook line in config/calmops.yaml."""
    return "\n".join([
        "--- config/calmops.yaml",
        "+++ config/calmops.yaml (proposed)",
        "@@ playbook @@",
        " playbook:",
        f"-  {incident_type}: [{', '.join(current)}]",
        f"+  {incident_type}: [{', '.join(proposed)}]",
    ])  # fmt: skip
