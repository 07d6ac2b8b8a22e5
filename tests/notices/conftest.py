"""Fixtures of the notification tests: a webhook receiver, a manual clock, a rig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.clock import ManualClock
from support.notify_rig import T0, Rig, make_rig, notify_config
from support.receivers import Webhook, webhook

from calmopsd.record.database import database_path


@pytest.fixture
def hook() -> Iterator[Webhook]:
    with webhook() as receiver:
        yield receiver


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return database_path(tmp_path / "state")


@pytest.fixture
def rig(store: Path, hook: Webhook, clock: ManualClock) -> Iterator[Rig]:
    made = make_rig(store, notify_config({"name": "oncall", "url": hook.url()}), clock)
    yield made
    made.database.close()
