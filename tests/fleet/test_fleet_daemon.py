"""Forwarding in the daemon: a thread that posts at once, again soon after an incident
changes, follows reloads, and stops within the daemon's stop budget."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from support.alertmanager import Alertmanager, eventually, incident

from calmopsd.clock import SystemClock
from calmopsd.config import load_config
from calmopsd.config.alertmanager import AlertmanagerConfig
from calmopsd.daemon import Daemon, Source
from calmopsd.daemon.forwarding import Forwarding
from calmopsd.record.database import Database, database_path


def section(url: str | None, interval: str = "1m", host: str = "web-1") -> AlertmanagerConfig:
    return AlertmanagerConfig.model_validate({"url": url, "interval": interval, "host": host})


@pytest.fixture
def forwarding(database: Database) -> Iterator[Forwarding]:
    running = Forwarding(database, SystemClock())
    yield running
    running.stop(1.0)


def ids(alertmanager: Alertmanager, host: str) -> list[str]:
    return [alert["labels"]["incident_id"] for alert in alertmanager.alerts(host)]


def test_it_posts_at_once_and_soon_after_a_change_not_a_whole_interval_later(
    database: Database, alertmanager: Alertmanager, forwarding: Forwarding, host: str
) -> None:
    clock = SystemClock()
    first = incident(database, clock.now(), resource="a")
    forwarding.configure(section(alertmanager.url, "1h", host))
    eventually(lambda: ids(alertmanager, host) == [str(first.id)], what="the first round")

    second = incident(database, clock.now(), resource="b")  # appends to the event log
    eventually(lambda: len(ids(alertmanager, host)) == 2, timeout=5, what="a round on change")
    assert second.id == 2


def test_a_reload_keeps_a_forwarder_whose_section_is_unchanged_and_replaces_another(
    database: Database, alertmanager: Alertmanager, forwarding: Forwarding, host: str
) -> None:
    incident(database, SystemClock().now())
    forwarding.configure(section(alertmanager.url, "1h", host))
    before = forwarding.forwarder
    assert before is not None
    eventually(lambda: forwarding.counts.sent == 1, what="the first post")

    forwarding.configure(section(alertmanager.url, "1h", host))
    assert forwarding.forwarder is before
    forwarding.configure(section(alertmanager.url, "30m", host))
    assert forwarding.forwarder is not before
    assert forwarding.forwarder is not None
    assert forwarding.forwarder.settings.interval == timedelta(minutes=30)
    eventually(lambda: forwarding.counts.sent == 2, what="the new forwarder's first post")

    forwarding.configure(section(None))
    assert forwarding.forwarder is None
    assert before._thread is not None and not before._thread.is_alive()


def test_a_post_that_hangs_does_not_hold_up_the_stop(
    database: Database, forwarding: Forwarding
) -> None:
    with socket.socket() as silent:  # takes the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        incident(database, SystemClock().now())
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        forwarding.configure(section(url).model_copy(update={"timeout": timedelta(seconds=30)}))
        silent.settimeout(5)
        held, _ = silent.accept()  # the post is on its way
        forwarder = forwarding.forwarder
        assert forwarder is not None and forwarder._thread is not None
        with held:
            began = time.monotonic()
            assert forwarding.stop(0.5) is False
            assert time.monotonic() - began < 1.0
        forwarder._thread.join(5)  # the post fails once the connection closes: then it ends
        assert not forwarder._thread.is_alive()


def test_the_daemon_forwards_when_a_url_is_set_and_stops_when_a_reload_removes_it(
    tmp_path: Path, alertmanager: Alertmanager, host: str
) -> None:
    database = Database.open(database_path(tmp_path / "state"))
    opened = incident(database, SystemClock().now())
    database.close()
    config_file = tmp_path / "calmops.yaml"
    base = "state_dir: state\napi:\n  enabled: false\n"
    config_file.write_text(f"{base}alertmanager:\n  url: {alertmanager.url}\n  host: {host}\n")
    daemon = Daemon(Source(config_file), load_config(config_file), planner=lambda c, k: [])
    daemon.start()
    try:
        eventually(lambda: ids(alertmanager, host) == [str(opened.id)], what="the daemon's post")
        assert daemon.forwarding is not None

        config_file.write_text(base)
        daemon.reload()
        assert daemon.forwarding.forwarder is None
    finally:
        began = time.monotonic()
        assert daemon.stop() == 0
        assert time.monotonic() - began < 4.0
