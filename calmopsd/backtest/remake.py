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

import yaml

from calmopsd.backtest.yamldiff import YamlEditError, set_key, unified
from calmopsd.config.lines import KeyPath
from calmopsd.errors import ConfigError
from calmopsd.model import Recommendation

ALERT_TUNING = "alert_tuning"


@dataclass(frozen=True)
class Remade:
    """The diff to apply, as the file is when the person approves."""

    diff: str  # empty: nothing left to apply
    note: str  # what a person should know about it


def remade(rec: Recommendation, read: Callable[[Path], str] | None = None) -> Remade:
    """The change of ``rec`` made afresh against its config file, or its stored diff with
    the reason it could not be (the file gone, unreadable, edited beyond recognition).

    A rule of the file's own is found again by its name, not its place in ``rules:`` (a
    rule added above it must not get its change), and the edited text must load."""
    stored = str(rec.evidence.get("diff", ""))
    config = str(rec.params.get("config", ""))
    path_parts = rec.params.get("path")
    value = str(rec.params.get("value", ""))
    as_proposed = "the diff as it was made when proposed"
    if not config or not isinstance(path_parts, list):
        return Remade(stored, as_proposed)
    try:
        text = (read or _read)(Path(config))
    except OSError as exc:
        return Remade(stored, f"{config} cannot be read now ({exc.strerror or exc}): "
                              f"{as_proposed}")  # fmt: skip
    except UnicodeDecodeError:
        return Remade(stored, f"{config} is not UTF-8 text now: {as_proposed}")
    if sha256(text) == rec.evidence.get("config_sha256"):
        return Remade(stored, f"{config} is unchanged since the proposal")
    changed = f"{config} changed since the proposal and the change no longer applies as is"
    key = _found_again(text, tuple(p for p in path_parts if isinstance(p, str | int)),
                       str(rec.params.get("rule", "")))  # fmt: skip
    if key is None:
        return Remade(stored, f"{changed} (rule {rec.params.get('rule')} is not in its "
                              f"rules: list): {as_proposed}")  # fmt: skip
    try:
        edited = set_key(text, key, value)
    except YamlEditError as exc:
        return Remade(stored, f"{changed} ({exc}): {as_proposed}")
    if edited == text:
        return Remade("", f"{config} already holds {rec.params.get('key')}: {value}")
    # The schema is imported only here: the CLI and the API import approvals for every
    # decision, and only an alert tuning's needs the config's models.
    from calmopsd.config.load import load_config_text

    try:
        load_config_text(Path(config), edited)
    except ConfigError as exc:
        return Remade(stored, f"{changed} (edited, it would not load: "
                              f"{'; '.join(exc.problems)}): {as_proposed}")  # fmt: skip
    return Remade(unified(text, edited, config), f"made afresh: {config} changed since the "
                                                 "proposal")  # fmt: skip


def _found_again(text: str, key: KeyPath, rule: str) -> KeyPath | None:
    """``key`` with the index of ``rule`` in the file's ``rules:`` as it is now (None:
    not there); a key outside ``rules:`` as it is."""
    if len(key) < 2 or key[0] != "rules" or not isinstance(key[1], int):
        return key
    try:
        rules = (yaml.safe_load(text) or {}).get("rules")
    except (yaml.YAMLError, AttributeError):
        return None
    if not isinstance(rules, list):
        return None
    places = [i for i, r in enumerate(rules) if isinstance(r, dict) and r.get("name") == rule]
    return ("rules", places[0], *key[2:]) if len(places) == 1 else None


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
