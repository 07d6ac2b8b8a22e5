"""What detection hands on: every named change of a series' state (Breach lives in model)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calmopsd.detect.state import Reason, State
from calmopsd.model import Breach, Labels


@dataclass(frozen=True)
class Transition:
    """A named change of one (rule, series): the reason, when, and the state it left behind.

    ``breach`` is set once the series has fired (confirmed, escalated, clear
    started or aborted, cleared, vanished) and carries the current severity.
    """

    rule: str
    labels: Labels
    reason: Reason
    state: State
    at: datetime
    value: Any
    breach: Breach | None = None
