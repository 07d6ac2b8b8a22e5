"""Customer messages (``customers:``): where approved messages go, and what they may name.

calmopsd drafts a customer-safe message when an incident that customers can see changes
phase, and never sends one without a person's approval. ``channels`` say where approved
messages go: the status page (platform-wide impact; a status page's API as a JSON
webhook, say) or one organization's own channel (mail, chat). Like notify targets, a
channel is an apprise URL and may hold a secret: it is never logged or shown.
"""

from __future__ import annotations

from typing import Annotated, Literal

from calmopsd.config.notify import AppriseUrl, OrganizationId, unique_names
from calmopsd.config.section import Section
from calmopsd.config.units import Name
from calmopsd.typed import CrossCheck, Field, HttpUrl, across_items

Audience = Literal["status_page", "organization"]


class CustomerChannelConfig(Section):
    """One place approved customer messages go."""

    name: Name = Field(description="Names the channel in logs, the audit log and metrics.")
    url: AppriseUrl = Field(
        description="Where to send, as an apprise URL (json://…, mailto://…, slack://…); "
        "may hold a secret, so it is never logged."
    )
    audience: Audience = Field(
        description="status_page: messages about platform-wide impact; organization: "
        "messages to the organization named in organization."
    )
    organization: OrganizationId | None = Field(
        default=None,
        description="For audience organization: whose messages go here.",
    )

    def _organization_for_its_audience(self) -> None:
        if (self.audience == "organization") != (self.organization is not None):
            raise ValueError(
                f"channel {self.name!r}: audience organization needs organization: ORG, and "
                "only it takes one"
            )

    cross_checks = (
        CrossCheck(("audience", "organization", "name"), _organization_for_its_audience),
    )


Channels = Annotated[
    list[CustomerChannelConfig],
    across_items(unique_names("channel")),
]


class CustomersConfig(Section):
    """Customer status messages: drafted by calmopsd, approved and sent by a person."""

    channels: Channels = Field(
        default_factory=list,
        description="Where approved messages go; empty: messages are drafted and approved "
        "but must be posted by hand.",
    )
    public_urls: list[HttpUrl] = Field(
        default_factory=list,
        description="Addresses a message may name (the status page's own); every other "
        "address is refused as internal detail.",
    )
