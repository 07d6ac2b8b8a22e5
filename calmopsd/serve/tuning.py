"""Alert tuning as the API and the CLI ask for it: backtest the rules in force over the
store's history and propose the best change of each noisy rule for a person to approve
(:mod:`calmopsd.learn.tuning`).

A config change is the host's: only a super-admin operator may ask. The file must hold
what is in force — an edit not yet reloaded is refused, since a diff made against it
would be backtested on rules that do not run. Nothing here writes the config.

A backtest replays the store's history (seconds, minutes on a big store) on the thread
of the request that asked. One runs at a time: a second request while it runs is a 409
``tuning_busy`` at once, so asking again and again cannot take every API thread.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from calmopsd.backtest.remake import sha256
from calmopsd.clock import Clock
from calmopsd.config.load import load_config_text
from calmopsd.errors import ConfigError, Conflict, Forbidden, NotFound, Unavailable
from calmopsd.record.database import Database
from calmopsd.serve.answers import Hooks
from calmopsd.serve.tokens import Caller

if TYPE_CHECKING:  # the backtest is imported when tuning is asked for, not at start-up
    from calmopsd.learn.tuning import Proposed, Tuned

LONGEST = timedelta(days=400)  # --since beyond this replays more than any retention keeps


class Tuning:
    def __init__(self, database: Database, clock: Clock, hooks: Hooks):
        self.database = database
        self.clock = clock
        self.hooks = hooks
        self._running = threading.Lock()  # held by the one backtest under way

    def propose(self, caller: Caller, since: timedelta, quick: timedelta) -> Tuned:
        if not caller.super_admin:
            raise Forbidden(f"token {caller.name!r} acts for {caller.scope.organization_id} "
                            "only: tuning the rules is the host's, a super-admin's to ask",
                            "super_admin_required")  # fmt: skip
        if not caller.may_act:
            raise Forbidden(f"token {caller.name!r} is a viewer: it may read, not act")
        where = self.hooks.config_file
        if where is None:
            raise Unavailable("tuning needs the config file in force, which this server "
                              "was not given")  # fmt: skip
        in_force = where()
        try:
            text = in_force.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise Unavailable(
                f"{in_force.path}: cannot read the config ({exc.strerror or exc})"
            ) from None
        except UnicodeDecodeError:
            raise Conflict(f"{in_force.path} is not UTF-8 text", "config_invalid") from None
        if in_force.sha256 is not None and sha256(text) != in_force.sha256:
            raise Conflict(f"{in_force.path} changed since it was loaded: reload first "
                           "(systemctl reload calmopsd), so the rules backtested are the "
                           "ones that run", "config_changed")  # fmt: skip
        try:
            config = load_config_text(in_force.path, text)
        except ConfigError as exc:
            raise Conflict(f"{in_force.path} does not load: " + "; ".join(exc.problems),
                           "config_invalid") from None  # fmt: skip
        from calmopsd.learn.tuning import tune  # the backtest: not in every daemon's memory

        if not self._running.acquire(blocking=False):
            raise Conflict("a backtest for alert tuning is already running: ask again when "
                           "it has answered", "tuning_busy")  # fmt: skip
        in_agent = self.hooks.in_agent
        try:
            tuned = tune(
                self.database, config, in_force.path, text, since=since, quick=quick,
                at=self.clock.now(), actor=caller.actor,
                write=(lambda work: in_agent(None, work)) if in_agent is not None else _now,
            )  # fmt: skip
        finally:
            self._running.release()
        if tuned is None:
            raise NotFound("the store holds no snapshots or roll-ups: nothing to replay",
                           "no_history")  # fmt: skip
        return tuned


def _now(work: Any) -> Any:
    return work()


def tuned_view(tuned: Tuned) -> dict[str, Any]:
    """What the API answers: the window, and each proposal with what became of it."""
    return {
        "since": tuned.report.window.since.isoformat(),
        "until": tuned.report.window.until.isoformat(),
        "approximate": tuned.report.rolled_up,
        "noisy_rules": [s.rule for s in tuned.suggestions],
        "proposals": [_proposed_view(p) for p in tuned.proposed],
    }


def _proposed_view(done: Proposed) -> dict[str, Any]:
    p = done.proposal
    return {
        "rule": p.rule,
        "change": p.change,
        "key": p.key,
        "value": p.value,
        "incident_id": p.incident_id,
        "recommendation_id": done.recommendation_id,
        "skipped": done.skipped.value if done.skipped else None,
        "removes": list(p.removed),
        "noise": list(p.noise),
        "later_s": p.later_s,
        "config": p.config,
        "diff": p.diff,
    }
