"""Who hears about incidents (``notify:``): targets and how notices are grouped.

Each target is an apprise URL (Slack, Teams, email over SMTP, Telegram, a generic
JSON webhook, …) with the incidents it is for: one organization's, or every
incident when it names none, from a least severity up. Notices are grouped per
incident the way Alertmanager groups alerts: the first after ``group_wait``, changes
batched per ``group_interval``, a reminder every ``repeat_interval`` while open.
A URL usually holds a secret (a webhook path, an SMTP password): it is never logged
or shown in an error, only the target's ``name``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, Literal

from calmopsd.config.section import Section
from calmopsd.config.unique import each_name_once
from calmopsd.config.units import Name, PositiveDuration, shown
from calmopsd.typed import AfterValidator, CrossCheck, Field, HttpUrl, Problems, across_items

_ORGANIZATION = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://\S+")

LeastSeverity = Literal["info", "warning", "critical"]


def _apprise_takes(url: str) -> bool:
    """Whether apprise makes a sender of ``url`` (imported only when a target is set:
    apprise and its plugins cost memory a host without targets should not pay)."""
    import apprise

    quiet_apprise()
    return apprise.Apprise.instantiate(url, suppress_exceptions=True) is not None


def quiet_apprise() -> None:
    """Keep apprise's own log lines out of calmopsd's journal: they quote the URL, secret
    and all. calmopsd says what failed itself (the sender captures apprise's reason and
    takes the URL out of it)."""
    logger = logging.getLogger("apprise")
    if not logger.propagate:
        return
    logger.addHandler(logging.NullHandler())  # not Python's last-resort handler on stderr
    logger.propagate = False


def _apprise_url(value: str) -> str:
    match = _SCHEME.fullmatch(value.strip())
    if match is None:
        # The value may be a secret: say its shape, never the value.
        raise ValueError("must be an apprise URL, SCHEME://…, e.g. mailto://… or json://…")
    if not _apprise_takes(value.strip()):
        scheme = match.group("scheme").lower()
        raise ValueError(
            f"apprise cannot send to this {scheme}:// URL: an unknown service, or a part "
            "it needs is missing (see apprise's page for the service)"
        )
    return value.strip()


def _organization_id(value: str) -> str:
    if not _ORGANIZATION.fullmatch(value):
        raise ValueError(
            "must be an organization id: 1-63 lowercase letters, digits, '-' or '_' "
            f"(got {shown(value)})"
        )
    return value


AppriseUrl = Annotated[str, AfterValidator(_apprise_url)]
"""An apprise URL (checked by apprise itself); never quoted in an error."""
OrganizationId = Annotated[str, AfterValidator(_organization_id)]


class NotifyTargetConfig(Section):
    """One place notices go: its name, its apprise URL, and which incidents it hears of."""

    name: Name = Field(description="Names the target in logs, the outbox and metrics.")
    url: AppriseUrl = Field(
        description="Where to send, as an apprise URL (mailto://…, slack://…, json://host/path, "
        "…); may hold a secret, so it is never logged."
    )
    organization: OrganizationId | None = Field(
        default=None,
        description="Only this organization's incidents; empty: every incident, the "
        "platform's and every organization's.",
    )
    min_severity: LeastSeverity = Field(
        default="warning",
        description="The least severity notified: info, warning or critical. An incident "
        "that escalates to it is notified then.",
    )
    max_per_hour: int = Field(
        default=20,
        ge=1,
        le=3600,
        description="At most this many notices to this target in any hour; more wait.",
    )


def unique_names(what: str) -> Callable[[list[tuple[int, Any]]], None]:
    """A list's check that each item's ``name`` is its own (``what``: "target", "channel")."""

    return each_name_once(
        lambda name, first, index: (
            f"{what} name {name!r} is used by {what}s {first} and {index}; give each its own"
        )
    )


Targets = Annotated[
    list[NotifyTargetConfig],
    across_items(unique_names("target")),
]


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class WeeklySummaryConfig(Section):
    """The weekly stability summary, sent through the notifier: the last whole ISO week's
    (UTC), once per target and week, an organization's target its own organization's."""

    enabled: bool = Field(default=False, description="Send the weekly summary.")
    day: Weekday = Field(
        default="monday", description="The day it goes out (UTC), for the week that just ended."
    )
    hour: int = Field(default=8, ge=0, le=23, description="The hour it goes out (UTC, 0-23).")
    targets: list[Name] = Field(
        default_factory=list,
        description="Names of notify.targets it goes to; empty: every target.",
    )


class NotifyConfig(Section):
    """Notifications: where they go, and how they are grouped and retried."""

    targets: Targets = Field(
        default_factory=list, description="Where notices go; empty: nobody is notified."
    )
    group_wait: PositiveDuration = Field(
        default=timedelta(seconds=30),
        description="How long after an incident opens its first notice waits, so what "
        "follows at once (its first action) goes in it; one resolved sooner is never notified.",
    )
    group_interval: PositiveDuration = Field(
        default=timedelta(minutes=5),
        description="Changes to an incident already notified are sent together, at most "
        "once per this interval.",
    )
    repeat_interval: PositiveDuration = Field(
        default=timedelta(hours=4),
        description="While an incident stays unresolved and unchanged, a reminder this often.",
    )
    give_up_after: PositiveDuration = Field(
        default=timedelta(hours=6),
        description="A notice not delivered by then is given up (recorded, never sent).",
    )
    dashboard_url: HttpUrl | None = Field(
        default=None,
        description="The dashboard's address as people reach it (http://host:port); notices "
        "link to the incident's page there. Empty: no link.",
    )
    weekly_summary: WeeklySummaryConfig = Field(
        default_factory=WeeklySummaryConfig,
        description="The weekly stability summary through these targets (off by default).",
    )

    def _known_targets(self) -> None:
        known = {t.name for t in self.targets}
        found = [
            (("weekly_summary", "targets", index), f"names {name!r}, not among notify.targets")
            for index, name in enumerate(self.weekly_summary.targets)
            if name not in known
        ]
        if found:
            raise Problems(found)

    cross_checks = (CrossCheck(("targets", "weekly_summary"), _known_targets),)
