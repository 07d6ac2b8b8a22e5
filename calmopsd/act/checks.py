"""The checks every request passes before anything runs, one shape, read top to bottom.

The kill switch comes first, before parameters are even validated; the rest
are ``check(request, context) -> None`` and raise
:class:`~calmopsd.act.action.Refused` with a reason code. A person's approval
(``request.approved_by``) passes the budget, cooldown and ineffective checks —
they exist to stop *automatic* loops — but never the kill switch or an allowlist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from calmopsd.act.action import Action, Refused
from calmopsd.config.actions import ActionsConfig, Budget
from calmopsd.config.units import format_duration
from calmopsd.model import ActionRequest, RefusalReason
from calmopsd.record.actions import REAL_RUN_KINDS, RUN_KINDS, is_ineffective, runs_since
from calmopsd.record.database import Database


@dataclass(frozen=True)
class Context:
    """What the checks read: the config, the store, the pause flag, the time."""

    config: ActionsConfig
    database: Database
    pause_flag: Path
    now: datetime
    action: Action
    params: dict[str, Any]
    target: str

    @property
    def budget(self) -> Budget:
        section: Budget = getattr(self.config, self.action.name.value)
        return section

    @property
    def shadow(self) -> bool:
        return (self.budget.mode or self.config.mode) == "shadow"

    def runs_since(self, since: datetime) -> list[datetime]:
        """Real runs always count; shadowed and dry ones only while in shadow or dry-run
        mode, so such a period decides as enforcing would, and enforcing starts from real
        runs."""
        kinds = RUN_KINDS if self.shadow else REAL_RUN_KINDS
        return runs_since(
            self.database, self.action.name, self.target, since, kinds,
            dry_runs=self.config.dry_run,
        )  # fmt: skip

    @property
    def ran(self) -> str:
        return "ran or would have run" if self.shadow or self.config.dry_run else "ran"


def kill_switch(config: ActionsConfig, pause_flag: Path) -> None:
    """First of all, before parameters are even looked at."""
    if config.paused:
        raise Refused(RefusalReason.PAUSED, "actions are paused in the config (actions.paused)")
    if pause_flag.exists():
        raise Refused(RefusalReason.PAUSED, "actions are paused (calmopsd actions resume lifts it)")


def budget(request: ActionRequest, c: Context) -> None:
    if request.approved_by:
        return
    b = c.budget
    runs = c.runs_since(c.now - b.window)
    if len(runs) >= b.max_runs:
        raise Refused(
            RefusalReason.BUDGET_SPENT,
            f"{c.action.name} on {c.target} {c.ran} {len(runs)} times in the last "
            f"{format_duration(b.window)} (budget {b.max_runs})",
        )


def cooldown(request: ActionRequest, c: Context) -> None:
    if request.approved_by:
        return
    b = c.budget
    recent = c.runs_since(c.now - b.cooldown)
    if recent:
        raise Refused(
            RefusalReason.COOLDOWN,
            f"{c.action.name} on {c.target} {c.ran} at {recent[-1]:%H:%M:%S}; "
            f"cooldown {format_duration(b.cooldown)}",
        )


def ineffective(request: ActionRequest, c: Context) -> None:
    if request.approved_by or request.incident_id is None:
        return
    if is_ineffective(c.database, request.incident_id, c.action.name):
        raise Refused(
            RefusalReason.INEFFECTIVE,
            f"{c.action.name} did not hold for this incident before; a person decides now",
        )


def own_organization(request: ActionRequest, c: Context) -> None:
    """An organization's incident acts on that organization alone: its request may not
    limit another organization's uploads (an approval does not lift this)."""
    named = c.params.get("organization")
    if named is None or request.organization_id is None or named == request.organization_id:
        return
    raise Refused(
        RefusalReason.BAD_PARAMETER,
        f"an incident of organization {request.organization_id} cannot act on organization {named}",
    )


CHECKS: tuple[Callable[[ActionRequest, Context], None], ...] = (
    own_organization,
    budget,
    cooldown,
    ineffective,
)
