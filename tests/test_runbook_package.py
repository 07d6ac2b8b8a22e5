"""The runbook ships with the package: a wheel built from this source holds
calmopsd/runbook.md, and calmopsd.runbook imported from that wheel alone (no source tree,
no site-packages) reads the same text as docs/runbook.md — what an installed host has."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READ = """
import sys, calmopsd, calmopsd.runbook as r
assert calmopsd.__file__.startswith(sys.argv[1]), calmopsd.__file__
sys.stdout.buffer.write(r.document().encode("utf-8"))
"""


def built_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "calmopsd", source / "calmopsd",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    out = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out),
         str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = out.glob("calmopsd-*.whl")
    return wheel


def test_the_installed_package_reads_the_same_runbook_as_docs(tmp_path: Path) -> None:
    wheel = built_wheel(tmp_path)
    expected = (ROOT / "docs" / "runbook.md").read_bytes()
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("calmopsd/runbook.md") == expected
    # -I -S: neither this source tree nor the editable install can be what answers.
    read = subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {str(wheel)!r})\n"
         + READ, str(wheel)],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert read.returncode == 0, read.stderr.decode()
    assert read.stdout == expected
