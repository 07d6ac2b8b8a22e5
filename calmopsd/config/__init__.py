"""Configuration: the typed schema, YAML loading with line numbers, and units.

    resolve_config_path(--config, environ)  →  Path      (location.py)
    load_config(path)                       →  Config    (load.py, lines.py, messages.py,
                                                          crosscheck.py)
    dropped(old, new)                       →  [what]    (drops.py: every token, rule, section)
    Config and its sections                              (schema.py)
    detection rules, their defaults, incidents, playbook (rules.py, rule_defaults.py, incidents.py)
    Duration / Percent, parse/format_duration            (units.py)

Importing this package reads no file and touches no state.
"""

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
