"""How far each safe action's effect reaches: who may approve it.

An organization's operator may approve what acts on its organization alone; an
action whose effect reaches every organization on the host is a super-admin's
call. calmopsd's config assigns no PM2 app, nginx, upload zone or temp
directory to one organization — they are the host's, shared by all — so today
every safe action is host-wide, each for the reason below (the reason is what
the refusal says). An action that gains an organization-scoped form (a
per-organization upload limit) leaves this table for that form only.
An action name not in the table counts as host-wide: unknown is not narrow.
"""

from __future__ import annotations

from calmopsd.model import SafeAction

HOST_WIDE: dict[SafeAction, str] = {
    SafeAction.PM2_RESTART: "restarts a PM2 app that serves every organization",
    SafeAction.NGINX_RELOAD: "reloads the nginx that serves every organization",
    SafeAction.PAUSE_JOBS: "stops the background jobs of every organization",
    SafeAction.RATE_LIMIT_UPLOADS: "limits the uploads of every organization",
    SafeAction.CLEAR_TEMP: "deletes files from a temp directory every organization shares",
}


def host_wide(action: str | None) -> str | None:
    """Why ``action``'s effect reaches the whole host, or None when one organization's
    operator may approve it (no safe action today)."""
    try:
        known = SafeAction(action or "")
    except ValueError:
        return "is not an action calmopsd knows (taken as host-wide)"
    return HOST_WIDE.get(known)
