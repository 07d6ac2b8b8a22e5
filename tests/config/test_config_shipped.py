"""The shipped config/calmops.yaml is the settings reference: it must load and match the schema."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import UnionType
from typing import Annotated, Union, get_args, get_origin

from calmopsd.config import SHIPPED_CONFIG, Config, load_config
from calmopsd.config.lines import KeyPath, map_lines
from calmopsd.typed import Model as BaseModel

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "calmops.yaml"


def _section(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _list_item_model(annotation: object) -> type[BaseModel] | None:
    """The model inside ``list[Model]``, ``Model | None`` or ``Annotated[...]``, else None."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _section(get_args(annotation)[0]) or _list_item_model(get_args(annotation)[0])
    if origin is list:
        return _section(get_args(annotation)[0])
    if origin in (Union, UnionType):  # rules: list[RuleConfig] | None, volume: ... | None
        found = [m for arg in get_args(annotation) if (m := _section(arg) or _list_item_model(arg))]
        return found[0] if found else None
    return None


def schema_fields(model: type[BaseModel], prefix: KeyPath = ()) -> Iterator[tuple[KeyPath, str]]:
    """Every key of ``model`` that the shipped file shows, nested sections included.

    Fields of list items (a check's ``url``) are documented in the comment above
    their list, since the shipped lists are empty.
    """
    for name, field in model.model_fields.items():
        key = field.alias or name  # rule_defaults.*.for, not hold
        yield (*prefix, key), field.description or ""
        section = _section(field.annotation)
        if section is not None:
            yield from schema_fields(section, (*prefix, key))


def schema_models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    yield model
    for field in model.model_fields.values():
        nested = _section(field.annotation) or _list_item_model(field.annotation)
        if nested is not None:
            yield from schema_models(nested)


def test_rule_items_are_among_the_models_checked() -> None:
    names = {model.__name__ for model in schema_models(Config)}
    assert {"RuleConfig", "VolumeConfig", "PlaybookConfig", "IncidentsConfig"} <= names


def test_list_item_fields_are_described_and_shown_in_the_comment_above_their_list() -> None:
    text = REPO_CONFIG.read_text(encoding="utf-8")
    undocumented = [
        f"{model.__name__}.{name}"
        for model in schema_models(Config)
        if model.__name__
        in (
            "HttpCheckConfig",
            "DependencyProbeConfig",
            "NginxSourceConfig",
            "NginxJsonFieldsConfig",
            "AppSourceConfig",
            "AppFieldsConfig",
            "RuleConfig",
            "VolumeConfig",
            "ApiTokenConfig",
        )
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
        or not re.search(rf"#\s+{field.alias or name}:", text)
    ]
    assert undocumented == []


def test_the_shipped_file_loads_to_exactly_the_schema_defaults() -> None:
    assert load_config(REPO_CONFIG) == Config()


