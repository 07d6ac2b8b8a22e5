"""Fixtures of tests/privsep: a directory the test users may enter, and those users."""

from __future__ import annotations

import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from privsep_support import DAEMON_USER, OTHER_USER, ensure_user


@pytest.fixture
def world() -> Iterator[Path]:
    """A directory of the test's own that the test users may enter (0755, root's)."""
    made = Path(tempfile.mkdtemp(prefix="calmopsd-privsep-", dir="/tmp"))
    made.chmod(0o755)
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


@pytest.fixture
def daemon_user() -> pwd.struct_passwd:
    return ensure_user(DAEMON_USER)


@pytest.fixture
def other_user() -> pwd.struct_passwd:
    return ensure_user(OTHER_USER)
