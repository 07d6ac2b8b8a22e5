"""docs/fleet.md's examples load in the real tools: every block that starts with
``# file: NAME`` is written out and checked by Debian's promtool and amtool, and the
alerting rules name only metrics calmopsd serves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "fleet.md"
BLOCK = re.compile(r"^```(?:yaml|json)\n# file: (?P<name>\S+)\n(?P<body>.*?)^```", re.M | re.S)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The doc's files, in the tree they name, with the token file Prometheus reads."""
    root = tmp_path_factory.mktemp("fleet-doc")
    for match in BLOCK.finditer(DOC.read_text(encoding="utf-8")):
        path = root / match["name"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(match["body"], encoding="utf-8")
    (root / "calmopsd.token").write_text("secret\n")
    return root


def check(tool: str, *args: str, cwd: Path) -> str:
    binary = shutil.which(tool) or f"/usr/bin/{tool}"
    if not Path(binary).exists():
        pytest.skip(f"{tool} is not installed (make system-deps installs it)")
    done = subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_the_doc_has_every_file_it_promises(files: Path) -> None:
    names = sorted(str(p.relative_to(files)) for p in files.rglob("*") if p.is_file())
    assert names == [
        "alertmanager.yml",
        "calmopsd.token",
        "prometheus.yml",
        "rules/calmopsd.yml",
        "targets/calmopsd/fleet.json",
    ]


def test_the_scrape_config_and_its_rules_load_in_promtool(files: Path) -> None:
    said = check("promtool", "check", "config", "prometheus.yml", cwd=files)
    assert "SUCCESS: 8 rules found" in said


def test_the_alertmanager_config_loads_in_amtool(files: Path) -> None:
    said = check("amtool", "check-config", "alertmanager.yml", cwd=files)
    assert " - 5 receivers" in said
    assert " - 2 inhibit rules" in said


def test_the_targets_are_twenty_hosts_each_once(files: Path) -> None:
    groups = json.loads((files / "targets/calmopsd/fleet.json").read_text())
    targets = [target for group in groups for target in group["targets"]]
    assert len(targets) == len(set(targets)) == 20


def test_the_rules_name_only_metrics_calmopsd_serves(files: Path) -> None:
    rules = (files / "rules/calmopsd.yml").read_text()
    named = set(re.findall(r"\bcalmopsd_[a-z_]+", rules))
    sources = sorted((ROOT / "calmopsd/serve/metrics").glob("*.py"))
    if not sources:  # being built beside this (issue 13): the check starts once it lands
        pytest.skip("calmopsd/serve/metrics/ is not there yet")
    served = "".join(p.read_text() for p in sources)
    assert sorted(n for n in named if f'"{n}"' not in served) == []
    assert len(named) == 7
