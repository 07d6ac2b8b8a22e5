"""The typed config schema; the single source the shipped calmops.yaml documents.

Every model forbids unknown keys, because a misspelt key that is silently
ignored leaves a default in force the operator believes they changed. Every
field carries a ``description``; a test holds config/calmops.yaml to having a
commented key for each one.

A section written with no value (``log:`` with all its keys commented out)
means "all defaults", the same as leaving the section out.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from calmopsd.config.actions import ActionsConfig
from calmopsd.config.alertmanager import AlertmanagerConfig
from calmopsd.config.api import ApiConfig
from calmopsd.config.customers import CustomersConfig
from calmopsd.config.incidents import IncidentsConfig, PlaybookConfig
from calmopsd.config.logs import LogsConfig
from calmopsd.config.notify import NotifyConfig
from calmopsd.config.rule_defaults import RuleDefaultsConfig
from calmopsd.config.rules import RuleConfig, Rules, shipped_rules
from calmopsd.config.section import NullIsEmpty, Section
from calmopsd.config.sensing import RetentionConfig, SensingConfig
from calmopsd.config.units import ConfigPath, Percent, PositiveDuration
from calmopsd.typed import CrossCheck, Field, field_validator

DEFAULT_STATE_DIR = Path("/var/lib/calmopsd")


class LogConfig(Section):
    """How calmopsd writes its own log."""

    level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Lowest severity written: debug, info, warning or error."
    )
    format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="Line format: console (human), json (one JSON object per line), "
        "or auto (console on a terminal, JSON lines otherwise).",
    )


class AuditConfig(Section):
    """The hash-chained audit log."""

    head_log_interval: PositiveDuration = Field(
        default=timedelta(hours=1),
        description="How often the daemon logs the audit chain head as an audit.head line, "
        "so an external log keeps anchors to check the chain against.",
    )


class ThresholdsConfig(Section):
    """Levels at which the shipped rules see a breach, and where they clear (used when
    ``rules:`` is left empty)."""

    memory_percent: Percent = Field(
        default=85.0,
        description="Memory in use, as a percent of total memory, at which memory is in breach.",
    )
    disk_percent: Percent = Field(
        default=80.0,
        description="Disk space in use, as a percent of the filesystem, at which the disk "
        "is in breach.",
    )
    upload_failure_percent: Percent = Field(
        default=10.0,
        description="Share of upload requests that fail, as a percent, at which uploads "
        "are in breach: the platform's, and each organization's own.",
    )
    server_error_percent: Percent = Field(
        default=5.0,
        description="Share of the platform's requests in a minute answered with a server "
        "error (5xx), as a percent, above which the web app is in breach.",
    )
    server_error_min_requests: int = Field(
        default=100,
        ge=1,
        strict=True,
        description="Fewest requests in a minute over which the server error share is "
        "judged; a quieter minute neither fires nor clears.",
    )
    clear_gap_points: float = Field(
        default=5.0,
        ge=0,
        le=100,
        strict=True,
        description="Memory and disk clear only this many percentage points below their "
        "threshold (hysteresis); 0: as soon as they are no longer in breach.",
    )
    rate_clear_fraction: float = Field(
        default=0.5,
        gt=0,
        strict=True,
        description="Upload failures and server errors clear only below this fraction of "
        "their threshold (0.5: half of it); 1: as soon as they are no longer in breach.",
    )

    @field_validator("memory_percent", "disk_percent")
    @classmethod
    def _a_percent_not_a_fraction(cls, value: float) -> float:
        # A host at 0.8 % memory or disk is no host: a fraction was meant (rules take them).
        if value < 1:
            raise ValueError(
                f"is a percent: {value:g} means {value:g} %; for {value * 100:g} %, "
                f"write {value * 100:g}"
            )
        return value

    @field_validator("rate_clear_fraction")
    @classmethod
    def _a_fraction_not_a_percent(cls, value: float) -> float:
        if value > 1:
            raise ValueError(
                f"is a fraction of the threshold: 0.5 clears at half of it, 1 at the "
                f"threshold itself (got {value:g})"
            )
        return value


class Config(Section):
    """The whole calmopsd configuration, as loaded from calmops.yaml.

    Paths are absolute once validated: a relative ``state_dir`` is resolved
    against ``base_dir`` from the validation context (the config file's
    directory), or the current directory when there is no context.
    """

    state_dir: ConfigPath = Field(
        default=DEFAULT_STATE_DIR,
        description="Directory for the SQLite database and its audit head file.",
    )
    log: Annotated[LogConfig, NullIsEmpty] = Field(
        default_factory=LogConfig, description="How calmopsd writes its own log."
    )
    audit: Annotated[AuditConfig, NullIsEmpty] = Field(
        default_factory=AuditConfig, description="The hash-chained audit log."
    )
    thresholds: Annotated[ThresholdsConfig, NullIsEmpty] = Field(
        default_factory=ThresholdsConfig, description="Levels at which a reading becomes a breach."
    )
    rules: Rules | None = Field(
        default=None,
        description="Detection rules. Empty: the shipped rules, tuned by thresholds. "
        "Listing any replaces the whole shipped set.",
    )
    rule_defaults: Annotated[RuleDefaultsConfig, NullIsEmpty] = Field(
        default_factory=RuleDefaultsConfig,
        description="Per sampler, for and clear_for of every rule (shipped or your own) "
        "that does not set them itself.",
    )
    incidents: Annotated[IncidentsConfig, NullIsEmpty] = Field(
        default_factory=IncidentsConfig, description="How incidents open, hold and close."
    )
    playbook: Annotated[PlaybookConfig, NullIsEmpty] = Field(
        default_factory=PlaybookConfig,
        description="For each incident type, the safe actions the agent may try on its own.",
    )
    actions: Annotated[ActionsConfig, NullIsEmpty] = Field(
        default_factory=ActionsConfig,
        description="The safe-action executor: mode, kill switch, each action's limits.",
    )
    sensing: Annotated[SensingConfig, NullIsEmpty] = Field(
        default_factory=SensingConfig, description="What calmopsd samples, and how often."
    )
    logs: Annotated[LogsConfig, NullIsEmpty] = Field(
        default_factory=LogsConfig,
        description="Rates read from nginx access logs and JSON application logs.",
    )
    retention: Annotated[RetentionConfig, NullIsEmpty] = Field(
        default_factory=RetentionConfig, description="How long health snapshots are kept."
    )
    api: Annotated[ApiConfig, NullIsEmpty] = Field(
        default_factory=ApiConfig,
        description="The HTTP API: where it listens and the tokens that may call it.",
    )
    notify: Annotated[NotifyConfig, NullIsEmpty] = Field(
        default_factory=NotifyConfig,
        description="Who hears about incidents, and how notices are grouped and retried.",
    )
    alertmanager: Annotated[AlertmanagerConfig, NullIsEmpty] = Field(
        default_factory=AlertmanagerConfig,
        description="Forwarding incidents to Alertmanager as alerts.",
    )
    customers: Annotated[CustomersConfig, NullIsEmpty] = Field(
        default_factory=CustomersConfig,
        description="Customer status messages: where approved ones go, what they may name.",
    )

    def _rules_or_thresholds(self) -> None:
        """Own rules replace the shipped ones, which are what ``thresholds:`` tunes."""
        if self.rules is not None and self.thresholds.model_fields_set:
            tuned = ", ".join(f"thresholds.{k}" for k in sorted(self.thresholds.model_fields_set))
            raise ValueError(
                f"your own rules replace the shipped ones that {tuned} tunes; "
                "put the threshold in your rule and remove it from thresholds"
            )

    cross_checks = (CrossCheck(("rules", "thresholds"), _rules_or_thresholds, at="rules"),)

    def detection_rules(self) -> list[RuleConfig]:
        """The rules in force: the file's own, or the shipped ones tuned by ``thresholds``,
        each with its class's ``for`` and ``clear_for`` unless it sets them itself."""
        if self.rules is not None:
            return self.rule_defaults.apply(self.rules)
        t = self.thresholds
        return self.rule_defaults.apply(
            shipped_rules(
                memory_percent=t.memory_percent,
                disk_percent=t.disk_percent,
                upload_failure_percent=t.upload_failure_percent,
                server_error_percent=t.server_error_percent,
                server_error_min_requests=t.server_error_min_requests,
                clear_gap_points=t.clear_gap_points,
                rate_clear_fraction=t.rate_clear_fraction,
            )
        )
