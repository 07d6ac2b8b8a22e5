"""Forwarding incidents to Alertmanager (``alertmanager:``), for a fleet's own routing.

Each unresolved incident is posted to Alertmanager's v2 API as a firing alert
(labels ``host``, ``incident_id``, ``type``, ``severity``, ``organization``) and
posted again every ``interval``, the way Prometheus re-sends what still fires; once
it resolves, it is posted with its end time. Off unless ``url`` is set. Built in
``calmopsd/fleet/`` (docs/fleet.md).
"""

from __future__ import annotations

from datetime import timedelta

from calmopsd.config.section import Section
from calmopsd.config.units import PositiveDuration
from calmopsd.typed import Field, HttpUrl


class AlertmanagerConfig(Section):
    """Where Alertmanager listens and how often incidents are re-sent to it."""

    url: HttpUrl | None = Field(
        default=None,
        description="Alertmanager's address (http://host:9093); alerts go to its "
        "/api/v2/alerts. Empty: incidents are not forwarded.",
    )
    interval: PositiveDuration = Field(
        default=timedelta(minutes=1),
        description="How often each unresolved incident is posted again; an alert not "
        "posted for four intervals ends in Alertmanager by itself.",
    )
    host: str | None = Field(
        default=None,
        description="The host label on every alert. Empty: this machine's host name.",
    )
    timeout: PositiveDuration = Field(
        default=timedelta(seconds=10), description="How long one post may take."
    )
