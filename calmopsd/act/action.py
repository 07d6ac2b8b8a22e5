"""The shape every safe action shares, and what one run of it reports.

An action is a module-level object (listed in :data:`calmopsd.act.ACTIONS`)
with the steps the executor calls in order, so every action goes the same
path: ``validate`` (parameters against the config's allowlists; raises
:class:`Refused`), ``target`` (what budgets, cooldowns and the lock count on),
``prepare`` (reversible ones: the undo record, before anything changes),
``run`` (execute, then verify that it took effect) and ``revert``. Nothing here
touches the host except through the :class:`Sandbox`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from calmopsd.model import RefusalReason, SafeAction

if TYPE_CHECKING:
    from calmopsd.act.sandbox import Sandbox
    from calmopsd.config.actions import ActionsConfig


class Refused(Exception):  # a refusal is a normal answer, named as one
    """The request may not run; ``reason`` is a short code, ``detail`` one plain sentence."""

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = RefusalReason(reason)
        self.detail = detail


@dataclass(frozen=True)
class Result:
    """What one run (or revert) did.

    ``ok`` means it ran *and* its verification held. ``data`` goes to the audit
    event as is (pids, bytes freed, the files removed — kept short). A reversible
    action that worked sets ``undo`` to what its revert needs (JSON-able) and
    ``lasts`` to how long it stays in force before it is reverted.
    """

    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    undo: dict[str, Any] | None = None
    lasts: timedelta | None = None


@dataclass(frozen=True)
class Prepared:
    """The undo record of a reversible run, taken before the run, and how long it lasts."""

    undo: dict[str, Any]
    lasts: timedelta


class Action(Protocol):
    name: SafeAction
    reversible: bool

    def validate(self, params: dict[str, Any], config: ActionsConfig) -> dict[str, Any]:
        """The parameters, checked and normalized; :class:`Refused` for anything else."""
        ...

    def target(self, params: dict[str, Any]) -> str:
        """What this run acts on: an app name, ``nginx``, a directory."""
        ...

    def prepare(self, params: dict[str, Any], sandbox: Sandbox) -> Prepared | None:
        """For a reversible action: what undoes it and for how long, read *before*
        anything changes (the executor persists it first, so a crash mid-run still
        leaves a record to revert). None for the others."""
        ...

    def run(self, params: dict[str, Any], sandbox: Sandbox) -> Result:
        """Do it, then verify it took effect."""
        ...

    def revert(self, undo: dict[str, Any], sandbox: Sandbox) -> Result:
        """Undo a run that worked, from the ``undo`` it returned (reversible actions)."""
        ...
