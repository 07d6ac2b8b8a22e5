"""rate_limit_uploads for one organization, against a real nginx on 127.0.0.1.

The nginx (tests/support/nginx.py) is set up as the module docstring of
calmopsd/act/rate_limit.py tells an operator: a map from the ``X-Organization``
header that includes the map file calmopsd owns, a zone keyed by the map's result
(1r/s), and ``limit_req zone=calmopsd_org_uploads burst=5 nodelay`` in the upload
location for good. The oracles are what nginx answers to each organization (429s
from its limit_req), the map file's bytes on disk and the audit log.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.clock import ManualClock  # type: ignore[import-not-found]
from support.nginx import ORG_BURST, Nginx, running_nginx

from calmopsd import runner
from calmopsd.act import nginx as nginx_steps
from calmopsd.act.action import Refused
from calmopsd.act.executor import SafeExecutor
from calmopsd.act.rate_limit import RATE_LIMIT_UPLOADS
from calmopsd.act.sandbox import OUTPUT_LIMIT, DirectBackend, Sandbox
from calmopsd.clock import SystemClock
from calmopsd.config.actions import ActionsConfig
from calmopsd.config.sensing import Pm2SamplerConfig
from calmopsd.model import (
    ActionRequest,
    IncidentType,
    OutcomeStatus,
    RefusalReason,
    SafeAction,
    Severity,
)
from calmopsd.record.actions import list_active
from calmopsd.record.audit import list_events, verify_file
from calmopsd.record.database import Database, database_path
from calmopsd.record.incidents import open_incident
from calmopsd.record.scope import Scope
from calmopsd.typed import ValidationError

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
TERM = timedelta(minutes=10)
PLATFORM = Scope.platform()
ACME = b"\\acme acme;\n"
GLOBEX = b"\\globex globex;\n"
PASSED = 1 + ORG_BURST  # requests of a listed organization answered within its first second
NOTE = b"# calmopsd's: one line per organization limited\n"  # an operator's comment, kept


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Nginx]:
    with running_nginx(tmp_path / "nginx") as running:
        yield running
    assert running.leftovers() == []


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database.open(database_path(tmp_path / "state"))
    yield db
    db.close()


def sandbox_for(server: Nginx, tmp_path: Path, dry_run: bool = False) -> Sandbox:
    return Sandbox(
        config=ActionsConfig.model_validate(server.actions_config()),
        pm2=Pm2SamplerConfig(),
        workdir=tmp_path / "work",
        clock=SystemClock(),
        dry_run=dry_run,
    )


def limit_for(organization: str, sandbox: Sandbox, ttl: str = "5m") -> Any:
    params = RATE_LIMIT_UPLOADS.validate({"ttl": ttl, "organization": organization}, sandbox.config)
    return RATE_LIMIT_UPLOADS.run(params, sandbox)


def limited(server: Nginx, organization: str | None) -> bool:
    """Whether nginx holds ``organization``'s uploads to its rate (1r/s): of 30 back to back,
    at most 1 + burst pass (one more if a second passed meanwhile), the rest get 429."""
    statuses = server.burst("/upload", organization=organization)
    if statuses == [200] * 30:
        return False
    assert set(statuses) == {200, 429} or statuses == [429] * 30, statuses
    assert statuses.count(429) >= 30 - PASSED - 1, statuses
    return True


def argv(sandbox: Sandbox, *args: str) -> tuple[str, ...]:
    return tuple(nginx_steps.argv(sandbox.config.nginx, *args))


# -- the action against nginx --------------------------------------------------------------


def test_a_listed_organization_gets_429s_past_the_burst_another_does_not_and_the_revert_lifts_it(
    server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path)
    server.org_map.write_bytes(NOTE)
    server.org_map.chmod(0o640)
    assert not limited(server, "acme")

    applied = limit_for("acme", sandbox)

    assert applied.ok, applied.detail
    assert applied.detail == f"uploads of acme limited for 5m ({server.org_map} lists it)"
    assert (
        server.org_map.read_bytes() == b"# calmopsd's: one line per organization limited\n" + ACME
    )
    assert oct(server.org_map.stat().st_mode & 0o777) == "0o640"
    statuses = server.burst("/upload", organization="acme")
    assert statuses[: PASSED + 1] == [200] * PASSED + [429]  # 429 past the burst
    assert statuses.count(429) >= 30 - PASSED - 1
    assert not limited(server, "globex")
    assert not limited(server, None)  # no organization: an empty key, never accounted
    assert server.get("/") == (200, "up")
    assert applied.lasts == timedelta(minutes=5)
    assert applied.undo == {"path": str(server.org_map), "organization": "acme"}
    facts = {k: v for k, v in applied.data.items() if k not in ("master", "old_workers")}
    assert facts == {
        "file": str(server.org_map), "organization": "acme", "entry": "\\acme acme;",
        "ttl": "5m", "new_workers": sorted(server.workers()),
    }  # fmt: skip

    # As after a daemon restart: the undo record read back from JSON, a new sandbox.
    later = sandbox_for(server, tmp_path)
    reverted = RATE_LIMIT_UPLOADS.revert(json.loads(json.dumps(applied.undo)), later)

    assert reverted.ok, reverted.detail
    assert reverted.detail == (
        f"upload limit for acme removed: {server.org_map} no longer lists it, nginx reloaded"
    )
    assert server.org_map.read_bytes() == NOTE
    assert oct(server.org_map.stat().st_mode & 0o777) == "0o640"
    assert not limited(server, "acme")
    assert (
        sandbox.commands == later.commands == [argv(sandbox, "-t"), argv(sandbox, "-s", "reload")]
    )


def test_two_organizations_limited_at_once_and_one_reverted_leaves_the_other_limited(
    server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path)
    acme = limit_for("acme", sandbox)
    globex = limit_for("globex", sandbox)
    assert acme.ok and globex.ok, (acme.detail, globex.detail)
    assert server.org_map.read_bytes() == ACME + GLOBEX
    assert limited(server, "acme") and limited(server, "globex")
    assert not limited(server, "initech")

    assert acme.undo is not None
    assert RATE_LIMIT_UPLOADS.revert(acme.undo, sandbox).ok

    assert server.org_map.read_bytes() == GLOBEX
    assert not limited(server, "acme")
    assert limited(server, "globex")

    assert globex.undo is not None
    assert RATE_LIMIT_UPLOADS.revert(globex.undo, sandbox).ok
    assert server.org_map.exists() and server.org_map.read_bytes() == b""  # the file stays
    assert not limited(server, "globex")


@pytest.mark.parametrize("organization", ["default", "include", "hostnames", "volatile"])
def test_an_organization_named_like_a_map_parameter_is_limited_alone(
    organization: str, server: Nginx, tmp_path: Path
) -> None:
    """``include include;`` would include a file, ``default default;`` key every request."""
    applied = limit_for(organization, sandbox_for(server, tmp_path))
    assert applied.ok, applied.detail
    assert server.org_map.read_bytes() == f"\\{organization} {organization};\n".encode()
    assert limited(server, organization)
    assert not limited(server, "acme") and not limited(server, None)


def test_a_dry_limit_for_an_organization_records_the_commands_and_writes_nothing(
    server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path, dry_run=True)
    server.org_map.write_bytes(GLOBEX)
    old = server.workers()

    applied = limit_for("acme", sandbox)
    assert applied.undo is not None
    reverted = RATE_LIMIT_UPLOADS.revert(applied.undo, sandbox)

    assert applied.ok and applied.data["dry_run"] is True
    assert applied.detail == f"dry run: {server.org_map} would hold the limit for 5m"
    assert reverted.ok and reverted.data["dry_run"] is True
    reload = argv(sandbox, "-s", "reload")
    assert sandbox.commands == [argv(sandbox, "-t"), reload, argv(sandbox, "-t"), reload]
    assert server.org_map.read_bytes() == GLOBEX  # not even globex's line was taken out
    assert server.workers() == old
    assert not limited(server, "acme")


def test_a_limit_for_an_organization_that_fails_nginx_t_restores_the_map_file(
    server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path)
    server.org_map.write_bytes(GLOBEX)
    server.break_syntax()

    result = limit_for("acme", sandbox)

    assert not result.ok and result.undo is None
    assert result.detail.startswith("nginx -t failed with the limit: [emerg] unknown directive")
    assert server.org_map.read_bytes() == GLOBEX
    assert sandbox.commands == [argv(sandbox, "-t")]


def test_an_organization_already_in_the_map_is_not_stacked(server: Nginx, tmp_path: Path) -> None:
    """Written by calmopsd before, or by hand in another spelling: the revert of a second
    limit would lift the first, and nginx refuses a key twice ("conflicting parameter")."""
    sandbox = sandbox_for(server, tmp_path)
    for present in (ACME, b'"ACME" 1; # by hand\n'):
        server.org_map.write_bytes(GLOBEX + present)
        params = {"ttl": "5m", "organization": "acme"}

        assert RATE_LIMIT_UPLOADS.prepare(params, sandbox) is None
        result = RATE_LIMIT_UPLOADS.run(params, sandbox)

        assert (result.ok, result.detail, result.undo) == (
            False, f"{server.org_map} already holds the limit for acme: one is in force", None,
        )  # fmt: skip
        assert server.org_map.read_bytes() == GLOBEX + present
    assert sandbox.commands == []


def test_a_symlinked_map_file_is_neither_written_nor_reverted(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"not nginx\n")
    map_file = tmp_path / "limited-organizations.map"
    map_file.symlink_to(elsewhere)
    sandbox = Sandbox(
        config=ActionsConfig.model_validate(
            {"rate_limit_uploads": {"organizations_map_file": str(map_file)}}
        ),
        pm2=Pm2SamplerConfig(),
        workdir=tmp_path / "work",
        clock=SystemClock(),
    )

    ran = limit_for("acme", sandbox)
    reverted = RATE_LIMIT_UPLOADS.revert({"path": str(map_file), "organization": "acme"}, sandbox)

    assert not ran.ok and "is not a regular file" in ran.detail
    assert not reverted.ok and "is not a regular file" in reverted.detail
    assert map_file.is_symlink() and elsewhere.read_bytes() == b"not nginx\n"
    assert sandbox.commands == []


def test_a_revert_for_another_file_or_a_bad_organization_touches_nothing(
    server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path)
    victim = tmp_path / "victim"
    victim.write_bytes(ACME)
    server.org_map.write_bytes(ACME)

    other = RATE_LIMIT_UPLOADS.revert({"path": str(victim), "organization": "acme"}, sandbox)
    sandbox.undo_vouched = True  # even a record the audit log vouches for
    bad = RATE_LIMIT_UPLOADS.revert(
        {"path": str(server.org_map), "organization": "acme;\ninclude /etc/passwd"}, sandbox
    )

    assert (other.ok, other.detail) == (
        False,
        "cannot revert: the undo record's file is not the configured organizations_map_file",
    )
    assert (bad.ok, bad.detail) == (
        False,
        "cannot revert: the undo record's organization is malformed",
    )
    assert victim.read_bytes() == ACME and server.org_map.read_bytes() == ACME
    assert sandbox.commands == []


# -- validation: refused before anything runs ------------------------------------------------

INJECTIONS: list[object] = [
    'acme"; include /etc/passwd; "',
    "acme;",
    "acme; default acme",
    "acme acme",
    "acme\tx",
    " acme",
    "acme ",
    "acme\n",
    "acme\ninclude /etc/passwd;",
    "acme\r",
    "acme\0",
    "{acme}",
    "acme}",
    "$host",
    "acme$1",
    "ac'me",
    '"acme"',
    "\\acme",
    "~acme",
    "acme#",
    "ac/me",
    "../acme",
    "Acme",
    "-acme",
    "_acme",
    "ａｃｍｅ",  # fullwidth
    "ącme",
    "",
    "a" * 64,
    "a" * 10_000,
    None,
    5,
    True,
    ["acme"],
    {"acme": 1},
]


@pytest.mark.parametrize("organization", INJECTIONS, ids=lambda v: repr(v)[:30])
def test_a_bad_organization_is_refused_with_nothing_written_or_run(
    organization: object, server: Nginx, tmp_path: Path
) -> None:
    sandbox = sandbox_for(server, tmp_path)
    with pytest.raises(Refused) as refused:
        RATE_LIMIT_UPLOADS.validate({"organization": organization}, sandbox.config)
    assert refused.value.reason == "bad_parameter"
    assert refused.value.detail.startswith("organization must be an organization id: ")
    assert len(refused.value.detail) < 200
    assert server.org_map.read_bytes() == b""
    assert sandbox.commands == []


def test_through_the_executor_a_bad_organization_is_an_audited_refusal_and_nothing_more(
    database: Database, server: Nginx
) -> None:
    run = executor(database, server)
    outcome = run.request(limit("acme;\ndefault acme"), T0)
    assert (outcome.status, outcome.reason) == (OutcomeStatus.REFUSED, "bad_parameter")
    assert [e.kind for e in list_events(database, PLATFORM)] == ["action.refused"]
    assert server.org_map.read_bytes() == b""
    assert not limited(server, "acme")


def test_a_good_organization_is_kept_as_given_with_the_ttl() -> None:
    config = ActionsConfig.model_validate(
        {"rate_limit_uploads": {"organizations_map_file": "/etc/nginx/calmopsd/orgs.map"}}
    )
    for organization in ("acme", "a", "0", "acme-eu_2", "a" * 63):
        params = {"organization": organization, "ttl": "90m"}
        assert RATE_LIMIT_UPLOADS.validate(params, config) == {
            "ttl": "1h30m", "organization": organization,
        }  # fmt: skip
    assert RATE_LIMIT_UPLOADS.validate({"organization": "acme"}, config)["ttl"] == "30m"


def test_the_per_organization_limit_needs_the_map_file_and_the_host_wide_one_the_include() -> None:
    no_map = ActionsConfig.model_validate({"rate_limit_uploads": {"include_file": "/x/limit.conf"}})
    no_include = ActionsConfig.model_validate(
        {"rate_limit_uploads": {"organizations_map_file": "/x/orgs.map"}}
    )
    with pytest.raises(Refused) as refused:
        RATE_LIMIT_UPLOADS.validate({"organization": "acme"}, no_map)
    assert (refused.value.reason, refused.value.detail) == (
        "not_configured",
        "actions.rate_limit_uploads.organizations_map_file is not set: "
        "no per-organization upload limit",
    )
    with pytest.raises(Refused) as refused:
        RATE_LIMIT_UPLOADS.validate({}, no_include)
    assert refused.value.reason == "not_configured"
    assert RATE_LIMIT_UPLOADS.validate({"organization": "acme"}, no_include)["organization"]


def test_one_file_cannot_be_both_the_include_and_the_map() -> None:
    same = {"include_file": "/x/calmopsd.conf", "organizations_map_file": "/x/calmopsd.conf"}
    with pytest.raises(ValidationError, match="must be two files"):
        ActionsConfig.model_validate({"rate_limit_uploads": same})


def test_each_organization_is_a_target_of_its_own() -> None:
    assert [
        RATE_LIMIT_UPLOADS.target({"ttl": "5m"}),
        RATE_LIMIT_UPLOADS.target({"ttl": "5m", "organization": "acme"}),
        RATE_LIMIT_UPLOADS.target({"ttl": "5m", "organization": "globex"}),
    ] == ["nginx", "nginx:organization=acme", "nginx:organization=globex"]


# -- through the executor: in force, budgets, extensions, the lock ---------------------------


def executor(
    database: Database,
    server: Nginx,
    clock: ManualClock | None = None,
    backend: DirectBackend | None = None,
    **limit: Any,
) -> SafeExecutor:
    config = ActionsConfig.model_validate(server.actions_config(**limit))
    return SafeExecutor(
        database, config, Pm2SamplerConfig(), database.path.parent, clock or ManualClock(T0),
        backend=backend,
    )  # fmt: skip


def limit(organization: str | None, incident_id: int | None = None) -> ActionRequest:
    params: dict[str, Any] = {"ttl": "10m"}
    if organization is not None:
        params["organization"] = organization
    return ActionRequest(
        SafeAction.RATE_LIMIT_UPLOADS, params, incident_id, organization, "uploads fail"
    )


def upload_incident(database: Database, organization: str) -> int:
    return open_incident(
        database, PLATFORM, organization_id=organization, fingerprint=f"upload:org={organization}",
        type=IncidentType.UPLOAD, severity=Severity.WARNING, title="uploads fail", at=T0,
        actor="calmopsd",
    ).id  # fmt: skip


def events(database: Database, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in list_events(database, PLATFORM) if e.kind == kind]


def test_two_organizations_are_in_force_extended_and_ended_each_on_its_own(
    database: Database, server: Nginx
) -> None:
    clock = ManualClock(T0)
    run = executor(database, server, clock, max_extensions=1)
    acme, globex = upload_incident(database, "acme"), upload_incident(database, "globex")
    assert run.request(limit("acme", acme), T0).status is OutcomeStatus.SUCCEEDED
    assert run.request(limit("globex", globex), T0).status is OutcomeStatus.SUCCEEDED
    again = run.request(limit("acme", acme), T0 + timedelta(minutes=5))
    assert again.reason == RefusalReason.ALREADY_IN_FORCE
    assert again.detail.startswith("rate_limit_uploads on nginx:organization=acme is in force")
    assert run.request(limit(None), T0).status is OutcomeStatus.SUCCEEDED  # host-wide beside them
    assert [(a.target, a.organization_id) for a in list_active(database)] == [
        ("nginx:organization=acme", "acme"), ("nginx:organization=globex", "globex"),
        ("nginx", None),
    ]  # fmt: skip
    assert server.org_map.read_bytes() == ACME + GLOBEX

    assert run.revert_due(clock.advance(TERM)) == [3]  # both incidents open: extended; no incident
    assert [e["target"] for e in events(database, "action.extended")] == [
        "nginx:organization=acme", "nginx:organization=globex",
    ]  # fmt: skip
    assert run.revert(1, clock.advance(timedelta(minutes=2)), "dana") == (True, "reverted")
    assert server.org_map.read_bytes() == GLOBEX
    assert not limited(server, "acme") and limited(server, "globex")

    assert run.revert_due(clock.advance(TERM)) == [2]  # globex's one extension spent: ended
    [spent] = events(database, "action.extension_spent")
    assert (spent["id"], spent["target"], spent["extensions"]) == (
        2,
        "nginx:organization=globex",
        1,
    )
    assert server.org_map.read_bytes() == b""
    assert not limited(server, "globex")
    assert list_active(database) == []
    assert verify_file(database.path).ok


def test_each_organization_has_its_own_budget(database: Database, server: Nginx) -> None:
    run = executor(database, server, max_runs=1, cooldown="1s")
    assert run.request(limit("acme"), T0).worked
    assert run.revert_due(T0 + TERM) == [1]
    spent = run.request(limit("acme"), T0 + 2 * TERM)
    assert spent.reason == RefusalReason.BUDGET_SPENT
    assert spent.detail.startswith("rate_limit_uploads on nginx:organization=acme ran 1 times")
    assert run.request(limit("globex"), T0 + 2 * TERM).worked


class HeldReload(DirectBackend):
    """Runs commands for real, but holds the first ``nginx -s reload`` until released."""

    def __init__(self) -> None:
        super().__init__()
        self.reloading = threading.Event()
        self.release = threading.Event()

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str],
        cwd: Path,
        user: str | None,
        output_limit: int = OUTPUT_LIMIT,
    ) -> runner.Completed:
        if tuple(argv[-2:]) == ("-s", "reload") and not self.reloading.is_set():
            self.reloading.set()
            self.release.wait(timeout=20)  # bounded: a test that fails still ends
        return super().run(
            argv, timeout=timeout, env=env, cwd=cwd, user=user, output_limit=output_limit
        )


def test_a_limit_for_an_organization_is_busy_while_nginx_is_being_reloaded(
    database: Database, server: Nginx
) -> None:
    """Its target is nginx:organization=acme, but it edits nginx too: it takes nginx's lock."""
    backend = HeldReload()
    run = executor(database, server, backend=backend)
    reload = ActionRequest(SafeAction.NGINX_RELOAD, {}, None, None, "502s")
    outcomes: list[OutcomeStatus] = []
    first = threading.Thread(target=lambda: outcomes.append(run.request(reload, T0).status))
    first.start()
    try:
        assert backend.reloading.wait(timeout=20), "nginx_reload never reached its reload"
        busy = run.request(limit("acme"), T0)
    finally:
        backend.release.set()
        first.join(timeout=30)
    assert (busy.reason, busy.detail) == (
        RefusalReason.BUSY, "another action on nginx:organization=acme is running",
    )  # fmt: skip
    assert outcomes == [OutcomeStatus.SUCCEEDED]
    assert server.org_map.read_bytes() == b""
