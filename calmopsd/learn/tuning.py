"""Alert tuning: a backtested change of a rule, proposed to a person as an
``alert_tuning`` recommendation — never applied by calmopsd.

The backtest (:mod:`calmopsd.backtest`) replays the stored history through the rules in
force and tries a few variants of each rule that opened noise; the best variant of a
rule (it removes noise and loses no real incident) becomes a proposal here, with its
backtest and the YAML diff of the config file. It is attached to the newest noisy
incident of that rule (the evidence a person can open), outlives that incident like a
``playbook_order`` (:mod:`calmopsd.follow.obsolete`), and is a super-admin's to approve:
the config is the host's, shared by every organization.

Approving records the decision and gives the diff, made afresh against the file as it
is then (:mod:`calmopsd.backtest.remake`): calmopsd writes no config. The same change
is not proposed twice while one is pending, nor again after a person approved or
rejected it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from calmopsd.backtest.remake import ALERT_TUNING, sha256
from calmopsd.backtest.report import Report
from calmopsd.backtest.run import backtest, load_history, window_back
from calmopsd.backtest.suggest import Suggestion, Tried, suggest, where
from calmopsd.config import Config
from calmopsd.config.lines import KeyPath
from calmopsd.config.location import SHIPPED_CONFIG
from calmopsd.model import Recommendation, RecommendationStatus
from calmopsd.record.database import Database
from calmopsd.record.recommendations import add_recommendation, recommendations_of_kind
from calmopsd.record.scope import Scope

KIND = ALERT_TUNING
Identity = tuple[str, tuple[str, ...], str]  # what makes two proposals the same change
PLATFORM = Scope.platform()
_COVERED = {
    RecommendationStatus.PROPOSED,
    RecommendationStatus.APPROVED,
    RecommendationStatus.REJECTED,
    RecommendationStatus.EXECUTED,
}


@dataclass(frozen=True)
class Proposal:
    """One rule's best variant, with what its backtest showed and the diff that applies it."""

    rule: str
    change: str  # in words: "for 2 → 3"
    key: str  # spelt as config errors spell it: rules[0].for
    path: KeyPath  # the key path the diff edits
    value: str  # the YAML value written there
    incident_id: int  # the newest noisy incident of the rule: where the proposal is shown
    noise: tuple[int, ...]  # the noisy incidents the rule opened in the window
    removed: tuple[int, ...]  # of those, the ones the variant would not have opened
    later_s: float | None  # the most it opens a kept incident later
    since: datetime
    until: datetime
    approximate: bool  # part of the window was replayed from roll-ups
    config: str  # the file the diff is of
    config_sha256: str  # of its text when the diff was made
    diff: str

    @property
    def same_change(self) -> Identity:
        return change_identity(self.rule, self.path, self.value)


class Skipped(StrEnum):
    """Why a proposal was not written."""

    PENDING = "pending"  # the same change waits for a person already
    DECIDED = "decided"  # a person approved or rejected the same change before


@dataclass(frozen=True)
class Proposed:
    proposal: Proposal
    recommendation_id: int | None  # None: skipped, for ``skipped``
    skipped: Skipped | None = None


@dataclass(frozen=True)
class Tuned:
    """One tuning round: the backtest of the rules in force, its suggestions, and what
    became of each proposal."""

    report: Report
    suggestions: tuple[Suggestion, ...]
    proposed: tuple[Proposed, ...]


def tune(
    database: Database,
    config: Config,
    path: Path,
    text: str,
    *,
    since: timedelta,
    quick: timedelta,
    at: datetime,
    actor: str,
    write: Callable[[Callable[[], list[Proposed]]], list[Proposed]] = lambda work: work(),
) -> Tuned | None:
    """Backtest ``config`` (loaded from ``text``, the file at ``path``) over ``since`` of
    the store's history, and propose the best variant of each noisy rule; None when the
    store holds nothing to replay. ``write`` runs the proposing (the daemon: in its agent,
    the one writer of incident state)."""
    window = window_back(database, since)
    if window is None:
        return None
    history = load_history(database, window)
    report = backtest(history, config, quick=quick)
    found = suggest(config, text, path, report, lambda c: backtest(history, c, quick=quick))
    wanted = proposals(found, report, path, text)
    done = write(lambda: propose(database, wanted, at=at, actor=actor)) if wanted else []
    return Tuned(report, tuple(found), tuple(done))


