"""A person's decisions: ``approve``, ``reject`` and ``resolve``.

Each goes one of two ways, with the same checks, the same answer and the
same audit trail (``cli:USER``): through the running daemon's API when the
daemon holds the store, or straight through :class:`Operations` when none
runs. Without the daemon a safe action cannot be approved (the approval
re-checks the live readings, which only the daemon has); manual steps can.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from calmopsd.cli.client import DaemonApi, endpoint, read_token
from calmopsd.cli.options import (
    EXIT_BAD,
    EXIT_USAGE,
    ID,
    actor_name,
    config_option,
    fail,
    json_option,
    load_config,
    print_json,
    state_dir_of,
    state_dir_option,
)
from calmopsd.cli.store import approve_offline, cli_caller, writable
from calmopsd.errors import InvalidRequest, OperationError
from calmopsd.model import IncidentStatus
from calmopsd.serve import views
from calmopsd.serve.operations import Operations
from calmopsd.serve.tokens import Caller

APPROVE_TIMEOUT_S = 300.0  # an approved action runs before the API answers
_NOT_WORKED = ("failed", "refused")


@dataclass(frozen=True)
class Request:
    """One decision, as both ways carry it out: the store's (``local``) and the API's."""

    command: str
    local: Callable[[Operations, Caller], dict[str, Any]]
    remote: Callable[[DaemonApi], dict[str, Any]]
    line: Callable[[dict[str, Any]], str]


@click.command()
@config_option
@state_dir_option
@json_option
@click.argument("incident_id", metavar="ID", type=ID)
@click.argument("recommendation_id", metavar="REC", type=ID)
def approve(
    config_path: Path | None, state_dir: Path | None, as_json: bool,
    incident_id: int, recommendation_id: int,
) -> None:  # fmt: skip
    """Approve recommendation REC of incident ID: a safe action runs once (through the running
    daemon); a manual step is recorded as approved. Exit 1 if refused or the action failed."""
    path = f"/incidents/{incident_id}/recommendations/{recommendation_id}/approve"
    answer = carry_out(
        config_path, state_dir, as_json,
        Request(
            "approve",
            lambda ops, caller: views.decision(
                approve_offline(ops, caller, incident_id, recommendation_id)
            ),
            lambda api: api.call("POST", path, timeout_s=APPROVE_TIMEOUT_S),
            lambda answer: _decided(incident_id, recommendation_id, answer),
        ),
    )  # fmt: skip
    outcome = answer.get("outcome") or {}
    if outcome.get("status") in _NOT_WORKED:
        raise SystemExit(EXIT_BAD)


@click.command()
@config_option
@state_dir_option
@json_option
@click.option("--note", help="Why not (kept with the decision in the audit log).")
@click.argument("incident_id", metavar="ID", type=ID)
@click.argument("recommendation_id", metavar="REC", type=ID)
def reject(
    config_path: Path | None, state_dir: Path | None, as_json: bool, note: str | None,
    incident_id: int, recommendation_id: int,
) -> None:  # fmt: skip
    """Reject recommendation REC of incident ID; calmopsd will not ask about it again."""
    path = f"/incidents/{incident_id}/recommendations/{recommendation_id}/reject"
    carry_out(
        config_path, state_dir, as_json,
        Request(
            "reject",
            lambda ops, caller: views.decision(
                ops.reject(caller, incident_id, recommendation_id, note)
            ),
            lambda api: api.call("POST", path, {"note": note} if note is not None else None),
            lambda answer: _decided(incident_id, recommendation_id, answer),
        ),
    )  # fmt: skip


@click.command()
@config_option
@state_dir_option
@json_option
@click.option("--note", required=True, help="What was done: kept in the audit log.")
@click.argument("incident_id", metavar="ID", type=ID)
def resolve(
    config_path: Path | None, state_dir: Path | None, as_json: bool, note: str, incident_id: int
) -> None:
    """Resolve incident ID by hand, saying what was done (resolution: manual)."""
    resolved = IncidentStatus.RESOLVED
    carry_out(
        config_path, state_dir, as_json,
        Request(
            "resolve",
            lambda ops, caller: views.incident(
                ops.change_status(caller, incident_id, resolved, note), full=True
            ),
            lambda api: api.call(
                "PATCH", f"/incidents/{incident_id}", {"status": "resolved", "note": note}
            ),
            lambda answer: f"incident #{answer['id']} resolved",
        ),
    )  # fmt: skip


def carry_out(
    config_path: Path | None, state_dir: Path | None, as_json: bool, request: Request
) -> dict[str, Any]:
    """Run ``request`` by whichever way is open; print the answer; exit 1 or 2 if refused."""
    where = state_dir_of(config_path, state_dir)
    try:
        with writable(where, request.command) as ops:
            if ops is not None:
                answer = request.local(ops, cli_caller())
            else:
                token = read_token(where)  # first: without it, where it listens is moot
                api = endpoint(where, lambda: load_config(config_path, where).api)
                answer = request.remote(DaemonApi(api, token, actor_name()))
    except OperationError as exc:
        if as_json:
            print_json({"error": exc.code, "detail": exc.detail})
        code = EXIT_USAGE if isinstance(exc, InvalidRequest) else EXIT_BAD
        fail(request.command, exc.detail, code)
    if as_json:
        print_json(answer)
    else:
        click.echo(request.line(answer))
    return answer


def _decided(incident_id: int, recommendation_id: int, answer: dict[str, Any]) -> str:
    status, detail = str(answer.get("status")), str(answer.get("detail") or "")
    said = f"recommendation #{recommendation_id} of incident #{incident_id} {status}"
    if not detail or detail == f"recorded as {status}":
        return said
    return f"{said}: {detail}"
