"""How incidents live (``incidents:``) and what the agent may try first (``playbook:``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from calmopsd.config.section import Section
from calmopsd.config.unique import each_once
from calmopsd.config.units import Duration, Percent, PositiveDuration
from calmopsd.model import SafeAction
from calmopsd.typed import Field, across_items


class IncidentsConfig(Section):
    """How incidents open, hold and close."""

    stale_after: PositiveDuration = Field(
        default=timedelta(hours=24),
        description="An incident with no new breach for this long resolves itself as "
        "stale_resolved (not proof of recovery; counted apart).",
    )
    reopen_within: Duration = Field(
        default=timedelta(hours=1),
        description="A breach of the same problem this soon after it resolved reopens the "
        "incident as flapping instead of opening a new one (0s: never reopen).",
    )
    flap_hold_growth: float = Field(
        default=1.5,
        ge=1.0,
        le=10.0,
        description="While an incident flaps, each reopening multiplies its clear hold "
        "(clear_for) by this factor.",
    )
    max_clear_hold: PositiveDuration = Field(
        default=timedelta(hours=1),
        description="The clear hold of a flapping incident never grows past this.",
    )
    deploy_window: Duration = Field(
        default=timedelta(minutes=15),
        description="After a PM2 version or revision change, server errors that begin within "
        "this window are a deploy incident: a rollback is recommended, nothing is restarted.",
    )
    monitor_for: PositiveDuration = Field(
        default=timedelta(minutes=10),
        description="After a safe action worked, how long the agent watches; if the breach "
        "is still there then, it tries the next step.",
    )
    recommendation_expiry: PositiveDuration = Field(
        default=timedelta(hours=24),
        description="A recommendation nobody approved or rejected within this becomes expired.",
    )
    tick: PositiveDuration = Field(
        default=timedelta(seconds=30),
        description="How often the agent looks at what happens without a reading: the end "
        "of a watch, stale incidents, expired recommendations.",
    )
    dominant_share: Percent = Field(
        default=90.0,
        gt=50,
        description="A platform-wide log breach whose failures come this much (a percent) "
        "from one organization's own traffic is that organization's incident.",
    )


_unique_actions = each_once(
    lambda action, first, _: f"each action at most once; {action.value} is also entry [{first}]"
)


Actions = Annotated[list[SafeAction], across_items(_unique_actions)]


class PlaybookConfig(Section):
    """For each incident type, the safe actions the agent may try on its own, in order.

    An action is tried only when it fits the situation (see docs/architecture.md);
    an empty list means the agent never acts on that type by itself.
    """

    memory: Actions = Field(
        default_factory=lambda: [SafeAction.PM2_RESTART],
        description="Memory: restart the PM2 app holding the most memory.",
    )
    disk: Actions = Field(
        default_factory=lambda: [SafeAction.CLEAR_TEMP],
        description="Disk: clear old files from the temp upload directories.",
    )
    upload: Actions = Field(
        default_factory=lambda: [SafeAction.RATE_LIMIT_UPLOADS, SafeAction.CLEAR_TEMP],
        description="Uploads: rate-limit uploads when failures look like overload; clear "
        "temp upload files when the disk is the cause.",
    )
    dependency: Actions = Field(
        default_factory=lambda: [SafeAction.PAUSE_JOBS],
        description="A failing dependency: pause background jobs so work does not pile up on it.",
    )
    network: Actions = Field(
        default_factory=lambda: [SafeAction.NGINX_RELOAD, SafeAction.PM2_RESTART],
        description="Network: reload nginx when it shows the fault (a health check through "
        "it answers 502 or 504 while every app is online); restart a PM2 app that is "
        "errored or stopped.",
    )
    deploy: Actions = Field(
        default_factory=list,
        description="A bad deploy: nothing automatic; a rollback is recommended to a human.",
    )
    app: Actions = Field(
        default_factory=lambda: [SafeAction.PM2_RESTART],
        description="The app itself (errored, stopped, or crashing while PM2 restarts it): "
        "restart a PM2 app that is errored or stopped; a crash loop is for a person, "
        "pointed at the app's error log.",
    )
