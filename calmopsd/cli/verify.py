"""``calmopsd verify-audit``: the audit hash chain walked, with or without the config."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from calmopsd.cli.options import EXIT_BAD, config_option, load_config, state_dir_option
from calmopsd.errors import CalmopsError
from calmopsd.record.audit import verify_file
from calmopsd.record.database import database_path
from calmopsd.record.head import AuditHead


@click.command("verify-audit")
@config_option
@state_dir_option
@click.option(
    "--expect-head",
    metavar="SEQ:HASH",
    help="Also check against a head seen elsewhere, e.g. an audit.head line in the journal.",
)
def verify_audit(config_path: Path | None, state_dir: Path | None, expect_head: str | None) -> None:
    """Walk the audit hash chain: exit 0 with the count verified, or 1 naming the first bad seq.

    With --state-dir (or $CALMOPS_STATE_DIR) the config is not read at all, so the
    chain can be checked even while the config file is broken.
    """
    if state_dir is None:
        state_dir = load_config(config_path).state_dir
    expected = _parse_head(expect_head) if expect_head else None
    path = database_path(state_dir.resolve())
    try:
        verdict = verify_file(path, expected_head=expected)
    except CalmopsError as exc:
        click.echo(f"audit: {exc}", err=True)
        sys.exit(EXIT_BAD)
    if verdict.ok:
        noun = "event" if verdict.verified == 1 else "events"
        click.echo(f"audit OK: {verdict.verified} {noun} verified ({path})")
        return
    click.echo(
        f"audit FAILED at seq {verdict.first_bad_seq}: {verdict.reason} "
        f"({verdict.verified} events verified before it; {path})",
        err=True,
    )
    sys.exit(EXIT_BAD)


def _parse_head(text: str) -> AuditHead:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise click.BadParameter("expected SEQ:HASH, e.g. 42:9f86d0…", param_hint="--expect-head")
    return AuditHead(int(seq), digest)
