"""nginx_reload and rate_limit_uploads against a real nginx on 127.0.0.1.

The oracles are nginx itself: the worker pids under its master, what it
answers on its port (a body that says which config is live, 429s from its
limit_req) and the bytes of the include file on disk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support.nginx import Nginx, running_nginx

from calmopsd.act import nginx as nginx_steps
from calmopsd.act.action import Refused
from calmopsd.act.nginx_reload import NGINX_RELOAD
from calmopsd.act.rate_limit import RATE_LIMIT_UPLOADS, content
from calmopsd.act.sandbox import Sandbox
from calmopsd.clock import SystemClock
from calmopsd.config.actions import ActionsConfig, RateLimitUploadsConfig
from calmopsd.config.sensing import Pm2SamplerConfig

# burst 0 (nginx refuses "burst=0", so the word is left out): all but one request a second fail.
LIMIT = b"limit_req zone=calmopsd_uploads nodelay;\nlimit_req_status 429;\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Nginx]:
    with running_nginx(tmp_path / "nginx") as running:
        yield running
    assert running.leftovers() == []


@pytest.fixture
def server_without_include(tmp_path: Path) -> Iterator[Nginx]:
    """nginx whose upload location includes the file by glob, so it may be absent."""
    with running_nginx(tmp_path / "nginx", optional_include=True) as running:
        yield running
    assert running.leftovers() == []


def sandbox_for(server: Nginx, tmp_path: Path, dry_run: bool = False, **limit: Any) -> Sandbox:
    config = ActionsConfig.model_validate(server.actions_config(burst=0, **limit))
    return Sandbox(
        config=config,
        pm2=Pm2SamplerConfig(),
        workdir=tmp_path / "work",
        clock=SystemClock(),
        dry_run=dry_run,
    )


def argv(sandbox: Sandbox, *args: str) -> tuple[str, ...]:
    return tuple(nginx_steps.argv(sandbox.config.nginx, *args))


def test_the_base_argv_names_prefix_and_conf_only_when_configured() -> None:
    config = ActionsConfig.model_validate({"nginx": {"binary": "/usr/sbin/nginx"}}).nginx
    assert nginx_steps.argv(config, "-t") == ["/usr/sbin/nginx", "-t"]
    configured = ActionsConfig.model_validate(
        {"nginx": {"prefix": "/srv/ngx", "conf": "/srv/ngx/nginx.conf"}}
    ).nginx
    assert nginx_steps.argv(configured, "-s", "reload") == [
        "nginx", "-p", "/srv/ngx", "-c", "/srv/ngx/nginx.conf", "-s", "reload",
    ]  # fmt: skip


def test_the_include_file_comes_from_one_fixed_template() -> None:
    settings = RateLimitUploadsConfig(include_file=Path("/x/limit.conf"), zone="up", burst=5)
    assert content(settings) == b"limit_req zone=up burst=5 nodelay;\nlimit_req_status 429;\n"
    assert content(settings.model_copy(update={"burst": 0})) == (
        b"limit_req zone=up nodelay;\nlimit_req_status 429;\n"
    )


# -- nginx_reload ----------------------------------------------------------


def test_a_reload_applies_the_new_config_with_new_workers_and_keeps_serving(
    server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path)
    old = server.workers()
    server.write_conf(body="v2")

    result = NGINX_RELOAD.run(NGINX_RELOAD.validate({}, sandbox.config), sandbox)

    assert result.ok, result.detail
    assert result.data["master"] == server.master_pid()
    assert set(result.data["old_workers"]) == old
    assert set(result.data["new_workers"]) == server.workers()
    assert len(result.data["new_workers"]) == 2
    assert old.isdisjoint(result.data["new_workers"])
    assert server.get("/") == (200, "v2")
    assert sandbox.commands == [argv(sandbox, "-t"), argv(sandbox, "-s", "reload")]


def test_a_config_that_fails_nginx_t_is_never_reloaded_and_the_old_one_serves(
    server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path)
    old = server.workers()
    server.break_syntax()

    result = NGINX_RELOAD.run({}, sandbox)

    assert not result.ok
    assert result.detail.startswith("nginx -t failed: [emerg] unknown directive")
    assert sandbox.commands == [argv(sandbox, "-t")]
    assert server.workers() == old
    assert server.get("/") == (200, "up")


def test_a_config_that_passes_nginx_t_but_cannot_bind_is_reported_failed(
    server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path)
    old = server.workers()
    port = server.make_unappliable()

    result = NGINX_RELOAD.run({}, sandbox)

    assert not result.ok
    assert "[emerg]" in result.detail and f"bind() to 127.0.0.1:{port} failed" in result.detail
    assert sandbox.commands == [argv(sandbox, "-t"), argv(sandbox, "-s", "reload")]
    assert result.data["new_workers"] == []
    server.wait_in_log("still could not bind()")  # the master has given up retrying
    assert server.workers() == old
    assert server.get("/") == (200, "up")


def test_a_reload_without_a_running_master_fails_without_signalling(
    server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path)
    server.stop()

    result = NGINX_RELOAD.run({}, sandbox)

    assert not result.ok
    assert result.detail.startswith("nginx is not running")
    assert sandbox.commands == [argv(sandbox, "-t")]


def test_a_dry_reload_records_the_commands_and_changes_nothing(
    server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path, dry_run=True)
    old = server.workers()
    server.write_conf(body="v2")

    result = NGINX_RELOAD.run({}, sandbox)

    assert result.ok
    assert result.data == {"dry_run": True}
    assert sandbox.commands == [argv(sandbox, "-t"), argv(sandbox, "-s", "reload")]
    assert server.workers() == old
    assert server.get("/") == (200, "up")


# -- rate_limit_uploads ----------------------------------------------------


def test_the_limit_brings_429s_and_its_revert_restores_the_file_byte_for_byte(
    server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path)
    server.include.write_bytes(b"# calmopsd: no limit\n")
    server.include.chmod(0o640)
    assert server.burst("/upload") == [200] * 30

    params = RATE_LIMIT_UPLOADS.validate({"ttl": "5m"}, sandbox.config)
    applied = RATE_LIMIT_UPLOADS.run(params, sandbox)

    assert applied.ok, applied.detail
    assert applied.lasts == timedelta(minutes=5)
    assert server.include.read_bytes() == LIMIT
    assert oct(server.include.stat().st_mode & 0o777) == "0o640"
    statuses = server.burst("/upload")
    assert statuses[0] == 200
    assert statuses.count(429) >= 25  # 1r/s, no burst: all but the first within the second
    assert server.get("/") == (200, "up")  # other locations are not limited
    assert applied.undo is not None

    # As after a daemon restart: the undo record read back from JSON, a new sandbox.
    later = sandbox_for(server, tmp_path)
    reverted = RATE_LIMIT_UPLOADS.revert(json.loads(json.dumps(applied.undo)), later)

    assert reverted.ok, reverted.detail
    assert server.include.read_bytes() == b"# calmopsd: no limit\n"
    assert oct(server.include.stat().st_mode & 0o777) == "0o640"
    assert server.burst("/upload") == [200] * 30
    assert (
        sandbox.commands
        == later.commands
        == [
            argv(sandbox, "-t"),
            argv(sandbox, "-s", "reload"),
        ]
    )


def test_a_limit_on_an_absent_include_file_is_reverted_by_removing_it(
    server_without_include: Nginx, tmp_path: Path
) -> None:
    server = server_without_include
    sandbox = sandbox_for(server, tmp_path)
    assert not server.include.exists()

    applied = RATE_LIMIT_UPLOADS.run(RATE_LIMIT_UPLOADS.validate({}, sandbox.config), sandbox)

    assert applied.ok, applied.detail
    assert applied.lasts == timedelta(minutes=30)  # the config's default ttl
    assert applied.undo == {
        "path": str(server.include), "existed": False, "content": "", "mode": 0o644,
    }  # fmt: skip
    assert server.include.read_bytes() == LIMIT
    assert 429 in server.burst("/upload")

    reverted = RATE_LIMIT_UPLOADS.revert(applied.undo, sandbox)

    assert reverted.ok, reverted.detail
    assert not server.include.exists()
    assert sorted(p.name for p in server.prefix.iterdir() if "calmopsd" in p.name) == []
    assert server.burst("/upload") == [200] * 30


def test_a_limit_that_fails_nginx_t_restores_the_file_and_reloads_nothing(
    server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path)
    before = server.include.read_bytes()
    old = server.workers()
    server.break_syntax()

    result = RATE_LIMIT_UPLOADS.run({"ttl": "5m"}, sandbox)

    assert not result.ok
    assert result.detail.startswith("nginx -t failed with the limit: [emerg] unknown directive")
    assert server.include.read_bytes() == before
    assert sandbox.commands == [argv(sandbox, "-t")]
    assert server.workers() == old
    assert server.burst("/upload", 5) == [200] * 5


def test_a_limit_whose_reload_cannot_apply_is_failed_and_the_file_restored(
    server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path)
    before = server.include.read_bytes()
    server.make_unappliable()

    result = RATE_LIMIT_UPLOADS.run({"ttl": "5m"}, sandbox)

    assert not result.ok
    assert "[emerg]" in result.detail and result.undo is None
    assert server.include.read_bytes() == before
    # No new workers started, so nginx still runs the old config: no second reload.
    assert sandbox.commands == [argv(sandbox, "-t"), argv(sandbox, "-s", "reload")]
    server.wait_in_log("still could not bind()")
    assert server.burst("/upload", 5) == [200] * 5


def test_a_dry_limit_records_the_commands_and_changes_nothing(
    server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path, dry_run=True)
    before = server.include.read_bytes()
    old = server.workers()

    applied = RATE_LIMIT_UPLOADS.run({"ttl": "5m"}, sandbox)
    assert applied.undo is not None
    reverted = RATE_LIMIT_UPLOADS.revert(applied.undo, sandbox)

    assert applied.ok and applied.data["dry_run"] is True
    assert reverted.ok and reverted.data["dry_run"] is True
    reload = argv(sandbox, "-s", "reload")
    assert sandbox.commands == [argv(sandbox, "-t"), reload, argv(sandbox, "-t"), reload]
    assert server.include.read_bytes() == before
    assert server.workers() == old
    assert server.burst("/upload", 5) == [200] * 5


def test_a_revert_for_another_file_than_the_configured_one_touches_nothing(
    server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path)
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me\n")
    undo = {"path": str(victim), "existed": False, "content": "", "mode": 0o644}

    result = RATE_LIMIT_UPLOADS.revert(undo, sandbox)

    assert not result.ok
    assert (
        result.detail == "cannot revert: the undo record's file is not the configured include_file"
    )
    assert victim.read_bytes() == b"keep me\n"
    assert sandbox.commands == []


def test_a_symlinked_include_file_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"not nginx\n")
    include = tmp_path / "limit.conf"
    include.symlink_to(target)
    sandbox = Sandbox(
        config=ActionsConfig.model_validate({"rate_limit_uploads": {"include_file": str(include)}}),
        pm2=Pm2SamplerConfig(),
        workdir=tmp_path / "work",
        clock=SystemClock(),
    )

    result = RATE_LIMIT_UPLOADS.run({"ttl": "5m"}, sandbox)

    assert not result.ok
    assert "is not a regular file" in result.detail
    assert include.is_symlink() and target.read_bytes() == b"not nginx\n"
    assert sandbox.commands == []


def test_a_limit_already_in_force_is_not_stacked(tmp_path: Path) -> None:
    sandbox = sandbox_with_include(tmp_path)
    include = sandbox.config.rate_limit_uploads.include_file
    assert include is not None
    include.write_bytes(content(sandbox.config.rate_limit_uploads))

    result = RATE_LIMIT_UPLOADS.run({"ttl": "5m"}, sandbox)

    assert (result.ok, result.detail) == (
        False,
        f"{include} already holds the limit: one is in force",
    )
    assert sandbox.commands == []


# -- validation: refused before anything runs -------------------------------

INJECTIONS: list[object] = [
    "10; rm -rf /",
    "$(reboot)",
    "`reboot`",
    "../../etc",
    "/etc/passwd",
    "5m; reboot",
    "5m\nreboot",
    "5m\0",
    " 5m",
    "5m ",
    "5M",
    "x" * 10_000,
    "5" * 10_000 + "m",
    "١٠m",  # Arabic-Indic digits
    "１０m",  # fullwidth digits
    "١٠",
    "",
    "0s",
    "7h",
    "1d",
    "30m1h",
    True,
    False,
    1.5,
    -5,
    10,
    10**100,
    None,
    ["5m"],
    {"m": 5},
]


@pytest.mark.parametrize("ttl", INJECTIONS, ids=lambda v: repr(v)[:30])
def test_a_bad_ttl_is_refused_with_nothing_run(ttl: object, tmp_path: Path) -> None:
    sandbox = sandbox_with_include(tmp_path)
    with pytest.raises(Refused) as refused:
        RATE_LIMIT_UPLOADS.validate({"ttl": ttl}, sandbox.config)
    assert refused.value.reason == "bad_parameter"
    assert len(refused.value.detail) < 200
    assert sandbox.commands == []


BAD_KEYS: list[dict[str, Any]] = [
    {"rate": 10},
    {"rate": "10; rm -rf /"},
    {"ttl": "5m", "rate": 5},
    {"burst": 1000},
    {"zone": "$(reboot)"},
    {"include_file": "../../etc/passwd"},
    {"ttl; rm -rf /": "5m"},
    {"x" * 10_000: "5m"},
    {"ttl": "5m", "extra": True},
]


@pytest.mark.parametrize("params", BAD_KEYS, ids=lambda v: repr(v)[:30])
def test_unknown_parameters_are_refused_with_nothing_run(
    params: dict[str, Any], tmp_path: Path
) -> None:
    sandbox = sandbox_with_include(tmp_path)
    with pytest.raises(Refused) as refused:
        RATE_LIMIT_UPLOADS.validate(params, sandbox.config)
    assert refused.value.reason == "bad_parameter"
    assert len(refused.value.detail) < 300
    assert sandbox.commands == []


@pytest.mark.parametrize(
    "params", [{"ttl": "5m"}, {"force": True}, {"": ""}, {"$(reboot)": 1}, *BAD_KEYS[:3]]
)
def test_nginx_reload_refuses_any_parameter(params: dict[str, Any], tmp_path: Path) -> None:
    sandbox = sandbox_with_include(tmp_path)
    with pytest.raises(Refused) as refused:
        NGINX_RELOAD.validate(params, sandbox.config)
    assert refused.value.reason == "bad_parameter"
    assert sandbox.commands == []


def test_params_that_are_not_a_mapping_are_refused(tmp_path: Path) -> None:
    config = sandbox_with_include(tmp_path).config
    for action in (NGINX_RELOAD, RATE_LIMIT_UPLOADS):
        with pytest.raises(Refused) as refused:
            action.validate(["ttl", "5m"], config)  # type: ignore[arg-type]
        assert refused.value.reason == "bad_parameter"


@pytest.mark.parametrize(
    ("ttl", "normalized"), [("5m", "5m"), ("90m", "1h30m"), ("1h30m", "1h30m"), ("6h", "6h")]
)
def test_a_good_ttl_is_normalized(ttl: str, normalized: str, tmp_path: Path) -> None:
    config = sandbox_with_include(tmp_path).config
    assert RATE_LIMIT_UPLOADS.validate({"ttl": ttl}, config) == {"ttl": normalized}


def test_without_an_include_file_the_limit_is_not_configured(tmp_path: Path) -> None:
    with pytest.raises(Refused) as refused:
        RATE_LIMIT_UPLOADS.validate({}, ActionsConfig())
    assert refused.value.reason == "not_configured"


def test_both_actions_target_nginx_and_only_the_limit_is_reversible() -> None:
    assert (NGINX_RELOAD.target({}), RATE_LIMIT_UPLOADS.target({"ttl": "5m"})) == (
        "nginx",
        "nginx",
    )
    assert (NGINX_RELOAD.reversible, RATE_LIMIT_UPLOADS.reversible) == (False, True)


def sandbox_with_include(tmp_path: Path) -> Sandbox:
    include = tmp_path / "limit.conf"
    config = {"rate_limit_uploads": {"include_file": str(include)}}
    return Sandbox(
        config=ActionsConfig.model_validate(config),
        pm2=Pm2SamplerConfig(),
        workdir=tmp_path / "work",
        clock=SystemClock(),
    )


def test_validation_reads_no_file_and_runs_nothing(tmp_path: Path) -> None:
    sandbox = sandbox_with_include(tmp_path)
    RATE_LIMIT_UPLOADS.validate({"ttl": "5m"}, sandbox.config)
    assert list(tmp_path.iterdir()) == []
    assert sandbox.commands == []
