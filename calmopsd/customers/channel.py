"""Where a customer message should go, and why: a pure suggestion from the impact.

Platform-wide impact goes on the status page, where every customer looks; impact on
some organizations' traffic goes to those organizations only (telling everyone of a
problem most never saw worries them for nothing, and names a tenant's trouble in
public); an incident customers cannot see gets no message at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from calmopsd.customers.status import Audience, CustomerImpact


class Channel(StrEnum):
    STATUS_PAGE = "status_page"
    ORGANIZATIONS = "organizations"
    NONE = "none"


@dataclass(frozen=True)
class Suggestion:
    channel: Channel
    organizations: tuple[str, ...]
    why: str


def suggest(impact: CustomerImpact) -> Suggestion:
    if not impact.affected:
        return Suggestion(Channel.NONE, (), "internal only: nothing customers can see")
    if impact.audience is Audience.ORGANIZATIONS:
        whose = ", ".join(impact.organizations)
        return Suggestion(
            Channel.ORGANIZATIONS,
            impact.organizations,
            f"only {whose}'s traffic is affected: tell them, not every customer",
        )
    return Suggestion(Channel.STATUS_PAGE, (), "every customer may see it: the status page")
