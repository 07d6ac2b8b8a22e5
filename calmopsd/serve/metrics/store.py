"""Families read from the store: incidents, actions, budgets, the audit head, config loads.

Counted for the platform (``/metrics`` is the platform's view). An incident's
organization is a label (``""`` for the platform's own); its id never is.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import Metric

from calmopsd import __version__
from calmopsd.config.actions import Budget
from calmopsd.model import SafeAction
from calmopsd.record.actions import REAL_RUN_KINDS, RUN_KINDS
from calmopsd.record.messages import delivery_counts as message_delivery_counts
from calmopsd.record.outbox import delivery_counts
from calmopsd.record.scope import Scope
from calmopsd.record.tallies import Run, action_outcomes, open_incidents, recent_runs
from calmopsd.serve.metrics.scrape import Scrape, gauge, labelled

PLATFORM = Scope.platform()


def build(scrape: Scrape) -> Iterator[Metric]:
    yield from labelled(
        "calmopsd_build_info", "The calmopsd version running.", ["version"], [([__version__], 1)]
    )


def incidents(scrape: Scrape) -> Iterator[Metric]:
    yield from labelled(
        "calmopsd_incidents_open",
        "Unresolved incidents.",
        ["type", "severity", "status", "organization"],
        (
            ([c.type, c.severity, c.status, c.organization], c.count)
            for c in open_incidents(scrape.database, PLATFORM)
        ),
    )


def actions(scrape: Scrape) -> Iterator[Metric]:
    yield from labelled(
        "calmopsd_actions",
        "Actions recorded for incidents, by outcome (succeeded, failed, refused, shadow, dry_run).",
        ["action", "outcome"],
        (([c.action, c.outcome], c.count) for c in action_outcomes(scrape.database, PLATFORM)),
        counter=True,
    )


def budgets(scrape: Scrape) -> Iterator[Metric]:
    """Each action's budget as the executor counts it: per target, so what is left is the
    least any one target has left."""
    config = scrape.vitals.actions()
    sections: dict[str, Budget] = {a.value: getattr(config, a.value) for a in SafeAction}
    earliest = min(scrape.now - b.window for b in sections.values())
    runs = recent_runs(scrape.database, earliest, dry_runs=config.dry_run)
    left = []
    for name, budget in sorted(sections.items()):
        shadow = (budget.mode or config.mode) == "shadow"
        kinds = RUN_KINDS if shadow else REAL_RUN_KINDS
        since = scrape.now - budget.window
        most = _most_on_a_target(
            [r for r in runs if r.action == name and r.kind in kinds and r.at >= since]
        )
        left.append(([name], max(0, budget.max_runs - most)))
    yield from labelled(
        "calmopsd_action_budget_remaining_runs",
        "Automatic runs left within the action's window, on its busiest target.",
        ["action"],
        left,
    )
    yield from labelled(
        "calmopsd_action_budget_max_runs",
        "Automatic runs allowed per target within the action's window.",
        ["action"],
        [([n], b.max_runs) for n, b in sorted(sections.items())],
    )


def audit(scrape: Scrape) -> Iterator[Metric]:
    anchor = scrape.database.anchor
    head = anchor.head
    yield from gauge(
        "calmopsd_audit_head_sequence",
        "Sequence number of the audit chain's head.",
        head.seq if head is not None else 0,
    )
    yield from gauge(
        "calmopsd_audit_head_frozen",
        "1 if the head file stopped following the chain (verify-audit says why).",
        anchor.frozen_reason is not None,
    )


def config(scrape: Scrape) -> Iterator[Metric]:
    """As Prometheus has them for its own config."""
    load = scrape.loads.current()
    if load is None:
        return
    yield from gauge(
        "calmopsd_config_last_reload_successful",
        "1 if the last config load (the start or a SIGHUP) applied.",
        load.ok,
    )
    yield from gauge(
        "calmopsd_config_last_reload_success_timestamp_seconds",
        "When the config running was loaded (Unix time).",
        load.loaded_at.timestamp() if load.loaded_at is not None else None,
    )


def _most_on_a_target(runs: list[Run]) -> int:
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.target] = counts.get(run.target, 0) + 1
    return max(counts.values(), default=0)


def notices(scrape: Scrape) -> Iterator[Metric]:
    """Notices to people by target and how they ended (pending ones too), since the store began."""
    yield from labelled(
        "calmopsd_notifications",
        "Notices to notify targets, by status (pending, sent, given_up, dropped).",
        ["target", "status"],
        (([t, s], n) for (t, s), n in sorted(delivery_counts(scrape.database).items())),
        counter=True,
    )


def customer_messages(scrape: Scrape) -> Iterator[Metric]:
    yield from labelled(
        "calmopsd_customer_message_deliveries",
        "Approved customer messages to channels, by status (pending, sent, given_up, dropped).",
        ["channel", "status"],
        (([c, s], n) for (c, s), n in sorted(message_delivery_counts(scrape.database).items())),
        counter=True,
    )


def alertmanager(scrape: Scrape) -> Iterator[Metric]:
    """Posts to Alertmanager by outcome, while forwarding is on."""
    counts = scrape.vitals.forwarded()
    if counts is None:
        return
    yield from labelled(
        "calmopsd_alertmanager_posts",
        "Posts of incidents to Alertmanager's v2 API, by outcome.",
        ["outcome"],
        [(["sent"], counts.sent), (["failed"], counts.failed)],
        counter=True,
    )
    yield from labelled(
        "calmopsd_alertmanager_alerts_sent",
        "Alerts in the posts Alertmanager accepted.",
        [],
        [([], counts.alerts_sent)],
        counter=True,
    )
