"""One backtest: the history read from the store once, then any number of configs
replayed over it and compared with the real incidents (the suggestions replay a few)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from calmopsd.backtest.noise import QUICK
from calmopsd.backtest.replay import Observed, replay
from calmopsd.backtest.report import Report, Window, compare
from calmopsd.backtest.sources import (
    RealIncident,
    history_end,
    manual_incidents,
    observed,
    real_incidents,
)
from calmopsd.config import Config
from calmopsd.record.database import Database
from calmopsd.record.scope import Scope

PLATFORM = Scope.platform()  # the host's whole history: the backtest is the operator's


@dataclass(frozen=True)
class History:
    """What one window of the store holds: the readings and buckets to replay, oldest
    first, the real incidents, and how many incidents people opened."""

    window: Window
    observed: tuple[Observed, ...]
    real: tuple[RealIncident, ...]
    manual: int


def window_back(database: Database, since: timedelta) -> Window | None:
    """``since`` back from the newest thing stored (the history's own "now"); None when
    the store holds no snapshot and no roll-up."""
    end = history_end(database, PLATFORM)
    return None if end is None else Window(end - since, end)


def load_history(database: Database, window: Window) -> History:
    """Read ``window`` of the store, once."""
    since, until = window.since, window.until
    return History(
        window,
        tuple(observed(database, PLATFORM, since=since, until=until)),
        tuple(real_incidents(database, PLATFORM, since=since, until=until)),
        manual_incidents(database, PLATFORM, since=since, until=until),
    )


def backtest(history: History, config: Config, *, quick: timedelta = QUICK) -> Report:
    """``config``'s rules (``Config.detection_rules()``, with rule_defaults) and incident
    settings replayed over ``history``, against its real incidents. Pure."""
    rules = config.detection_rules()
    replayed = replay(history.observed, rules, config.incidents)
    names = [rule.name for rule in rules]
    return compare(
        replayed, history.real, history.window, names, quick=quick, manual=history.manual
    )