def test_the_defaults_are_the_documented_product_defaults() -> None:
    dumped = Config().model_dump(mode="json")
    assert dumped == {
        "state_dir": "/var/lib/calmopsd",
        "log": {"level": "info", "format": "auto"},
        "audit": {"head_log_interval": "1h"},
        "thresholds": {
            "memory_percent": 85.0,
            "disk_percent": 80.0,
            "upload_failure_percent": 10.0,
            "server_error_percent": 5.0,
            "server_error_min_requests": 100,
            "clear_gap_points": 5.0,
            "rate_clear_fraction": 0.5,
        },
        "rules": None,
        "rule_defaults": {
            sampler: {"hold": 3, "clear_for": "15m"}
            for sampler in ("memory", "disk", "pm2", "http", "dependencies", "logs")
        },
        "incidents": {
            "stale_after": "1d",
            "reopen_within": "1h",
            "flap_hold_growth": 1.5,
            "max_clear_hold": "1h",
            "deploy_window": "15m",
            "monitor_for": "10m",
            "recommendation_expiry": "1d",
            "tick": "30s",
            "dominant_share": 90.0,
        },
        "playbook": {
            "memory": ["pm2_restart"],
            "disk": ["clear_temp"],
            "upload": ["rate_limit_uploads", "clear_temp"],
            "dependency": ["pause_jobs"],
            "network": ["nginx_reload", "pm2_restart"],
            "deploy": [],
            "app": ["pm2_restart"],
        },
        "actions": {
            "mode": "shadow",
            "dry_run": False,
            "paused": False,
            "timeout": "1m",
            "ineffective_within": "30m",
            "backend": "direct",
            "helper": {
                "socket": "/run/calmopsd-helper/helper.sock",
                "allowed_user": "calmopsd",
                "timeout": "5m",
            },
            "nginx": {
                "binary": "nginx",
                "prefix": None,
                "conf": None,
                "pid_file": "/run/nginx.pid",
                "error_log": "/var/log/nginx/error.log",
            },
            "pm2_restart": {
                "mode": None,
                "max_runs": 3,
                "window": "30m",
                "cooldown": "2m",
                "apps": [],
            },
            "nginx_reload": {"mode": None, "max_runs": 2, "window": "1h", "cooldown": "5m"},
            "pause_jobs": {
                "mode": None,
                "max_runs": 2,
                "window": "2h",
                "cooldown": "2m",
                "apps": [],
                "flag_file": None,
                "ttl": "30m",
                "max_extensions": 3,
            },
            "rate_limit_uploads": {
                "mode": None,
                "max_runs": 2,
                "window": "2h",
                "cooldown": "2m",
                "include_file": None,
                "organizations_map_file": None,
                "zone": "calmopsd_uploads",
                "burst": 20,
                "ttl": "30m",
                "max_extensions": 3,
            },
            "clear_temp": {
                "mode": None,
                "max_runs": 4,
                "window": "1h",
                "cooldown": "2m",
                "dirs": [],
                "min_age": "1h",
            },
        },
        "sensing": {
            "memory": {"enabled": True, "interval": "15s", "timeout": "10s", "top_processes": 5},
            "disk": {
                "enabled": True,
                "interval": "15s",
                "timeout": "10s",
                "mounts": ["/"],
                "fill_rate_window": "1h",
            },
            "pm2": {
                "enabled": True,
                "interval": "30s",
                "timeout": "10s",
                "binary": "pm2",
                "home": None,
                "user": None,
            },
            "http": {"enabled": True, "interval": "15s", "checks": []},
            "dependencies": {"enabled": True, "interval": "15s", "probes": []},
        },
        "logs": {
            "enabled": True,
            "interval": "15s",
            "start_at": "end",
            "settle": "10s",
            "max_line_length": 65536,
            "max_read_per_round": 256,
            "max_organizations": 1000,
            "uploads": {
                "routes": ["/upload*", "/api/upload*"],
                "methods": ["POST", "PUT"],
                "failure_statuses": [408, 413, 499],
            },
            "nginx": [],
            "apps": [],
        },
        "retention": {"raw_snapshots": "14d", "rollups": "400d", "max_store_size": "512MiB"},
        "api": {
            "enabled": True,
            "public": False,
            "listen": "127.0.0.1:8787",
            "unix_socket": None,
            "tokens": [],
            "metrics": "open_on_loopback",
        },
        "notify": {
            "targets": [],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "give_up_after": "6h",
            "dashboard_url": None,
            "weekly_summary": {"enabled": False, "day": "monday", "hour": 8, "targets": []},
        },
        "alertmanager": {"url": None, "interval": "1m", "host": None, "timeout": "10s"},
        "customers": {"channels": [], "public_urls": []},
    }


def test_the_packaged_copy_is_the_same_file() -> None:
    assert SHIPPED_CONFIG.read_bytes() == REPO_CONFIG.read_bytes()
    assert load_config(SHIPPED_CONFIG) == Config()


def test_in_a_checkout_the_packaged_copy_is_a_symlink_not_a_second_copy() -> None:
    assert SHIPPED_CONFIG.is_symlink()
    assert SHIPPED_CONFIG.resolve() == REPO_CONFIG


def test_every_schema_field_appears_in_the_shipped_file_with_a_comment_above() -> None:
    text = REPO_CONFIG.read_text(encoding="utf-8")
    written = map_lines(text).lines
    source = text.splitlines()
    undocumented = [
        ".".join(map(str, path))
        for path, _ in schema_fields(Config)
        if path not in written or not source[written[path] - 2].strip().startswith("#")
    ]
    assert undocumented == []


def test_the_shipped_file_has_no_key_the_schema_lacks() -> None:
    known = {path for path, _ in schema_fields(Config)}
    # List items (e.g. the mounts under sensing.disk) are values, not keys.
    keys = {
        path
        for path in map_lines(REPO_CONFIG.read_text(encoding="utf-8")).lines
        if not any(isinstance(part, int) for part in path)
    }
    assert keys == known


def test_every_schema_field_has_a_description() -> None:
    missing = [path for path, description in schema_fields(Config) if not description.strip()]
    assert missing == []


def test_every_model_forbids_unknown_keys_and_is_frozen() -> None:
    lax = [
        model.__name__
        for model in schema_models(Config)
        if model.model_config.get("extra") != "forbid" or not model.model_config.get("frozen")
    ]
    assert lax == []
