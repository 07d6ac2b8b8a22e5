"""An incident's customer impact as a status page would say it, for the incident page.

The figures the agent stores (``impact``: health checks failing, error and upload
rates, organizations' traffic) are read through :func:`~calmopsd.customers.status.
customer_impact` and :func:`~calmopsd.customers.channel.suggest` — the same functions
that make the summary's customer line, the API's ``customer_impact`` and the drafts —
so the page never tells customers' side differently from the message it offers to
send. Where a message would go is named by the configured channels
(:func:`~calmopsd.customers.courier.channels_for`, what an approval sends to). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from calmopsd.config.customers import CustomersConfig
from calmopsd.customers.channel import Channel, suggest
from calmopsd.customers.courier import channels_for
from calmopsd.customers.status import Audience, customer_impact
from calmopsd.model import Incident

BY_HAND = "no channel configured: post it by hand"


@dataclass(frozen=True)
class ImpactWords:
    affected: bool
    component: str  # the component status's value, for its badge's class: partial_outage
    component_words: str  # "partial outage"
    component_why: str  # "server errors over their level"
    phase: str  # investigating, identified, monitoring, resolved
    who: str  # "every customer (platform-wide)", "acme only", "no customer: internal only"
    channel: str  # "the status page", "a message to acme only", "none"
    channel_why: str
    destinations: tuple[str, ...]  # the configured channels a message would go to


def impact_words(incident: Incident, customers: CustomersConfig) -> ImpactWords:
    """What customers see of ``incident`` now, and where a message about it would go."""
    seen = customer_impact(incident)
    suggestion = suggest(seen)
    if not seen.affected:
        who = "no customer: internal only"
    elif seen.audience is Audience.ORGANIZATIONS:
        who = f"{', '.join(seen.organizations)} only"
    else:
        who = "every customer (platform-wide)"
    names = channels_for(customers, suggestion.channel.value, suggestion.organizations)
    return ImpactWords(
        affected=seen.affected,
        component=seen.component.value,
        component_words=seen.component.words,
        component_why=seen.why,
        phase=seen.phase.value,
        who=who,
        channel=channel_words(suggestion.channel.value, suggestion.organizations),
        channel_why=suggestion.why,
        destinations=tuple(c.name for c in names),
    )


def channel_words(channel: str, audience: tuple[str, ...]) -> str:
    """A message's channel as a person says it: ``a message to acme only``."""
    if channel == Channel.STATUS_PAGE:
        return "the status page"
    if channel == Channel.ORGANIZATIONS:
        return f"a message to {', '.join(audience) or 'no organization'} only"
    return "none"
