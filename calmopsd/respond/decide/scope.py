"""A more specific incident holds back a more general one (as Alertmanager's inhibition).

One organization's failing uploads are also server errors of the platform: the same
fault, seen from wider. A platform-wide log breach is an organization's incident's
when the platform would not be in breach without that one organization's traffic —
it joins that incident instead of opening a second, platform-wide one. A platform
breach that holds without each of them (several organizations failing at once: a
shared cause) is a platform problem of its own and opens as one; so does a platform
series taken in earlier once the rest of the platform breaches by itself.

A log breach of an organization (by its label, or the one its traffic dominates)
joins that organization's unresolved log incident for the same reason: same scope,
same time, same traffic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from calmopsd.config.rules import RuleConfig
from calmopsd.detect.series import lookup
from calmopsd.detect.state import compares
from calmopsd.model import Breach, Labels
from calmopsd.respond.decision import Decision, EndSeries, Forget, Record, Summarize, Why
from calmopsd.respond.problem import Problem, share_figure
from calmopsd.respond.tracked import SeriesKey, Tracked
from calmopsd.shapes import LogsValues

PLATFORM = "platform."
ORGANIZATION = "organizations.{organization}."


def is_platform_rate(rule: RuleConfig) -> bool:
    """A rule over the whole platform's log traffic (``platform.1m.server_error_rate``)."""
    return rule.sampler == "logs" and rule.metric.startswith(PLATFORM)


@dataclass(frozen=True)
class Scoping:
    """Where a log breach belongs: an unresolved incident of its scope that accounts for
    it (``joins``), or held back for the platform's incident of the same fault."""

    joins: Tracked | None = None
    held_for_platform: bool = False


def counterpart(rule: RuleConfig, rules: Iterable[RuleConfig]) -> RuleConfig | None:
    """The platform rule over the same figure as an organization's log rule
    (``organizations.{organization}.5m.upload_failure_rate`` → ``platform.5m.…``)."""
    prefix = ORGANIZATION
    if rule.sampler != "logs" or not rule.metric.startswith(prefix):
        return None
    wanted = PLATFORM + rule.metric[len(prefix) :]
    return next((r for r in rules if r.sampler == "logs" and r.metric == wanted), None)


def log_scope(
    breach: Breach,
    problem: Problem,
    rule: RuleConfig | None,
    rules: Iterable[RuleConfig],
    logs: LogsValues,
    scoped: Mapping[str | None, Tracked],
) -> Scoping:
    """Where a log breach belongs, given each scope's unresolved log incident (``scoped``:
    by organization, None for the platform's).

    - An organization's breach joins its organization's incident. When the platform
      without that organization is in breach too (several organizations failing at once:
      a shared cause), it is the platform's fault: it joins the platform's incident, or
      is held back until that incident opens.
    - A platform breach joins the incident of the one organization without whose traffic
      the platform would not be in breach; else the platform's own incident.
    """
    if rule is None or rule.sampler != "logs":
        return Scoping()
    organization = problem.organization_id
    platform = scoped.get(None)
    if organization is not None:
        if organization in scoped:
            return Scoping(joins=scoped[organization])
        wider = counterpart(rule, rules)
        if wider is not None and in_breach_without(wider, (), logs, [organization]):
            return Scoping(joins=platform) if platform else Scoping(held_for_platform=True)
        return Scoping()
    if not is_platform_rate(rule):
        return Scoping()
    alone = [
        org
        for org in sorted(o for o in scoped if o is not None and o in logs.organizations)
        if not in_breach_without(rule, breach.labels, logs, [org])
    ]
    if alone:
        leader = max(alone, key=lambda org: (share_figure(logs, rule.metric, org), org))
        return Scoping(joins=scoped[leader])
    return Scoping(joins=platform)


def in_breach_without(
    rule: RuleConfig, labels: Labels, logs: LogsValues, organizations: Iterable[str]
) -> bool:
    """Whether the platform's traffic without these organizations' is in breach by itself
    (a rate over too few requests to judge is not)."""
    values = logs.without(organizations).to_values()
    if rule.volume is not None:
        volume = lookup(values, rule.volume.metric, labels)
        if not isinstance(volume, int | float) or volume < rule.volume.at_least:
            return False
    return compares(rule.op, lookup(values, rule.metric, labels), rule.threshold)


def released_decision(
    tracked: Tracked, key: SeriesKey, rule: RuleConfig, logs: LogsValues
) -> Decision | None:
    """A platform series an organization's incident took in, once the rest of the platform
    is in breach by itself: it leaves that incident and must confirm afresh, on its own
    hold, so the platform's fault opens an incident of its own. None: still explained."""
    organization = tracked.incident.organization_id
    if key == tracked.headline or not organization or not is_platform_rate(rule):
        return None
    if not in_breach_without(rule, key[1], logs, [organization]):
        return None
    data = {"rule": key[0], "labels": dict(key[1]), "why": "the rest of the platform is in breach"}
    effects = (
        EndSeries(tracked.incident.id, key),
        Forget(key),
        Record("incident.breach_released", data, tracked.incident.id),
        Summarize(tracked.incident.id),
    )
    return Decision(Why.RELEASED, effects)
