"""The helper's check of an undo record: only what its own allowlists name may be undone.

The daemon keeps undo records in its store and sends them back to revert. To the
helper, a record is a request like any other: the daemon could have been made to
send anything. So before an action's own ``revert`` reads it (and that code checks
again, with the record never vouched for), the record must name exactly what the
helper's config allows: the configured include or map file, an organization id,
apps from ``actions.pause_jobs.apps``, the configured flag file — and no other key.
"""

from __future__ import annotations

from typing import Any

from calmopsd.act.action import Refused
from calmopsd.config.actions import ActionsConfig
from calmopsd.config.units import shown
from calmopsd.model import RefusalReason, SafeAction
from calmopsd.record.scope import ORGANIZATION_ID

_HOST_WIDE = frozenset({"path", "existed", "content", "mode"})
_ONE_ORGANIZATION = frozenset({"path", "organization"})
_PAUSE = frozenset({"apps", "flag_file", "missing"})


def check(action: SafeAction, undo: dict[str, Any], config: ActionsConfig) -> None:
    """Nothing, or :class:`Refused` saying what in ``undo`` the helper's config does not allow."""
    if action is SafeAction.RATE_LIMIT_UPLOADS:
        _rate_limit(undo, config)
    elif action is SafeAction.PAUSE_JOBS:
        _pause(undo, config)
    else:
        raise Refused(RefusalReason.NOT_ALLOWED, f"{action} is not reversible")


def _rate_limit(undo: dict[str, Any], config: ActionsConfig) -> None:
    settings = config.rate_limit_uploads
    if "organization" in undo:
        _only(undo, _ONE_ORGANIZATION)
        _same_path(undo.get("path"), settings.organizations_map_file, "organizations_map_file")
        organization = undo.get("organization")
        if not isinstance(organization, str) or not ORGANIZATION_ID.fullmatch(organization):
            raise Refused(
                RefusalReason.BAD_PARAMETER,
                f"the undo record's organization {_said(organization)} is not an organization id",
            )
        return
    _only(undo, _HOST_WIDE)
    _same_path(undo.get("path"), settings.include_file, "include_file")


def _pause(undo: dict[str, Any], config: ActionsConfig) -> None:
    section = config.pause_jobs
    _only(undo, _PAUSE)
    apps, missing, flag = undo.get("apps") or [], undo.get("missing") or [], undo.get("flag_file")
    for named, what in ((apps, "apps"), (missing, "missing")):
        if not isinstance(named, list) or not all(isinstance(app, str) for app in named):
            raise Refused(RefusalReason.BAD_PARAMETER, f"the undo record's {what} is not a list")
    outside = [app for app in [*apps, *missing] if app not in section.apps]
    if outside:
        listed = ", ".join(_said(app) for app in outside[:5])
        raise Refused(RefusalReason.NOT_ALLOWED, f"{listed} not in actions.pause_jobs.apps")
    if flag is not None:
        _same_path(flag, section.flag_file, "pause_jobs.flag_file")


def _only(undo: dict[str, Any], keys: frozenset[str]) -> None:
    extra = sorted(_said(key) for key in undo if key not in keys)
    if extra:
        raise Refused(
            RefusalReason.BAD_PARAMETER, f"the undo record has unknown keys: {', '.join(extra[:5])}"
        )


def _same_path(path: object, configured: object, setting: str) -> None:
    """The path a record names must be, as text, exactly the one configured now."""
    if configured is None:
        raise Refused(RefusalReason.NOT_CONFIGURED, f"{setting} is not set in the helper's config")
    if path != str(configured):
        raise Refused(
            RefusalReason.NOT_ALLOWED,
            f"the undo record names {_said(path)}, not {setting} ({configured})",
        )


def _said(value: object, limit: int = 80) -> str:
    text = shown(value) if isinstance(value, str | int | bool) or value is None else "?"
    return text if len(text) <= limit else text[: limit - 1] + "…"
