"""Detection rules (``rules:``): which reading values are a breach, for how long, and when it ends.

A rule addresses values inside one sampler's reading by a dotted ``metric``
path. A segment written ``{label}`` matches every key at that level and binds
it to ``label``, so one rule covers every mount, app, check, probe or
organization, each as its own series::

    sampler: disk
    metric: mounts.{mount}.used_percent     # one series per mount
    where: {mount: /}                       # optional: only the series whose labels match

Labels are ``mount``, ``app``, ``organization``, ``check`` and ``probe``.

Thresholds are in the metric's own unit: ``used_percent`` is 0–100, the log
``upload_failure_rate`` and ``server_error_rate`` are fractions (0.1 is 10 %).
``for`` is a number of consecutive bad samples (``3``) or a duration (``2m``);
for the windowed log rates a sample is a fresh window (a new minute), not one
more reading of the same one. ``clear`` is a second threshold on the healthy
side of ``threshold`` (hysteresis: between the two a firing rule stays
firing), and the clear condition must hold for ``clear_for``. A rule that
does not write ``for`` or ``clear_for`` takes its sampler's from
``rule_defaults:`` (``rule_defaults.py``), whose own defaults are these.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal

from calmopsd.config.metrics import is_fraction, metric_kind
from calmopsd.config.section import Section
from calmopsd.config.unique import each_name_once
from calmopsd.config.units import (
    LONGEST,
    Duration,
    Name,
    PositiveDuration,
    format_duration,
    parse_duration,
    shown,
)
from calmopsd.model import IncidentType, Severity
from calmopsd.typed import (
    BeforeValidator,
    Field,
    ValidationInfo,
    across_items,
    field_validator,
)

Comparison = Literal[">", ">=", "<", "<=", "==", "!="]
ORDERING: frozenset[str] = frozenset({">", ">=", "<", "<="})
LABELS = ("mount", "app", "organization", "check", "probe")
_SEGMENT = re.compile(r"^(?:\{(?P<label>[A-Za-z]+)\}|(?P<key>[A-Za-z0-9_]+))$")

Threshold = bool | float | str
DEFAULT_HOLD = 3
MOST_SAMPLES = 100_000  # 17 days of readings every 15 s: a rule waiting longer never fires
DEFAULT_CLEAR_FOR = timedelta(minutes=15)


def _to_hold(value: Any) -> Any:
    """``3`` is three consecutive samples; ``"2m"`` is a duration. Booleans are neither."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number of samples or a duration like 2m (got {shown(value)})")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"must be at least 1 sample (got {value})")
        if value > MOST_SAMPLES:
            raise ValueError(f"must be at most {MOST_SAMPLES} samples (got {value})")
        return value
    if isinstance(value, str):
        duration = parse_duration(value)
        if duration <= timedelta(0):
            raise ValueError("must be longer than 0s")
        if duration > LONGEST:
            raise ValueError(f"must be at most {format_duration(LONGEST)} (got {shown(value)})")
        return duration
    if isinstance(value, timedelta):
        return value
    raise ValueError(f"must be a number of samples or a duration like 2m (got {shown(value)})")


Hold = Annotated[int | timedelta, BeforeValidator(_to_hold)]
"""How long a condition must hold: consecutive samples (int) or a duration."""


def metric_segments(metric: str) -> list[tuple[str, bool]]:
    """``metric`` split into ``(name, is_label)`` pairs; ``ValueError`` names a bad segment."""
    segments: list[tuple[str, bool]] = []
    for part in metric.split("."):
        match = _SEGMENT.match(part)
        if match is None:
            raise ValueError(f"metric segment {part!r} must be a key or a {{label}}")
        label = match.group("label")
        if label is not None and label not in LABELS and label.lower() in LABELS:
            raise ValueError(f"labels are written in lower case: {{{label.lower()}}}")
        if label is not None and label not in LABELS:
            raise ValueError(f"unknown label {{{label}}}; labels are {', '.join(LABELS)}")
        segments.append((label or match.group("key"), label is not None))
    return segments


def walk(
    node: Any, segments: list[tuple[str, bool]], labels: dict[str, str]
) -> list[tuple[dict[str, str], Any]]:
    """Every value at the path ``segments`` (from :func:`metric_segments`) in ``node``, with
    the labels its ``{label}`` segments took: a missing key or a level that is not a
    mapping yields nothing. The detector and the dashboard's charts read series so."""
    if not segments:
        return [(labels, node)]
    if not isinstance(node, Mapping):
        return []
    (name, is_label), rest = segments[0], segments[1:]
    if not is_label:
        return walk(node[name], rest, labels) if name in node else []
    found: list[tuple[dict[str, str], Any]] = []
    for key, child in node.items():
        found.extend(walk(child, rest, {**labels, name: str(key)}))
    return found


class VolumeConfig(Section):
    """A minimum volume: below it the rule's rate is too thin to judge (no verdict)."""

    metric: str = Field(
        description="Dotted path, in the same reading, of the volume (e.g. "
        "platform.5m.uploads); may use the rule's {labels}."
    )
    at_least: float = Field(ge=0, description="Smallest volume at which the rule is judged.")

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        metric_segments(value)
        return value


