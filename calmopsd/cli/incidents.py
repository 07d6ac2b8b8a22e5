"""Reading the store: ``status``, ``incidents`` and ``show``.

Read-only and safe while the daemon runs (:func:`calmopsd.cli.store.reading`);
everything goes through :class:`Operations` as the CLI's super-admin caller,
so the terminal sees what the API would show, in the same JSON shapes.
``status`` also answers in its exit code, like ``monit summary``
(:data:`EXIT_NOT_RUNNING`, :data:`EXIT_STALE`), so a script or a check can ask it.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from calmopsd.act import control
from calmopsd.cli import screens
from calmopsd.cli.options import (
    ID,
    config_option,
    json_option,
    print_json,
    state_dir_of,
    state_dir_option,
)
from calmopsd.cli.store import cli_caller, reading
from calmopsd.clock import SystemClock
from calmopsd.model import (
    Incident,
    IncidentStatus,
    IncidentType,
    RecommendationStatus,
    Severity,
)
from calmopsd.record.database import database_path, holder_of
from calmopsd.record.incidents import resolution_counts
from calmopsd.record.loads import Load, last_load
from calmopsd.record.outbox import troubled_targets
from calmopsd.record.pages import IncidentFilter
from calmopsd.record.recommendations import list_recommendations
from calmopsd.serve import views
from calmopsd.serve.operations import MAX_LIMIT, Operations
from calmopsd.serve.readiness import stale
from calmopsd.serve.tokens import Caller

EXIT_NOT_RUNNING = 3  # no daemon holds the store: nothing is sampled or acted on
EXIT_STALE = 4  # a daemon runs, but a sampler's latest reading is stale


def _choice(values: type[IncidentStatus | IncidentType | Severity]) -> click.Choice[str]:
    return click.Choice([member.value for member in values])


@click.command()
@config_option
@state_dir_option
@json_option
def status(config_path: Path | None, state_dir: Path | None, as_json: bool) -> None:
    """One screen: each sampler's latest reading, open incidents, actions in force, the
    recommendations waiting for a person, a reload that failed, and actions paused.

    \b
    Exit status (the screen is printed either way):
      0  a daemon runs on this store and its readings are fresh
      3  no daemon holds the store: nothing is sampled or acted on
      4  a daemon runs, but a sampler's latest reading is stale: older than 3 of its
         intervals plus its timeout (the intervals the daemon last loaded)
      1  the store cannot be read
    A failed reload is shown but changes no exit status: the daemon runs on its
    previous config (GET /-/ready answers 503 for it)."""
    where = state_dir_of(config_path, state_dir)
    with reading(where, "status") as ops:
        found = _status(ops, cli_caller())
        load = last_load(ops.database)
        now = SystemClock().now()
        troubled = tuple(troubled_targets(ops.database, now - timedelta(hours=24)))
    pid = holder_of(database_path(where))
    found = replace(found, daemon_pid=pid, load=load, stale=_stale(found, load, now, pid),
                    notices=troubled, paused_by=control.paused_by(where))  # fmt: skip
    if not as_json:
        click.echo(screens.on_terminal(screens.status_screen(found, now)))
    else:
        _print_status(found, now)
    if pid is None:
        sys.exit(EXIT_NOT_RUNNING)
    if found.stale:
        sys.exit(EXIT_STALE)


def _stale(
    found: screens.Status, load: Load | None, now: datetime, pid: str | None
) -> tuple[str, ...]:
    """Stale samplers, judged only while a daemon runs (without one, all readings age)."""
    if pid is None or load is None:
        return ()
    taken = {r.sampler: r.taken_at for r in found.health.readings}
    return tuple(stale(taken, load.sampling, now, load.loaded_at))


def _print_status(found: screens.Status, now: datetime) -> None:
    health, pid, load = found.health, found.daemon_pid or "", found.load
    print_json(
        {
            "daemon_pid": int(pid) if pid.isdigit() else None,
            "actions_paused_by": found.paused_by,
            "readings": [
                {"sampler": r.sampler, "ok": r.ok, "taken_at": r.taken_at.isoformat(),
                 "age_s": round((now - r.taken_at).total_seconds(), 1), "error": r.error}
                for r in health.readings
            ],
            "open_incidents": health.open_incidents,
            "by_severity": health.by_severity,
            "by_status": health.by_status,
            "incidents": [_listed(i) for i in found.unresolved],
            "actions": [views.active(a) for a in found.active],
            "pending": [views.recommendation(r) for r in found.pending],
            "stale": list(found.stale),
            "notifications_not_getting_through": [
                {"target": t.target, "retrying": t.pending, "given_up_24h": t.given_up,
                 "last_error": t.last_error} for t in found.notices
            ],
            "config": None if load is None else {
                "last_reload_successful": load.ok, "last_load": load.kind,
                "at": load.at.isoformat(),
                "loaded_at": load.loaded_at.isoformat() if load.loaded_at else None,
            },
        }
    )  # fmt: skip


def _status(ops: Operations, caller: Caller) -> screens.Status:
    unresolved = [
        i for i in every_incident(ops, caller, IncidentFilter()) if i.status != "resolved"
    ]
    pending = [
        rec
        for incident in unresolved
        for rec in list_recommendations(ops.database, caller.scope, incident.id)
        if rec.status is RecommendationStatus.PROPOSED
    ]
    return screens.Status(ops.health(caller), unresolved, ops.active_actions(caller), pending)


@click.command()
@config_option
@state_dir_option
@click.option("--all", "all_of_them", is_flag=True, help="Resolved incidents too.")
@click.option("--status", "status_", type=_choice(IncidentStatus), help="Only this status.")
@click.option("--type", "type_", type=_choice(IncidentType), help="Only this type.")
@click.option("--severity", type=_choice(Severity), help="Only this severity.")
@json_option
@click.argument("incident_id", metavar="[ID]", type=ID, required=False)
def incidents(
    config_path: Path | None, state_dir: Path | None, all_of_them: bool,
    status_: str | None, type_: str | None, severity: str | None, as_json: bool,
    incident_id: int | None,
) -> None:  # fmt: skip
    """List unresolved incidents (newest first) with their first summary line, or show one whole.

    Read-only: safe while the daemon runs. Resolved incidents (with --all, or --status
    resolved) are counted by how they ended; stale_resolved is not proof of recovery and
    is counted apart.
    """
    where = state_dir_of(config_path, state_dir)
    if incident_id is not None:
        with reading(where, "incidents", as_json=as_json) as ops:
            detail = ops.incident(cli_caller(), incident_id)
        if as_json:
            print_json(views.detail(detail))
            return
        found = detail.incident
        click.echo(
            f"#{found.id} {found.type} {found.status} {found.severity} "
            f"({found.organization_id or 'platform'}; {found.fingerprint})"
        )
        click.echo(screens.on_terminal(found.summary or found.title))
        return
    wanted = IncidentFilter(
        IncidentStatus(status_) if status_ else None,
        IncidentType(type_) if type_ else None,
        Severity(severity) if severity else None,
    )
    with reading(where, "incidents") as ops:
        found_all = every_incident(ops, cli_caller(), wanted)
    if status_ is None and not all_of_them:
        found_all = [i for i in found_all if i.status != "resolved"]
    if as_json:
        print_json({"incidents": [_listed(i) for i in found_all]})
        return
    _print_list(found_all, filtered=bool(status_ or type_ or severity), all_of_them=all_of_them)


def _print_list(found: list[Incident], *, filtered: bool, all_of_them: bool) -> None:
    for incident in found:
        click.echo(screens.on_terminal(screens.incident_row(incident), lines=False))
    if not found and filtered:
        click.echo("no matching incidents")
    elif not found:
        click.echo("no incidents" if all_of_them else "no open incidents")
    counts = resolution_counts(found)
    if counts:
        click.echo("resolved: " + ", ".join(f"{n} {how}" for how, n in counts.items()))


@click.command()
@config_option
@state_dir_option
@json_option
@click.argument("incident_id", metavar="ID", type=ID)
def show(config_path: Path | None, state_dir: Path | None, as_json: bool, incident_id: int) -> None:
    """One incident: its summary, the timeline of events, actions, and recommendations with
    their ids and status (and how to approve or reject those still proposed)."""
    with reading(state_dir_of(config_path, state_dir), "show", as_json=as_json) as ops:
        detail = ops.incident(cli_caller(), incident_id)
    if as_json:
        print_json(views.detail(detail))
        return
    click.echo(screens.on_terminal(screens.incident_screen(detail)))


def every_incident(ops: Operations, caller: Caller, wanted: IncidentFilter) -> list[Incident]:
    """Every incident matching ``wanted``, newest first, a page at a time."""
    found: list[Incident] = []
    cursor: str | None = None
    while True:
        page = ops.list_incidents(caller, wanted, limit=MAX_LIMIT, cursor=cursor)
        found += page.incidents
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def _listed(incident: Incident) -> dict[str, Any]:
    return views.incident(incident) | {"headline": screens.headline(incident)}
