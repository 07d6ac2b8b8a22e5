"""What the approval dialog shows: exactly what will run, and what is checked first.

For a safe action: the action, its target (the same one the executor counts budgets
and takes locks on — :data:`TARGETS` mirrors each action's ``target()``, and a test
holds the two together, since ``serve`` may not import ``act``), its parameters, the
budget left on that target (counted from the audit log as the executor counts it; a
person's approval is not held to it, but should know it is spent), and the re-checks
the approval runs before anything happens — in the order they run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calmopsd.config.actions import ActionsConfig, Budget
from calmopsd.config.units import format_duration
from calmopsd.model import Recommendation, SafeAction
from calmopsd.record.actions import REAL_RUN_KINDS, RUN_KINDS, runs_since
from calmopsd.record.database import Database

TARGETS: dict[SafeAction, Callable[[dict[str, Any]], str]] = {
    SafeAction.PM2_RESTART: lambda p: str(p.get("app", "")),
    SafeAction.NGINX_RELOAD: lambda p: "nginx",
    SafeAction.PAUSE_JOBS: lambda p: "jobs",
    SafeAction.RATE_LIMIT_UPLOADS: lambda p: (
        f"nginx:organization={p['organization']}" if "organization" in p else "nginx"
    ),
    SafeAction.CLEAR_TEMP: lambda p: str(p.get("dir", "all temp dirs")),
}


@dataclass(frozen=True)
class Preview:
    action: str
    target: str
    params: dict[str, Any]
    budget: str  # "2 of 3 runs left in 30m" in words
    mode: str  # enforce, shadow (would only record), dry run
    checks: list[str]


def preview(
    database: Database, actions: ActionsConfig, rec: Recommendation, now: datetime
) -> Preview | None:
    """What approving ``rec`` will do; None for a manual step (calmopsd runs nothing)."""
    if rec.kind != "safe_action" or rec.action is None:
        return None
    try:
        action = SafeAction(rec.action)
    except ValueError:
        return None
    target = TARGETS[action](rec.params)
    budget: Budget = getattr(actions, action.value)
    shadow = (budget.mode or actions.mode) == "shadow"
    ran = runs_since(database, action.value, target, now - budget.window,
                     RUN_KINDS if shadow else REAL_RUN_KINDS, dry_runs=actions.dry_run)  # fmt: skip
    left = max(budget.max_runs - len(ran), 0)
    spent = " (spent: your approval lifts it)" if left == 0 else ""
    mode = "shadow: recorded as would-run, nothing changes" if shadow else "enforce"
    if actions.dry_run:
        mode = "dry run: the commands are shown, not run"
    return Preview(
        action.value, target, dict(rec.params),
        f"{left} of {budget.max_runs} runs left on {target} in {format_duration(budget.window)}"
        f"{spent}",
        mode, checks(rec, actions),
    )  # fmt: skip


def checks(rec: Recommendation, actions: ActionsConfig) -> list[str]:
    """The re-checks an approval runs before anything happens, in their order."""
    found = ["the recommendation is still proposed (no one decided it meanwhile)"]
    if rec.expires_at is not None:
        found.append(f"it has not expired (it expires {rec.expires_at:%Y-%m-%d %H:%M} UTC)")
    if rec.preconditions.get("unresolved"):
        found.append("the incident is still unresolved")
    for rule, labels in rec.preconditions.get("firing", []):
        shown = ", ".join(f"{k}={v}" for k, v in labels) if labels else ""
        found.append(f"the breach {rule}{f' ({shown})' if shown else ''} still fires")
    if rec.kind == "safe_action":
        found += [
            "no action is running on this incident",
            "the kill switch is off" + (" (it is ON in the config now)" if actions.paused else ""),
            "the action's allowlist admits these parameters",
            "no other action holds the target's lock",
        ]
    return found