Sampler = Literal["memory", "disk", "pm2", "http", "dependencies", "logs"]


class RuleConfig(Section):
    """One detection rule. Each check names the key it is about, so every problem
    is reported at its own line."""

    name: Name = Field(description="Unique name of the rule, used in events and summaries.")
    sampler: Sampler = Field(
        description="Reading it watches: memory, disk, pm2, http, dependencies or logs."
    )
    metric: str = Field(
        description="Dotted path into the reading's values; {mount}, {app}, {organization}, "
        "{check} or {probe} segments make one series per key."
    )
    where: dict[str, str] = Field(
        default_factory=dict,
        description="Label matchers: only series whose labels equal these values.",
    )
    op: Comparison = Field(description="Comparison of value against threshold: > >= < <= == !=.")
    threshold: Threshold = Field(description="The value is in breach when `value op threshold`.")
    critical: float | None = Field(
        default=None,
        description="A further threshold (same comparison) at which the severity becomes critical.",
    )
    clear: float | None = Field(
        default=None,
        description="Hysteresis: the breach clears only on the healthy side of this value "
        "(default: as soon as it is no longer in breach).",
    )
    hold: Hold = Field(
        default=DEFAULT_HOLD,
        alias="for",
        description="How long the breach must hold before it fires: consecutive samples "
        "(3) or a duration (2m); unset, its sampler's in rule_defaults.",
    )
    clear_for: Duration = Field(
        default=DEFAULT_CLEAR_FOR,
        description="How long the clear condition must hold before the breach clears; "
        "unset, its sampler's in rule_defaults.",
    )
    sum_over: PositiveDuration | None = Field(
        default=None,
        description="Compare the sum of the value over this trailing window instead "
        "(restarts within 5m).",
    )
    severity: Severity = Field(default=Severity.WARNING, description="info, warning or critical.")
    type: IncidentType = Field(
        description="Incident type when classification finds no stronger evidence (required)."
    )
    volume: VolumeConfig | None = Field(
        default=None, description="Optional minimum volume; below it the rule is not judged."
    )

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str, info: ValidationInfo) -> str:
        metric_segments(value)
        if "sampler" in info.data:
            metric_kind(info.data["sampler"], value)
        return value

    @field_validator("where")
    @classmethod
    def _where(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        if "metric" in info.data:
            unknown = sorted(set(value) - _labels(info.data["metric"]))
            if unknown:
                raise ValueError(f"{', '.join(unknown)} is not a label the metric binds")
        return value

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, value: Threshold, info: ValidationInfo) -> Threshold:
        kind = _kind_of(info)
        op = info.data.get("op")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"must be a finite number (got {shown(value)})")
        if op in ORDERING and isinstance(value, bool | str):
            raise ValueError(f"{op} compares numbers; {shown(value)} is not one")
        if op in ORDERING and kind not in (None, "number"):
            raise ValueError(f"{op} compares numbers, but the metric is {kind}: use == or !=")
        if kind is not None and not _fits(kind, value):
            raise ValueError(f"the metric is {_KIND_WORDS[kind]}; {shown(value)} is not")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and is_fraction(str(info.data.get("metric"))) and not 0 <= float(value) <= 1:
            raise ValueError(f"the rate is a fraction: 0.1 means 10 % (got {shown(value)})")
        return value

    @field_validator("critical")
    @classmethod
    def _critical(cls, value: float | None, info: ValidationInfo) -> float | None:
        return _on_side(value, info, "critical", beyond=True)

    @field_validator("clear")
    @classmethod
    def _clear(cls, value: float | None, info: ValidationInfo) -> float | None:
        return _on_side(value, info, "clear", beyond=False)

    @field_validator("volume")
    @classmethod
    def _volume(cls, value: VolumeConfig | None, info: ValidationInfo) -> VolumeConfig | None:
        if value is None or "sampler" not in info.data or "metric" not in info.data:
            return value
        metric_kind(info.data["sampler"], value.metric)
        extra = sorted(_labels(value.metric) - _labels(info.data["metric"]))
        if extra:
            raise ValueError(f"the volume uses {{{', '.join(extra)}}}, which the metric does not")
        return value


_KIND_WORDS = {"number": "a number", "bool": "true or false", "text": "a word"}


def _labels(metric: str) -> set[str]:
    try:
        return {name for name, is_label in metric_segments(metric) if is_label}
    except ValueError:
        return set()


def _kind_of(info: ValidationInfo) -> str | None:
    try:
        return metric_kind(info.data["sampler"], info.data["metric"])
    except (KeyError, ValueError):
        return None  # the sampler or metric is itself wrong, and said so


def _fits(kind: str, value: Threshold) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "text":
        return isinstance(value, str)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _on_side(value: float | None, info: ValidationInfo, key: str, *, beyond: bool) -> float | None:
    """``critical`` lies past the threshold, ``clear`` short of it, as the comparison reads."""
    if value is None:
        return value
    op, threshold = info.data.get("op"), info.data.get("threshold")
    if op is None or threshold is None:
        return value  # reported on their own keys
    if op not in ORDERING:
        raise ValueError(f"needs an ordering comparison (> >= < <=), not {op}")
    if isinstance(threshold, bool | str):
        return value
    upward = op in (">", ">=")
    ok = (value >= threshold) if upward == beyond else (value <= threshold)
    if not ok:
        side = "beyond" if beyond else "on the healthy side of"
        raise ValueError(f"{key} ({shown(value)}) must lie {side} threshold {shown(threshold)}")
    return value