def proposals(
    suggestions: Sequence[Suggestion], report: Report, config_path: Path, text: str
) -> list[Proposal]:
    """The best variant of every rule that has one, as a proposal. Pure."""
    shown = displayed_path(config_path)
    digest = sha256(text)
    found = []
    for suggestion in suggestions:
        best = suggestion.best
        if best is None or not suggestion.noise:
            continue
        found.append(_proposal(suggestion, best, report, shown, digest))
    return found


def _proposal(s: Suggestion, best: Tried, report: Report, shown: str, digest: str) -> Proposal:
    return Proposal(
        rule=s.rule,
        change=best.variant.change,
        key=where(best.variant),
        path=best.variant.path,
        value=best.variant.value,
        incident_id=max(s.noise),
        noise=s.noise,
        removed=best.removed,
        later_s=best.later_s,
        since=report.window.since,
        until=report.window.until,
        approximate=report.rolled_up,
        config=shown,
        config_sha256=digest,
        diff=best.diff,
    )


def skip_reason(proposal: Proposal, earlier: Sequence[Recommendation]) -> Skipped | None:
    """Whether an earlier recommendation already covers the same change. Pure."""
    same = [r for r in earlier if _change_of(r) == proposal.same_change]
    if any(r.status is RecommendationStatus.PROPOSED for r in same):
        return Skipped.PENDING
    if any(r.status in _COVERED for r in same):
        return Skipped.DECIDED
    return None


def _change_of(rec: Recommendation) -> Identity:
    p = rec.params
    path = p.get("path")
    parts = tuple(path) if isinstance(path, list) else ()
    return change_identity(str(p.get("rule")), parts, str(p.get("value")))


def change_identity(
    rule: str, path: Sequence[object], value: str
) -> tuple[str, tuple[str, ...], str]:
    """What makes two proposals the same change: the key and the value written — with the
    rule's name for a rule of the file's own (its place in ``rules:`` may move), without
    it for a shared key (``thresholds.upload_failure_percent`` tunes two shipped rules:
    one proposal, not two editing the same line)."""
    own = bool(path) and path[0] == "rules"
    keys = tuple(str(part) for part in path if not isinstance(part, int))
    return (rule if own else "", keys, value)


def propose(
    database: Database, found: Sequence[Proposal], *, at: datetime, actor: str
) -> list[Proposed]:
    """Write each proposal that is new as an ``alert_tuning`` recommendation."""
    done = []
    for proposal in found:
        earlier = recommendations_of_kind(database, PLATFORM, KIND)
        why = skip_reason(proposal, earlier)
        if why is not None:
            done.append(Proposed(proposal, None, why))
            continue
        rec_id = add_recommendation(
            database, PLATFORM, proposal.incident_id, kind=KIND, at=at, actor=actor,
            rationale=rationale(proposal), params=params(proposal), evidence=evidence(proposal),
        )  # fmt: skip
        done.append(Proposed(proposal, rec_id))
    return done


def rationale(p: Proposal) -> str:
    """What the proposal says to the person who decides it: the change and its backtest."""
    removed, noise = len(p.removed), len(p.noise)
    later = (
        ""
        if not p.later_s or p.later_s <= 0
        else f" It opens the incidents it keeps up to {_spoken(p.later_s)} later."
    )
    roughly = " (partly from 5-minute roll-ups, so roughly)" if p.approximate else ""
    return (
        f"Tune rule {p.rule}: {p.change}. Replayed over {p.since:%Y-%m-%d} to "
        f"{p.until:%Y-%m-%d}{roughly}, it would not have opened {removed} of {noise} "
        + (
            "incident that recovered by itself"
            if noise == 1
            else "incidents that recovered by themselves"
        )
        + f", and it misses no real incident.{later} Approving records the decision and "
        f"gives the diff of "
        f"{p.config}: calmopsd changes no config itself; apply it and reload."
    )


def params(p: Proposal) -> dict[str, Any]:
    return {"rule": p.rule, "change": p.change, "key": p.key, "path": list(p.path),
            "value": p.value, "config": p.config}  # fmt: skip


def evidence(p: Proposal) -> dict[str, Any]:
    return {
        "backtest": {
            "since": p.since.isoformat(),
            "until": p.until.isoformat(),
            "approximate": p.approximate,
            "noise": list(p.noise),
            "removed": list(p.removed),
            "missed": [],
            "later_s": p.later_s,
        },
        "config_sha256": p.config_sha256,
        "diff": p.diff,
    }


def _spoken(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def displayed_path(path: Path) -> str:
    """The file a person edits: the shipped default resolves to config/calmops.yaml in a
    checkout (its symlink's target)."""
    if path == SHIPPED_CONFIG:
        return str(path.resolve())
    return str(path)
