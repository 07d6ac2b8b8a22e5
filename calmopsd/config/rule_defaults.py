"""Hold-down and clear hold per rule class (``rule_defaults:``), without rewriting the rules.

A rule's class is the sampler it watches. Each class sets ``for`` and
``clear_for`` for every rule of that sampler — the shipped ones and those
listed under ``rules:`` alike — that does not set them itself::

    rule_defaults:
      logs: {for: 5m, clear_for: 30m}   # every log-rate rule, unless it says otherwise

A rule keeps the value it writes: what counts as written is the keys its
mapping held (the model's ``model_fields_set``), not a value that happens to
equal the default. The shipped rules that fire at once (``pm2_app_errored``
and ``pm2_app_restarting``: ``for: 1``) write theirs, so they keep it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from calmopsd.config.rules import DEFAULT_CLEAR_FOR, DEFAULT_HOLD, Hold, RuleConfig
from calmopsd.config.section import NullIsEmpty, Section
from calmopsd.config.units import Duration
from calmopsd.typed import Field


class RuleClassDefaults(Section):
    """``for`` and ``clear_for`` of one sampler's rules that do not set their own."""

    hold: Hold = Field(
        default=DEFAULT_HOLD,
        alias="for",
        description="How long a breach of these rules must hold before it fires: "
        "consecutive samples (3) or a duration (2m).",
    )
    clear_for: Duration = Field(
        default=DEFAULT_CLEAR_FOR,
        description="How long the clear condition of these rules must hold before the "
        "breach clears.",
    )


ClassDefaults = Annotated[RuleClassDefaults, NullIsEmpty]
"""One sampler's defaults; written with no value (``logs:``), all of them."""


class RuleDefaultsConfig(Section):
    """Per sampler, the ``for`` and ``clear_for`` of every rule that does not set its own.

    One field per sampler a rule may watch (a test holds them to ``Sampler``),
    so a misspelt sampler is an unknown key.
    """

    memory: ClassDefaults = Field(
        default_factory=RuleClassDefaults,
        description="for and clear_for of every memory rule that does not set them itself.",
    )
    disk: ClassDefaults = Field(
        default_factory=RuleClassDefaults,
        description="for and clear_for of every disk rule that does not set them itself.",
    )
    pm2: ClassDefaults = Field(
        default_factory=RuleClassDefaults,
        description="for and clear_for of every pm2 rule that does not set them itself.",
    )
    http: ClassDefaults = Field(
        default_factory=RuleClassDefaults,
        description="for and clear_for of every http rule that does not set them itself.",
    )
    dependencies: ClassDefaults = Field(
        default_factory=RuleClassDefaults,
        description="for and clear_for of every dependencies rule that does not set them itself.",
    )
    logs: ClassDefaults = Field(
        default_factory=RuleClassDefaults,
        description="for and clear_for of every logs rule that does not set them itself.",
    )

    def apply(self, rules: Iterable[RuleConfig]) -> list[RuleConfig]:
        """``rules`` with their class's ``for`` and ``clear_for`` where they set none."""
        return [self._apply(rule) for rule in rules]

    def _apply(self, rule: RuleConfig) -> RuleConfig:
        defaults: RuleClassDefaults = getattr(self, rule.sampler)
        update = {
            key: getattr(defaults, key)
            for key in ("hold", "clear_for")
            if key not in rule.model_fields_set
        }
        return rule.model_copy(update=update) if update else rule
