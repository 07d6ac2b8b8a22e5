"""`calmopsd runbook [TYPE]` as a person runs it on a host: real processes, the shipped text,
exit 2 naming the known types for any other, and nothing read but the package."""

from __future__ import annotations

from pathlib import Path

from support.process import calmopsd, clean_env

from calmopsd import runbook
from calmopsd.model import IncidentType

ROOT = Path(__file__).resolve().parents[2]


def test_without_a_type_it_prints_the_whole_runbook() -> None:
    result = calmopsd("runbook")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")


def test_with_a_type_it_prints_that_types_section_alone() -> None:
    result = calmopsd("runbook", "memory")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == runbook.section("memory").rstrip("\n") + "\n"
    assert result.stdout.startswith("## memory\n\nClassified as memory by:")
    assert "## disk" not in result.stdout


def test_the_type_is_taken_in_any_case() -> None:
    result = calmopsd("runbook", "DISK")
    assert (result.returncode, result.stdout) == (0, runbook.section("disk").rstrip("\n") + "\n")


def test_an_unknown_type_exits_2_naming_every_known_type() -> None:
    result = calmopsd("runbook", "weather")
    assert (result.returncode, result.stdout) == (2, "")
    known = ", ".join(f"'{t.value}'" for t in IncidentType)
    assert f"'weather' is not one of {known}." in result.stderr
    assert "Traceback" not in result.stderr


def test_it_needs_no_config_no_store_and_no_daemon(tmp_path: Path) -> None:
    """A config that would not load and a state dir that does not exist change nothing: the
    command a summary names at night must work on a host whatever state it is in."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("nonsense: [\n", encoding="utf-8")
    env = clean_env(CALMOPS_CONFIG=str(broken), CALMOPS_STATE_DIR=str(tmp_path / "state"))
    result = calmopsd("runbook", "app", env=env)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("## app\n")
    also = calmopsd("runbook", "--config", str(broken), "deploy", env=env)
    assert (also.returncode, also.stdout.splitlines()[0]) == (0, "## deploy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.yaml"]
