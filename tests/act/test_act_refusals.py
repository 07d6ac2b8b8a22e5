"""Refusal reasons are one enum, shared by act (which refuses) and respond (which decides
what follows): no reason is a bare string that respond would have to match by spelling."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import calmopsd.act
from calmopsd.act.action import Refused
from calmopsd.model import RefusalReason
from calmopsd.respond.decide import PASSABLE
from calmopsd.respond.recommend import APPROVABLE

ACT = Path(calmopsd.act.__file__).parent


def test_every_refusal_in_act_names_an_enum_member() -> None:
    bare = []
    for path in sorted(ACT.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Refused"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                bare.append(f"{path.name}:{node.lineno}")
    assert bare == []


def test_a_refusal_with_an_unknown_reason_is_a_bug_caught_at_once() -> None:
    with pytest.raises(ValueError, match="'budget-spent' is not a valid RefusalReason"):
        Refused("budget-spent", "a misspelt reason")  # type: ignore[arg-type]


def test_what_respond_passes_over_and_asks_about_are_members() -> None:
    assert {
        RefusalReason.BUDGET_SPENT,
        RefusalReason.COOLDOWN,
        RefusalReason.INEFFECTIVE,
        RefusalReason.BUSY,
    } == APPROVABLE
    assert {RefusalReason.ALREADY_IN_FORCE} == PASSABLE - APPROVABLE
