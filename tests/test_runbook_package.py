"""What an installed host has: a wheel built from this source holds calmopsd/runbook.md, and
calmopsd.runbook imported from that wheel alone (no source tree, no site-packages) reads the
same text as docs/runbook.md; and it holds the compiled log scanner, built from _scan.c by
setup.py, which counts from the unpacked wheel alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READ = """
import sys, calmopsd, calmopsd.runbook as r
assert calmopsd.__file__.startswith(sys.argv[1]), calmopsd.__file__
sys.stdout.buffer.write(r.document().encode("utf-8"))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_wheel(tmp_path_factory.mktemp("wheel"))


def built_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.cfg", "setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    # Not the scanner built in place for the editable install: the wheel's build must make it.
    shutil.copytree(ROOT / "calmopsd", source / "calmopsd",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))  # fmt: skip
    out = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out),
         str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = out.glob("calmopsd-*.whl")
    return wheel


def test_the_installed_package_reads_the_same_runbook_as_docs(wheel: Path) -> None:
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


# Loaded by its file: calmopsd's packages import libraries -S leaves out (orjson, structlog).
SCAN = """
import glob, importlib.util, sys
(path,) = glob.glob(sys.argv[1] + "/calmopsd/sense/logs/_scan.*.so")
spec = importlib.util.spec_from_file_location("calmopsd.sense.logs._scan", path)
_scan = importlib.util.module_from_spec(spec)
spec.loader.exec_module(_scan)
line = b'{"time":"2025-03-01T12:00:31Z","status":503}\\n'
spec = (((b"status",), (), (), (), (), (b"time",)), None, b'"time"', (), (), (), (), (), True)
print(_scan.scan_json(line, len(line), spec))
"""


def test_the_installed_package_holds_the_compiled_scanner(wheel: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert any(n.startswith("calmopsd/sense/logs/_scan.") and n.endswith(".so") for n in names)
        archive.extractall(tmp_path / "site")
    site = str(tmp_path / "site")
    ran = subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {site!r})\n" + SCAN,
         site],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "({(29013840, None): [1, 1, 0, 0, 0]}, [], [])"
