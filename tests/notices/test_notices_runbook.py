"""Every notice, as delivered to a real webhook on loopback, names its incident type's
runbook section: a dashboard link to click when the dashboard's public address is set,
else the command that prints it on the host (nothing else works on an installed host)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from support.clock import ManualClock
from support.notify_rig import make_rig, notify_config
from support.receivers import Webhook

from calmopsd.record.database import database_path

S = timedelta(seconds=1)


def runbook_lines(hook: Webhook) -> list[str]:
    return [line for r in hook.delivered() for line in r.body["message"].splitlines()
            if line.startswith("Runbook:")]  # fmt: skip


def test_without_a_dashboard_address_the_notice_names_the_command(
    tmp_path: Path, hook: Webhook, clock: ManualClock
) -> None:
    rig = make_rig(database_path(tmp_path / "state"),
                   notify_config({"name": "oncall", "url": hook.url()}), clock)  # fmt: skip
    rig.open("api memory high")
    rig.round()
    assert rig.round(30 * S).sent == 1
    assert runbook_lines(hook) == ["Runbook: calmopsd runbook memory"]
    rig.database.close()


def test_with_a_dashboard_address_each_notice_links_the_section_its_readers_can_open(
    tmp_path: Path, hook: Webhook, clock: ManualClock
) -> None:
    config = notify_config({"name": "oncall", "url": hook.url()},
                           dashboard_url="https://ops.example.com/")  # fmt: skip
    rig = make_rig(database_path(tmp_path / "state"), config, clock)
    rig.open("api memory high")
    rig.open("acme's memory", org="acme", fingerprint="memory:acme")
    rig.round()
    assert rig.round(30 * S).sent == 2
    assert sorted(runbook_lines(hook)) == [
        "Runbook: https://ops.example.com/company/acme/ops/runbook#memory",
        "Runbook: https://ops.example.com/ops/runbook#memory",
    ]
    rig.database.close()
