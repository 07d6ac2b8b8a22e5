"""Configuration: the typed schema, YAML loading with line numbers, and units.

    resolve_config_path(--config, environ)  →  Path      (location.py)
    load_config(path)                       →  Config    (load.py, lines.py, messages.py,
                                                          crosscheck.py)
    dropped(old, new)                       →  [what]    (drops.py: every token, rule, section)
    Config and its sections                              (schema.py)
    detection rules, their defaults, incidents, playbook (rules.py, rule_defaults.py, incidents.py)
    Duration / Percent, parse/format_duration            (units.py)

Importing this package reads no file and touches no state, and builds no model: each
name below is imported on first use, so a command that only needs
:func:`resolve_config_path` or the units (``calmopsd status --state-dir``, ``version``)
does not pay for the schema's 60-odd pydantic models (docs/decisions.md, "The command
line starts in a fraction of a second").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from calmopsd.config.drops import dropped
    from calmopsd.config.incidents import IncidentsConfig, PlaybookConfig
    from calmopsd.config.load import load_config, load_config_and_digest
    from calmopsd.config.location import SHIPPED_CONFIG, SYSTEM_CONFIG, resolve_config_path
    from calmopsd.config.rules import RuleConfig, shipped_rules
    from calmopsd.config.schema import AuditConfig, Config, LogConfig, ThresholdsConfig
    from calmopsd.config.units import (
        Duration,
        Percent,
        PositiveDuration,
        format_duration,
        parse_duration,
    )

_WHERE = {
    "dropped": "drops",
    "IncidentsConfig": "incidents",
    "PlaybookConfig": "incidents",
    "load_config": "load",
    "load_config_and_digest": "load",
    "SHIPPED_CONFIG": "location",
    "SYSTEM_CONFIG": "location",
    "resolve_config_path": "location",
    "RuleConfig": "rules",
    "shipped_rules": "rules",
    "AuditConfig": "schema",
    "Config": "schema",
    "LogConfig": "schema",
    "ThresholdsConfig": "schema",
    "Duration": "units",
    "Percent": "units",
    "PositiveDuration": "units",
    "format_duration": "units",
    "parse_duration": "units",
}

__all__ = [
    "SHIPPED_CONFIG",
    "SYSTEM_CONFIG",
    "AuditConfig",
    "Config",
    "Duration",
    "IncidentsConfig",
    "LogConfig",
    "Percent",
    "PlaybookConfig",
    "PositiveDuration",
    "RuleConfig",
    "ThresholdsConfig",
    "dropped",
    "format_duration",
    "load_config",
    "load_config_and_digest",
    "parse_duration",
    "resolve_config_path",
    "shipped_rules",
]


def __getattr__(name: str) -> object:
    if name in _WHERE:
        return getattr(importlib.import_module(f"calmopsd.config.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
