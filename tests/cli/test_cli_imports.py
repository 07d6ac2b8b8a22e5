"""The commands load what they use, not the daemon (docs/decisions.md, "The command line
starts in a fraction of a second"): ``version`` 1.6 → 0.15 s, ``status --state-dir``
1.1 → 0.5 s, each CLI call the tests make the same."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from calmopsd.record.database import Database, database_path

# Runs one real command in a fresh interpreter, then prints what it had imported.
RUN_AND_LIST = """\
import json, sys
from calmopsd.entry import main
sys.argv = ["calmopsd", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""

THE_DAEMON = "calmopsd.daemon.lifecycle"
THE_SCHEMA = "calmopsd.config.schema"  # the config's 60-odd models
THE_API = "calmopsd.serve.web"  # the API's application
THE_STORE = "calmopsd.record.database"


def loaded(*args: str) -> tuple[int, set[str]]:
    """The exit code of ``calmopsd ARGS`` and the modules it had imported at its end."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state dir whose store exists, as a host that has run the daemon has."""
    state_dir = tmp_path / "state"
    Database.open(database_path(state_dir)).close()
    return state_dir


def test_version_reads_neither_config_nor_store() -> None:
    code, modules = loaded("version")
    assert code == 0
    assert not {THE_DAEMON, THE_SCHEMA, THE_API, THE_STORE, "calmopsd.typed.model"} & modules


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("incidents",),
        ("show", "1"),
        ("actions", "active"),
        ("verify-audit",),
    ],
)
def test_commands_given_the_state_dir_build_no_config_model(
    state: Path, args: tuple[str, ...]
) -> None:
    code, modules = loaded(*args, "--state-dir", str(state))
    assert code in (0, 1, 3), code  # done, not found, or no daemon running: never a crash
    assert THE_STORE in modules  # it did read the store
    assert not {THE_DAEMON, THE_SCHEMA, THE_API} & modules


def test_check_config_builds_the_schema_but_not_the_daemon() -> None:
    code, modules = loaded("check-config")
    assert code == 0
    assert THE_SCHEMA in modules
    assert not {THE_DAEMON, THE_API} & modules


def test_run_is_the_command_that_loads_the_daemon(tmp_path: Path) -> None:
    """The other side, so the checks above can fail: ``run`` with a config it refuses still
    imported the daemon before reading it."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("log:\n  level: loud\n", encoding="utf-8")
    code, modules = loaded("run", "--config", str(bad))
    assert code == 2
    assert {THE_DAEMON, THE_SCHEMA, THE_API} <= modules
