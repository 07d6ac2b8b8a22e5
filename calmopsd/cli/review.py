"""``calmopsd review ID``: the post-incident review of incident ID; ``--edit-field
FIELD=TEXT`` (repeatable) replaces fields.

Reading is on the store (safe beside a running daemon). An edit goes the way ``approve``
does (:func:`~calmopsd.cli.decisions.carry_out`): through the running daemon's API, or on
the store when none runs; each is a ``review.edited`` audit event.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from calmopsd.cli.decisions import Request, carry_out
from calmopsd.cli.options import (
    ID,
    config_option,
    json_option,
    print_json,
    state_dir_of,
    state_dir_option,
)
from calmopsd.cli.screens import on_terminal
from calmopsd.cli.store import cli_caller, reading
from calmopsd.record.reviews import FIELDS
from calmopsd.serve.review_routes import review_view
from calmopsd.serve.review_titles import TITLES
from calmopsd.serve.reviews import Reviews


def _field(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    changes: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or name not in FIELDS:
            raise click.BadParameter(f"use FIELD=TEXT with FIELD one of {', '.join(FIELDS)}")
        changes[name] = text.replace("\\n", "\n")
    return changes


@click.command()
@config_option
@state_dir_option
@json_option
@click.option(
    "--edit-field", "changes", multiple=True, callback=_field, metavar="FIELD=TEXT",
    help=f"Replace one field ({', '.join(FIELDS)}); repeatable; \\n for a new line.",
)  # fmt: skip
@click.argument("incident_id", metavar="ID", type=ID)
def review(
    config_path: Path | None, state_dir: Path | None, as_json: bool,
    changes: dict[str, str], incident_id: int,
) -> None:  # fmt: skip
    """The post-incident review of incident ID (drafted when it resolves); with
    --edit-field, change it. Exit 1 if there is none (yet) or it is not yours."""
    if changes:
        carry_out(config_path, state_dir, as_json, Request(
            "review",
            lambda ops, caller: review_view(
                Reviews(ops.database, ops.clock).edit(caller, incident_id, changes)
            ),
            lambda api: api.call("PATCH", f"/incidents/{incident_id}/review", changes),
            lambda answer: on_terminal(screen(answer)),
        ))  # fmt: skip
        return
    where = state_dir_of(config_path, state_dir)
    with reading(where, "review", as_json=as_json) as ops:
        view = review_view(Reviews(ops.database, ops.clock).show(cli_caller(), incident_id))
    if as_json:
        print_json(view)
        return
    click.echo(on_terminal(screen(view)))


def screen(view: dict[str, Any]) -> str:
    """The review as a person reads it: a heading, then each field under its title."""
    edited = f", edited by {view['edited_by']}" if view.get("edited_by") else ""
    lines = [f"review of incident #{view['incident_id']}: {view['status']}{edited}"]
    for name in FIELDS:
        text = str(view["fields"].get(name) or "")
        if name == "notes" and not text:
            continue
        lines += ["", TITLES[name], *("  " + line for line in text.splitlines())]
    lines += ["", f"edit: calmopsd review {view['incident_id']} --edit-field notes=…"]
    return "\n".join(lines)
