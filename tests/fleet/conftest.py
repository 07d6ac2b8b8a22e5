"""Fixtures of the fleet tests: one real Alertmanager and its webhook receiver per module."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from support.alertmanager import Alertmanager, Hook, start_alertmanager


@pytest.fixture(scope="module")
def hook() -> Iterator[Hook]:
    receiver = Hook()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory, hook: Hook) -> Iterator[Alertmanager]:
    """One Alertmanager for a module's tests: each test names its own host label."""
    running = start_alertmanager(tmp_path_factory.mktemp("alertmanager"), hook)
    yield running
    running.stop()


@pytest.fixture
def host(request: pytest.FixtureRequest) -> str:
    """A host label of this test's own, so tests sharing an Alertmanager never meet."""
    return request.node.name.removeprefix("test_")[:60]


@pytest.fixture
def now() -> datetime:
    """Where the manual clock starts: two minutes before the real time.

    Alertmanager judges ``endsAt`` by its own clock, so rounds a minute or two on must
    still post firing alerts that end in its future (a round's now + 4 minutes) and
    resolutions in its past."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
