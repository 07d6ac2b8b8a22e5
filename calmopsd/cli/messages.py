"""``calmopsd messages``: customer messages — list and show them, edit a draft, approve or
discard it.

Reading is on the store (safe beside a running daemon). Edit, approve and discard go
the way ``approve`` does (:func:`~calmopsd.cli.decisions.carry_out`): through the
running daemon's API, or on the store when none runs (the daemon sends what was
approved at its next start). The leak check runs either way; an approval names the
text it approves (``--sha256`` as ``calmopsd messages show`` prints it, or ``--text``)
and fails if the draft changed since.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import click

from calmopsd.cli.decisions import Request, carry_out
from calmopsd.cli.options import (
    ID,
    config_option,
    json_option,
    load_config,
    print_json,
    state_dir_of,
    state_dir_option,
)
from calmopsd.cli.screens import on_terminal
from calmopsd.cli.store import cli_caller, reading
from calmopsd.customers.served import ServedNames
from calmopsd.serve.message_routes import message_view, shown
from calmopsd.serve.messages import Messages, message_rules
from calmopsd.serve.operations import Operations


def _messages(ops: Operations, config_path: Path | None, state_dir: Path | None) -> Messages:
    config = load_config(config_path, state_dir)
    served = ServedNames()  # nginx's server_names, for the leak check
    return Messages(ops.database, ops.clock, lambda: message_rules(config, ops.database, served))


@click.group(invoke_without_command=True)
@config_option
@state_dir_option
@json_option
@click.option("--incident", "incident_id", type=ID, help="Only this incident's messages.")
@click.option(
    "--status",
    type=click.Choice(["draft", "approved", "sent", "discarded"]),
    help="Only messages in this status.",
)
@click.pass_context
def messages(
    ctx: click.Context, config_path: Path | None, state_dir: Path | None, as_json: bool,
    incident_id: int | None, status: str | None,
) -> None:  # fmt: skip
    """Customer messages, newest first: drafted by calmopsd, never sent without approval."""
    if ctx.invoked_subcommand is not None:
        return
    where = state_dir_of(config_path, state_dir)
    with reading(where, "messages") as ops:
        found = _messages(ops, config_path, state_dir).list(
            cli_caller(), incident_id=incident_id, status=status
        )
    if as_json:
        print_json({"messages": [message_view(m) for m in found]})
        return
    if not found:
        click.echo("no customer messages")
    for message in found:
        audience = f" to {', '.join(message.audience)}" if message.audience else ""
        click.echo(on_terminal(
            f"#{message.id:<5} incident #{message.incident_id:<5} {message.status:<9} "
            f"{message.phase:<13} {message.channel}{audience}\n"
            + textwrap.indent(message.text, "       ")  # every line of it under the row
        ))  # fmt: skip


@messages.command("show")
@config_option
@state_dir_option
@json_option
@click.argument("message_id", metavar="ID", type=ID)
def messages_show(
    config_path: Path | None, state_dir: Path | None, as_json: bool, message_id: int
) -> None:
    """One message whole: its text, where it goes and why, what the leak check says."""
    where = state_dir_of(config_path, state_dir)
    with reading(where, "messages show", as_json=as_json) as ops:
        view = shown(_messages(ops, config_path, state_dir).show(cli_caller(), message_id))
    if as_json:
        print_json(view)
        return
    click.echo(on_terminal(_screen(view)))


@messages.command("edit")
@config_option
@state_dir_option
@json_option
@click.option("--text", required=True, help="The new text (checked for internal detail).")
@click.argument("message_id", metavar="ID", type=ID)
def messages_edit(
    config_path: Path | None, state_dir: Path | None, as_json: bool, text: str, message_id: int
) -> None:
    """Replace draft ID's text; refused, changing nothing, if it names anything internal."""
    _decide(config_path, state_dir, as_json, "messages edit",
            lambda m, caller: m.edit(caller, message_id, text),
            ("PATCH", f"/messages/{message_id}", {"text": text}))  # fmt: skip


@messages.command("approve")
@config_option
@state_dir_option
@json_option
@click.option("--sha256", "digest", help="The sha256 `messages show` gave for the text read.")
@click.option("--text", help="Or the text you read, whole.")
@click.argument("message_id", metavar="ID", type=ID)
def messages_approve(
    config_path: Path | None, state_dir: Path | None, as_json: bool, digest: str | None,
    text: str | None, message_id: int,
) -> None:  # fmt: skip
    """Approve draft ID as you read it (--sha256 from `messages show`, or --text): it goes to
    its channels once. Refused if it leaks, or if it changed since you read it."""
    if digest is None and text is None:
        raise click.UsageError("give --sha256 (from `calmopsd messages show ID`) or --text")
    body = {k: v for k, v in (("text", text), ("sha256", digest)) if v is not None}
    _decide(config_path, state_dir, as_json, "messages approve",
            lambda m, caller: m.approve(caller, message_id, text, digest),
            ("POST", f"/messages/{message_id}/approve", body))  # fmt: skip


@messages.command("discard")
@config_option
@state_dir_option
@json_option
@click.option("--note", help="Why (kept in the audit log).")
@click.argument("message_id", metavar="ID", type=ID)
def messages_discard(
    config_path: Path | None, state_dir: Path | None, as_json: bool, note: str | None,
    message_id: int,
) -> None:  # fmt: skip
    """Discard message ID (a draft, or an approved one nothing of which was sent)."""
    body = {"note": note} if note is not None else None
    _decide(config_path, state_dir, as_json, "messages discard",
            lambda m, caller: m.discard(caller, message_id, note),
            ("POST", f"/messages/{message_id}/discard", body))  # fmt: skip


def _decide(
    config_path: Path | None, state_dir: Path | None, as_json: bool, command: str,
    local: Any, remote: tuple[str, str, dict[str, Any] | None],
) -> None:  # fmt: skip
    method, path, body = remote
    carry_out(
        config_path, state_dir, as_json,
        Request(
            command,
            lambda ops, caller: shown(local(_messages(ops, config_path, state_dir), caller)),
            lambda api: api.call(method, path, body),
            lambda answer: on_terminal(_screen(answer)),
        ),
    )  # fmt: skip


def _screen(view: dict[str, Any]) -> str:
    lines = [
        f"message #{view['id']} of incident #{view['incident_id']}: {view['status']}, "
        f"{view['phase']} ({str(view['component_status']).replace('_', ' ')})",
        f"goes to: {view['channel']}"
        + (f" ({', '.join(view['audience'])})" if view["audience"] else "")
        + f" — {view['why']}",
        "",
        str(view["text"]),
        "",
    ]
    if view.get("leaks"):
        lines.append(f"leak check: REFUSED: {view['leaks']}")
    else:
        lines.append("leak check: nothing internal found")
    for delivery in view.get("deliveries") or []:
        said = f": {delivery['last_error']}" if delivery.get("last_error") else ""
        lines.append(f"  {delivery['channel']}: {delivery['status']}{said}")
    if view["status"] == "draft":
        lines.append(f"approve: calmopsd messages approve {view['id']} --sha256 {view['sha256']}")
    return "\n".join(lines)
