"""token create: a new token printed once, the entry to paste holding only its SHA-256, and that
entry loading through the config's own validator (check-config agrees)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from support.process import calmopsd, write_config

from calmopsd.config import load_config


def test_token_create_prints_the_token_once_and_an_entry_that_loads(tmp_path: Path) -> None:
    config = write_config(tmp_path / "calmops.yaml", "state_dir: state\n")
    result = calmopsd("token", "create", "--name", "deploy-bot", "--org", "acme",
                      "--role", "operator", "--config", str(config))  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == "New token 'deploy-bot'; it is shown this once (calmopsd keeps only its SHA-256):"
    )
    token = lines[2].strip()
    assert len(token) == 43 and lines[2] == f"    {token}"
    assert result.stdout.count(token) == 1
    assert (
        lines[4] == f"Add the entry under api.tokens in {config}, then: systemctl reload calmopsd"
    )
    snippet = "\n".join(lines[6:]) + "\n"
    sha256 = hashlib.sha256(token.encode()).hexdigest()
    assert snippet == (
        "api:\n  tokens:\n"
        '    - name: "deploy-bot"\n'
        '      organization: "acme"\n'
        '      role: "operator"\n'
        f'      sha256: "{sha256}"\n'
    )
    write_config(config, config.read_text() + snippet)
    checked = calmopsd("check-config", str(config))
    assert (checked.returncode, checked.stdout) == (0, "config OK\n")
    (entry,) = load_config(config).api.tokens
    assert (entry.name, entry.organization, entry.super_admin, entry.role, entry.sha256) == (
        "deploy-bot", "acme", False, "operator", sha256,
    )  # fmt: skip


def test_token_create_as_json_for_a_super_admin_viewer(tmp_path: Path) -> None:
    config = write_config(tmp_path / "calmops.yaml", "state_dir: state\n")
    result = calmopsd("token", "create", "--name", "yes", "--super-admin", "--role", "viewer",
                      "--json", "--config", str(config))  # fmt: skip
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["sha256"] == hashlib.sha256(body["token"].encode()).hexdigest()
    assert {k: body[k] for k in ("name", "super_admin", "role")} == {
        "name": "yes", "super_admin": True, "role": "viewer",
    }  # fmt: skip
    assert "organization" not in body
    write_config(config, body["snippet"])
    (entry,) = load_config(config).api.tokens
    assert (entry.name, entry.super_admin, entry.sha256) == (
        "yes",
        True,
        body["sha256"],
    )  # not True


def test_token_create_refuses_what_the_config_would_refuse_with_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path / "calmops.yaml", "state_dir: state\n")
    where = ("--config", str(config))
    bad = calmopsd("token", "create", "--name", "bad name", "--org", "Acme", "--role", "viewer",
                   *where)  # fmt: skip
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr.splitlines() == [
        "token: --name: must be a name of letters, digits, '.', '_' or '-' (got 'bad name')",
        "token: --org: must be an organization id: 1-63 lowercase letters, digits, '-' or '_' "
        "(got 'Acme')",
    ]
    reserved = calmopsd("token", "create", "--name", "local-cli", "--super-admin", "--role",
                        "operator", *where)  # fmt: skip
    assert (reserved.returncode, reserved.stderr) == (
        2, "token: --name: 'local-cli' is the daemon's own token; choose another name\n",
    )  # fmt: skip
    for owner in ((), ("--org", "acme", "--super-admin")):
        result = calmopsd("token", "create", "--name", "x", *owner, "--role", "viewer", *where)
        assert result.returncode == 2
        assert "give exactly one of --org ORG and --super-admin" in result.stderr
    role = calmopsd("token", "create", "--name", "x", "--org", "acme", "--role", "admin", *where)
    assert role.returncode == 2


def test_token_create_refuses_a_name_the_config_already_has(tmp_path: Path) -> None:
    entry = f"{{name: ops, super_admin: true, role: viewer, sha256: {'a' * 64}}}"
    taken = f"api:\n  tokens:\n    - {entry}\n"
    config = write_config(tmp_path / "calmops.yaml", taken)
    result = calmopsd("token", "create", "--name", "ops", "--org", "acme", "--role", "viewer",
                      "--config", str(config))  # fmt: skip
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"token: {config} already has a token named 'ops'\n"


def test_the_console_script_is_the_entry_that_keeps_early_signals() -> None:
    from importlib.metadata import entry_points

    from calmopsd.entry import main

    (script,) = entry_points(group="console_scripts", name="calmopsd")
    assert (script.value, script.load()) == ("calmopsd.entry:main", main)
