"""``calmopsd token create``: a new API token, shown once, and the config entry for it.

The config keeps only the token's SHA-256. The entry printed is validated by
the config's own model before it is shown, so what a person pastes under
``api.tokens`` loads (``calmopsd check-config`` agrees), and a name already
in the config in use is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from calmopsd.cli.options import (
    EXIT_USAGE,
    config_option,
    fail,
    json_option,
    load,
    print_json,
    source_of,
)
from calmopsd.config import Config
from calmopsd.config.lines import key_path
from calmopsd.config.messages import describe
from calmopsd.serve.tokens import new_token
from calmopsd.typed import ValidationError

_OPTIONS = {"name": "--name", "organization": "--org", "role": "--role"}


@click.group()
def token() -> None:
    """API tokens (the config keeps only their SHA-256)."""


@token.command("create")
@config_option
@click.option("--name", required=True, help="Names the token in the audit log (token:NAME).")
@click.option("--org", "organization", help="The organization whose incidents it sees.")
@click.option(
    "--super-admin", is_flag=True, help="Sees every organization's incidents (each access logged)."
)
@click.option(
    "--role",
    required=True,
    type=click.Choice(["viewer", "operator"]),
    help="viewer reads; operator also approves, rejects, resolves and reverts.",
)
@json_option
def create(
    config_path: Path | None, name: str, organization: str | None, super_admin: bool,
    role: str, as_json: bool,
) -> None:  # fmt: skip
    """Make a new random token: print it once, with the entry to paste under api.tokens."""
    if (organization is None) == (not super_admin):
        raise click.UsageError("give exactly one of --org ORG and --super-admin")
    secret, sha256 = new_token()
    entry: dict[str, Any] = {"name": name}
    entry |= {"organization": organization} if organization is not None else {"super_admin": True}
    entry |= {"role": role, "sha256": sha256}
    snippet = _snippet(entry)
    _validate(snippet)
    source = source_of(config_path)
    config, _ = load(source)
    if any(t.name == name for t in config.api.tokens):
        fail("token", f"{source.path} already has a token named {name!r}", EXIT_USAGE)
    if as_json:
        print_json({"token": secret, **entry, "snippet": snippet})
        return
    click.echo(f"New token {name!r}; it is shown this once (calmopsd keeps only its SHA-256):\n")
    click.echo(f"    {secret}\n")
    click.echo(
        f"Add the entry under api.tokens in {source.path}, then: systemctl reload calmopsd\n"
    )
    click.echo(snippet, nl=False)


def _snippet(entry: dict[str, Any]) -> str:
    """``api: tokens: - …`` in YAML; text values quoted, so a name like ``yes`` stays text."""
    lines = ["api:", "  tokens:"]
    for index, (key, value) in enumerate(entry.items()):
        shown = "true" if value is True else json.dumps(value)
        lines.append(f"    {'-' if index == 0 else ' '} {key}: {shown}")
    return "\n".join(lines) + "\n"


def _validate(snippet: str) -> None:
    """The entry as the config would load it; every problem with its option, exit 2."""
    try:
        Config.model_validate(yaml.safe_load(snippet))
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            field = str(error["loc"][-1]) if error["loc"] else ""
            where = _OPTIONS.get(field) or key_path(error["loc"])
            click.echo(f"token: {where}: {describe(error, Config)}", err=True)
        raise SystemExit(EXIT_USAGE) from None
