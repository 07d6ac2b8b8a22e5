"""Configuration: the typed schema, YAML loading with line numbers, and units.

    resolve_config_path(--config, environ)  →  Path      (location.py)
    load_config(path)                       →  Config    (load.py, lines.py, messages.py;
                                                          validated by calmopsd.typed)
    dropped(old, new)                       →  [what]    (drops.py: every token, rule, section)
    Config and its sections                              (schema.py)
    detection rules, their defaults, incidents, playbook (rules.py, rule_defaults.py, incidents.py)
    Duration / Percent, parse/format_duration            (units.py)

Importing this package reads no file and touches no state, and builds no model: each
name below is imported on first use, so a command that only needs
:func:`resolve_config_path` or the units (``calmopsd status --state-dir``, ``version``)
does not pay for the schema's 60-odd models (docs/decisions.md, "The command
line starts in a fraction of a second").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from calmopsd.first_use import first_use

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
    "dropped": "calmopsd.config.drops",
    "IncidentsConfig": "calmopsd.config.incidents",
    "PlaybookConfig": "calmopsd.config.incidents",
    "load_config": "calmopsd.config.load",
    "load_config_and_digest": "calmopsd.config.load",
    "SHIPPED_CONFIG": "calmopsd.config.location",
    "SYSTEM_CONFIG": "calmopsd.config.location",
    "resolve_config_path": "calmopsd.config.location",
    "RuleConfig": "calmopsd.config.rules",
    "shipped_rules": "calmopsd.config.rules",
    "AuditConfig": "calmopsd.config.schema",
    "Config": "calmopsd.config.schema",
    "LogConfig": "calmopsd.config.schema",
    "ThresholdsConfig": "calmopsd.config.schema",
    "Duration": "calmopsd.config.units",
    "Percent": "calmopsd.config.units",
    "PositiveDuration": "calmopsd.config.units",
    "format_duration": "calmopsd.config.units",
    "parse_duration": "calmopsd.config.units",
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


__getattr__, __dir__ = first_use(__name__, _WHERE)
