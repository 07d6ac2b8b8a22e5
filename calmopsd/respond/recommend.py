"""What to ask a human, and whether an approval still makes sense.

:func:`propose` turns the agent's position on an incident into at most one
:class:`Proposal`: a manual step calmopsd never performs (roll back a deploy,
raise a memory limit, grow a disk) or a safe action beyond what the agent may
do alone (the executor refused it: budget spent). Each carries the
preconditions an approval re-checks with :func:`stale_reason`, so nobody acts
on an old picture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from calmopsd.model import (
    Incident,
    IncidentStatus,
    IncidentType,
    Labels,
    Recommendation,
    RefusalReason,
)
from calmopsd.respond.playbook import Hold, HoldReason, Step


@dataclass(frozen=True)
class Proposal:
    kind: str  # "manual" or "safe_action"
    rationale: str
    next_step: str  # the summary's "Next:" line, without its full stop
    action: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    preconditions: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str | None, str]:
        """Proposals with the same key are the same advice: made once per incident."""
        return (self.kind, self.action, self.rationale)


_MANUAL: dict[IncidentType, Callable[[dict[str, str]], tuple[str, str]]] = {
    IncidentType.MEMORY: lambda r: (
        f"Raise `{r['app']}`'s max_memory_restart, or look for a memory leak in it."
        if "app" in r
        else "Find what holds the host's memory; calmopsd has no app to restart for it.",
        f"approve raising `{r['app']}`'s max_memory_restart, or dismiss"
        if "app" in r
        else "find what holds the memory (top processes are in the evidence)",
    ),
    IncidentType.DISK: lambda r: (
        f"Grow the disk behind {r.get('mount', '/')} or move data off it; "
        "calmopsd never deletes data.",
        f"grow the disk behind {r.get('mount', '/')} or move data off it",
    ),
    IncidentType.UPLOAD: lambda r: (
        "Check the upload path (limits, storage backend); uploads still fail.",
        "check why uploads fail (limits, storage backend)",
    ),
    IncidentType.DEPENDENCY: lambda r: (
        f"Check {_named('dependency', r.get('probe'))}; calmopsd cannot repair a dependency.",
        f"check {_named('dependency', r.get('probe'))}",
    ),
    IncidentType.APP: lambda r: (
        (
            f"Read app `{r['app']}`'s error log (pm2 logs {r['app']} --err): it fails on "
            "its own, and restarting it again will not fix that."
        )
        if "app" in r
        else (
            f"Find the app behind {_named('health check', r.get('check'))} and read its error "
            "log (pm2 logs APP --err): PM2 says it is online, but it does not answer."
        ),
        f"read app `{r['app']}`'s error log (pm2 logs {r['app']} --err) and fix what makes it fail"
        if "app" in r
        else f"read the error log of the app behind {_named('health check', r.get('check'))} "
        "(pm2 logs APP --err)",
    ),
    IncidentType.NETWORK: lambda r: (
        "Check nginx and the path between nginx and the apps.",
        "check nginx and the path between nginx and the apps",
    ),
    IncidentType.DEPLOY: lambda r: (
        "Roll back the latest deploy; errors began inside its deploy window.",
        "decide whether to roll back the latest deploy, or dismiss",
    ),
}

_SAFE_WORDS = {
    "pm2_restart": "restart PM2 app `{app}`",
    "nginx_reload": "reload nginx",
    "pause_jobs": "pause background jobs",
    "rate_limit_uploads": "rate-limit uploads",
    "clear_temp": "clear old temp uploads",
}


def action_words(action: str, params: dict[str, Any]) -> str:
    """``pm2_restart {app: api}`` → "restart PM2 app `api`"."""
    if action == "rate_limit_uploads" and params.get("organization"):
        return f"rate-limit organization {params['organization']}'s uploads"
    try:
        return _SAFE_WORDS[action].format(**params)
    except KeyError:
        return action.replace("_", " ")


def _version(mark: Any) -> str | None:
    """``{"version": "1.4.0", "revision": "ab12…"}`` → "1.4.0 (ab12…)"; None when unknown."""
    if not isinstance(mark, dict):
        return None
    version = mark.get("version") if mark.get("version") not in (None, "N/A") else None
    revision = str(mark["revision"])[:12] if mark.get("revision") else None
    if version and revision:
        return f"{version} ({revision})"
    return version or revision


def _named(noun: str, name: str | None) -> str:
    return f"{noun} `{name}`" if name else f"the failing {noun}"


# Refusals a person's approval can lift (the agent's own limits), unlike an
# allowlist, the kill switch or a missing setting, which need a config change.
APPROVABLE = frozenset(
    {
        RefusalReason.BUDGET_SPENT,
        RefusalReason.COOLDOWN,
        RefusalReason.INEFFECTIVE,
        RefusalReason.BUSY,
    }
)


def propose(
    incident: Incident,
    resource: dict[str, str],
    series: list[tuple[str, Labels]],
    *,
    hold: Hold | None = None,
    refused: Step | None = None,
    refusal_reason: str | None = None,
    refusal_detail: str | None = None,
    shadowed: Step | None = None,
    deployed_app: str | None = None,
    deploy: dict[str, Any] | None = None,
    stabilized: bool = False,
) -> Proposal | None:
    """The one thing to ask a human now, if any."""
    firing = {
        "unresolved": True,
        "firing": [[rule, list(map(list, labels))] for rule, labels in series],
    }
    if refused is not None:
        words = action_words(refused.action, refused.params)
        if refusal_reason in APPROVABLE:
            return Proposal(
                "safe_action",
                f"{words.capitalize()}: calmopsd may not do it again on its own "
                f"({refusal_detail or refusal_reason}).",
                # Every safe action reaches every organization (serve/reach.py): on an
                # organization's incident only a super-admin may approve it.
                f"{'ask a super-admin to approve' if incident.organization_id else 'approve'}: "
                f"{words}, or dismiss",
                refused.action,
                refused.params,
                firing,
            )
        return Proposal(
            "manual",
            f"{words.capitalize()} by hand: calmopsd may not ({refusal_detail or 'refused'}).",
            f"{words} by hand, or allow it in actions: in the config",
            preconditions=firing,
        )
    if shadowed is not None:
        words = action_words(shadowed.action, shadowed.params)
        return Proposal(
            "manual",
            f"{words.capitalize()} by hand: calmopsd is in shadow mode and only records "
            "what it would do.",
            f"{words} by hand if it does not recover",
            preconditions=firing,
        )
    if incident.type is IncidentType.DEPLOY:
        app = f"`{deployed_app}`" if deployed_app else "the latest deploy"
        back = _version(deploy.get("from")) if deploy else None
        to = f" to {back}" if back else ""
        return Proposal(
            "manual",
            f"Roll back {app}{to}: server errors began inside its deploy window; "
            "calmopsd does not restart around a bad deploy.",
            f"decide whether to roll back {app}{to}, or dismiss",
            params={"app": deployed_app, **(deploy or {})} if deployed_app else {},
            preconditions={"unresolved": True},
        )
    advice = incident.type is IncidentType.MEMORY and stabilized and "app" in resource
    stuck = hold is not None and hold.reason is not HoldReason.DEPLOY_WINDOW
    if advice or stuck:
        rationale, next_step = _MANUAL[incident.type](resource)
        return Proposal("manual", rationale, next_step, preconditions={"unresolved": True})
    return None


def stale_reason(
    recommendation: Recommendation,
    incident: Incident | None,
    state_of: Callable[[str, Labels], str],
) -> str | None:
    """Why approving now would act on an old picture; None when it still holds.

    ``state_of(rule, labels)`` is the detector's current state of a series
    (``firing``, ``clearing``, ``ok`` …).
    """
    wants = recommendation.preconditions
    if incident is None:
        return "its incident is gone"
    if wants.get("unresolved") and incident.status is IncidentStatus.RESOLVED:
        return f"the incident was resolved ({incident.resolution or 'resolved'})"
    series = [
        (rule, tuple(tuple(pair) for pair in labels)) for rule, labels in wants.get("firing", [])
    ]
    if series and all(state_of(rule, labels) != "firing" for rule, labels in series):
        return "the breach it answered is no longer firing"
    return None