def shipped_rules(
    *,
    memory_percent: float = 85,
    disk_percent: float = 80,
    upload_failure_percent: float = 10,
    server_error_percent: float = 5,
    server_error_min_requests: int = 100,
    clear_gap_points: float = 5,
    rate_clear_fraction: float = 0.5,
) -> list[RuleConfig]:
    """The shipped rules, with the levels ``thresholds:`` tunes.

    Memory and disk escalate to critical ten points above their threshold (no
    escalation when that passes 100) and clear ``clear_gap_points`` below it (at
    0 or less: as soon as the breach ends); the defaults give 85/95/80 and
    80/90/75. Server errors are a share of the minute's requests, judged only
    over ``server_error_min_requests`` of them: a count per minute would call a
    busy host's normal trickle of errors a fault. The log rates clear below
    ``rate_clear_fraction`` of their threshold, so a rate hovering at it does
    not flap. Each organization's upload rule comes before the platform's: a
    reading's transitions are taken in rule order, and the specific incident
    should exist by the time the platform's breach of the same fault is taken.
    """
    uploads = upload_failure_percent / 100
    errors = server_error_percent / 100
    rules: list[dict[str, Any]] = [
        {"name": "memory_used", "sampler": "memory", "metric": "used_percent", "op": ">",
         **_bands(memory_percent, clear_gap_points), "type": "memory"},
        {"name": "disk_used", "sampler": "disk", "metric": "mounts.{mount}.used_percent",
         "op": ">", **_bands(disk_percent, clear_gap_points), "type": "disk"},
        {"name": "disk_filling", "sampler": "disk", "metric": "mounts.{mount}.hours_until_full",
         "op": "<", "threshold": 24, "type": "disk"},
        {"name": "organization_upload_failures", "sampler": "logs",
         "metric": "organizations.{organization}.5m.upload_failure_rate", "op": ">",
         "threshold": uploads, **_rate_clear(uploads, rate_clear_fraction), "type": "upload",
         "volume": {"metric": "organizations.{organization}.5m.uploads", "at_least": 20}},
        {"name": "upload_failures", "sampler": "logs", "metric": "platform.5m.upload_failure_rate",
         "op": ">", "threshold": uploads, **_rate_clear(uploads, rate_clear_fraction),
         "type": "upload", "volume": {"metric": "platform.5m.uploads", "at_least": 20}},
        {"name": "server_errors", "sampler": "logs", "metric": "platform.1m.server_error_rate",
         "op": ">", "threshold": errors, **_rate_clear(errors, rate_clear_fraction),
         "type": "network",
         "volume": {"metric": "platform.1m.requests", "at_least": server_error_min_requests}},
        {"name": "health_check_failing", "sampler": "http", "metric": "checks.{check}.up",
         "op": "==", "threshold": False, "severity": "critical", "type": "network"},
        {"name": "pm2_app_errored", "sampler": "pm2", "metric": "apps.{app}.status", "op": "==",
         "threshold": "errored", "for": 1, "severity": "critical", "type": "app"},
        {"name": "pm2_app_not_online", "sampler": "pm2", "metric": "apps.{app}.status", "op": "!=",
         "threshold": "online", "type": "app"},
        {"name": "pm2_app_restarting", "sampler": "pm2", "metric": "apps.{app}.restart_increase",
         "op": ">=", "threshold": 3, "for": 1, "sum_over": "5m", "type": "app"},
        {"name": "dependency_down", "sampler": "dependencies", "metric": "probes.{probe}.up",
         "op": "==", "threshold": False, "severity": "critical", "type": "dependency"},
    ]  # fmt: skip
    return [RuleConfig.model_validate(rule) for rule in rules]


def _bands(threshold: float, clear_gap: float) -> dict[str, Any]:
    bands: dict[str, Any] = {"threshold": threshold}
    if threshold + 10 <= 100:
        bands["critical"] = threshold + 10
    if clear_gap > 0 and threshold - clear_gap > 0:
        bands["clear"] = threshold - clear_gap
    return bands


def _rate_clear(threshold: float, fraction: float) -> dict[str, Any]:
    """A rate clears below ``fraction`` of its threshold; at 1 (or a threshold of 0),
    as soon as the breach ends."""
    return {"clear": threshold * fraction} if threshold > 0 and fraction < 1 else {}


def default_rules() -> list[RuleConfig]:
    """The shipped rules at the shipped thresholds."""
    return shipped_rules()


_unique = each_name_once(
    lambda name, first, _: f"rule names must be unique; {name!r} is also rules[{first}]'s"
)


Rules = Annotated[list[RuleConfig], across_items(_unique)]
"""The type of the ``rules:`` key: a list of rules with unique names."""
