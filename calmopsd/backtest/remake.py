"""An approved config change, made afresh against the config file as it is now.

A proposal's diff (an ``alert_tuning`` recommendation, :mod:`calmopsd.learn.tuning`)
was made against the file as it was then; by the time a person approves, someone may
have edited it, or applied the change already. The approval answers with the diff to
apply now, or the stored one and why it could not be remade. Reads the file only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from calmopsd.backtest.yamldiff import YamlEditError, set_key, unified
from calmopsd.config.lines import KeyPath
from calmopsd.model import Recommendation

ALERT_TUNING = "alert_tuning"


@dataclass(frozen=True)
class Remade:
    """The diff to apply, as the file is when the person approves."""

    diff: str  # empty: nothing left to apply
    note: str  # what a person should know about it


def remade(rec: Recommendation, read: Callable[[Path], str] | None = None) -> Remade:
    """The change of ``rec`` made afresh against its config file, or its stored diff with
    the reason it could not be (the file gone, unreadable, edited beyond recognition)."""
    stored = str(rec.evidence.get("diff", ""))
    config = str(rec.params.get("config", ""))
    path_parts = rec.params.get("path")
    value = str(rec.params.get("value", ""))
    if not config or not isinstance(path_parts, list):
        return Remade(stored, "the diff as it was made when proposed")
    try:
        text = (read or _read)(Path(config))
    except OSError as exc:
        return Remade(stored, f"{config} cannot be read now ({exc.strerror or exc}): "
                              "the diff as it was made when proposed")  # fmt: skip
    if sha256(text) == rec.evidence.get("config_sha256"):
        return Remade(stored, f"{config} is unchanged since the proposal")
    key: KeyPath = tuple(part for part in path_parts if isinstance(part, str | int))
    try:
        edited = set_key(text, key, value)
    except YamlEditError as exc:
        return Remade(stored, f"{config} changed since the proposal and the change no longer "
                              f"applies as is ({exc}): the diff as it was made then")  # fmt: skip
    if edited == text:
        return Remade("", f"{config} already holds {rec.params.get('key')}: {value}")
    return Remade(unified(text, edited, config), f"made afresh: {config} changed since the "
                                                 "proposal")  # fmt: skip


def approved_detail(rec: Recommendation, read: Callable[[Path], str] | None = None) -> str:
    """What an approval of ``rec`` answers: the decision recorded, and the diff."""
    fresh = remade(rec, read)
    head = "recorded as approved; calmopsd changes no config itself"
    if not fresh.diff:
        return f"{head}: {fresh.note}, nothing to apply"
    return f"{head}: apply this diff and reload ({fresh.note}):\n{fresh.diff}"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")
