"""One real PM2 daemon per test module (PM2 starts in about a second), killed at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.pm2 import Pm2


@pytest.fixture(scope="module")
def pm2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pm2]:
    daemon = Pm2(tmp_path_factory.mktemp("pm2"))
    try:
        daemon.start_daemon()
        yield daemon
    finally:
        daemon.kill()
    assert daemon.leftovers() == []
