"""Drift checks: import directions, one subprocess module, documented commands (the units:
test_units.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import structlog

from calmopsd.cli import COMMANDS, command, main

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "calmopsd"

# For each part: the calmopsd parts it must never import.
FORBIDDEN = {
    "record": {
        "sense", "detect", "respond", "act", "serve", "daemon", "cli", "config", "follow", "learn"
    },
    "config": {"sense", "detect", "respond", "act", "serve", "record", "daemon", "cli", "follow"},
    "sense": {"record", "act", "respond", "serve", "daemon", "cli", "follow"},
    "detect": {"record", "act", "respond", "serve", "daemon", "cli", "sense", "follow"},
    # respond *requests* actions through the Executor protocol; only act executes them.
    "respond": {"act", "serve", "daemon", "cli", "sense", "follow", "learn"},
    "act": {"respond", "detect", "sense", "serve", "daemon", "cli", "follow"},
    # serve works on the store through scopes; the daemon hands it what only it can do.
    "serve": {"sense", "detect", "act", "daemon", "cli", "follow"},
    # follow reacts to the event log (record) and nothing else; the daemon starts it.
    "follow": {"sense", "detect", "respond", "act", "serve", "daemon", "cli", "config"},
    # notices tell people of incidents: from the event log (record) and the config.
    "notices": {"sense", "detect", "respond", "act", "serve", "daemon", "cli", "follow"},
    # fleet forwards incidents to Alertmanager: it reads the store; the daemon starts it.
    "fleet": {"sense", "detect", "respond", "act", "serve", "daemon", "cli", "follow"},
    # customers: what customers are told; from the event log, the config and the sender.
    "customers": {"sense", "detect", "respond", "act", "serve", "daemon", "cli", "follow"},
    # learn: reviews and what they teach, from the event log, the snapshots and the config.
    "learn": {"sense", "detect", "respond", "act", "serve", "daemon", "cli", "follow"},
    # backtest replays stored history through the real detector: it reads the store and
    # the config, and never the agent, the executor or the live samplers.
    "backtest": {"respond", "act", "serve", "daemon", "follow", "sense", "cli"},
    # shapes: the typed form of every sampler's values, read by every stage alike.
    "shapes": {
        "sense", "detect", "respond", "act", "serve", "record", "daemon", "cli", "config", "follow"
    },
    "model": {
        "sense", "detect", "respond", "act", "serve", "record", "daemon", "cli", "config", "follow"
    },
    "errors": {
        "sense", "detect", "respond", "act", "serve", "record", "daemon", "cli", "config", "follow"
    },
    "clock": {
        "sense", "detect", "respond", "act", "serve", "record", "daemon", "cli", "config", "follow"
    },
}  # fmt: skip


def calmopsd_imports(path: Path) -> set[str]:
    """The top-level calmopsd parts a module imports (``calmopsd.record.x`` → ``record``)."""
    parts: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            bits = name.split(".")
            if bits[0] == "calmopsd" and len(bits) > 1:
                parts.add(bits[1])
    return parts


def part_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def test_imports_only_point_down_the_pipeline() -> None:
    violations = []
    for path in PACKAGE.rglob("*.py"):
        part = part_of(path)
        bad = calmopsd_imports(path) & FORBIDDEN.get(part, set())
        if bad:
            violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert violations == []


def test_the_import_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from calmopsd.record.database import Database\nimport calmopsd.act.x\n")
    assert calmopsd_imports(probe) == {"record", "act"}


def test_no_module_starts_a_subprocess_or_a_shell_except_the_runner() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if path.name != "runner.py"
        and re.search(r"\bsubprocess\b|os\.system|os\.popen|shell=True", path.read_text())
    ]
    assert offenders == []


def test_the_readme_documents_every_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert isinstance(main, click.Group)
    assert main.list_commands(click.Context(main)) == list(COMMANDS)
    missing = [name for name in COMMANDS if f"calmopsd {name}" not in readme]
    assert missing == []
    assert "make run" in readme
    assert "make test" in readme


def test_every_command_in_the_table_loads_as_a_click_command() -> None:
    # Loaded on first use (issue 16): a typo in the table would only show when run.
    loaded = {name: command(name) for name in COMMANDS}
    assert [n for n, c in loaded.items() if not isinstance(c, click.Command)] == []
    assert main.get_command(click.Context(main), "no-such-command") is None


def test_ci_runs_make_test_and_nothing_cleverer() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [
        line.strip()
        for line in script.splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))
    ]
    assert commands == ["make test"]


def test_json_tracebacks_never_carry_local_variables() -> None:
    import io
    import json

    from calmopsd import log as logsetup

    out = io.StringIO()
    logsetup.configure("info", "json", stream=out)
    try:
        token = "SECRET-TOKEN-123"  # noqa: S105  # a local that must not be logged
        raise RuntimeError(f"failed near {len(token)}")
    except RuntimeError:
        structlog.get_logger("test").exception("test.failed")
    finally:
        structlog.reset_defaults()
    line = json.loads(out.getvalue())
    assert line["event"] == "test.failed"
    assert line["exception"][0]["exc_type"] == "RuntimeError"
    assert "SECRET-TOKEN-123" not in out.getvalue()
