"""rate_limit_uploads for one organization: its line in the map file, added and taken out.

The map file (``actions.rate_limit_uploads.organizations_map_file``) is included in
the operator's ``map`` block (the nginx side is in :mod:`calmopsd.act.rate_limit`).
Each organization limited now has one line, the organization mapped to itself::

    \\acme acme;

The leading backslash makes the source value a plain string whatever the
organization is called: ``default``, ``include``, ``hostnames`` and ``volatile``
are the map's special parameters, and without it an organization named
``include`` would include a file of that name and one named ``default`` would set
the key of every request (nginx strips one leading ``\\``; checked with nginx
1.22.1). The organization id itself is checked before it gets here (lowercase
letters, digits, ``-``, ``_``), so no quoting is needed. Other lines (an
operator's comments) are kept as they are; a revert removes only the line this
module writes for that organization.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from calmopsd.act.action import Result
from calmopsd.act.owned_file import (
    Previous,
    Unusable,
    apply,
    current,
    dry_revert,
    reason,
    recorded_path,
    test_and_reload,
    write,
)
from calmopsd.act.sandbox import Sandbox
from calmopsd.config.actions import RateLimitUploadsConfig
from calmopsd.config.units import format_duration
from calmopsd.record.scope import ORGANIZATION_ID

SETTING = "organizations_map_file"


def target(organization: str) -> str:
    """What budgets, cooldowns and the in-force check count on: one per organization."""
    return f"nginx:organization={organization}"


def entry(organization: str) -> bytes:
    """The map file's line for ``organization`` (a valid organization id)."""
    return f"\\{organization} {organization};\n".encode("ascii")


def listed(data: bytes | None, organization: str) -> bool:
    """Whether the map file's bytes already map ``organization``, in any spelling: an
    entry of ours, or one written by hand (``acme 1;``, ``"ACME" x;``) — a second one
    would be refused by nginx (``conflicting parameter``) or be undone with ours."""
    if not data:
        return False
    text = b"\n".join(line.split(b"#", 1)[0] for line in data.splitlines())
    for statement in text.split(b";"):
        words = statement.split()
        if words and _source(words[0]) == organization.encode("ascii"):
            return True
    return False


def added(data: bytes | None, organization: str) -> bytes:
    """The map file with ``organization``'s line appended (on a line of its own)."""
    base = data or b""
    if base and not base.endswith(b"\n"):
        base += b"\n"
    return base + entry(organization)


def removed(data: bytes, organization: str) -> bytes:
    """The map file without ``organization``'s line (every copy); nothing else changes."""
    ours = entry(organization).rstrip(b"\n")
    kept = [line for line in data.splitlines(keepends=True) if line.rstrip(b"\r\n") != ours]
    return b"".join(kept)


def undo_record(path: Path, organization: str) -> dict[str, Any]:
    """What the revert needs: which file, and whose line to take out of it."""
    return {"path": str(path), "organization": organization}


def from_undo(
    record: dict[str, Any], settings: RateLimitUploadsConfig, *, vouched: bool
) -> tuple[Path, str]:
    """The map file and organization an undo record names; :class:`Unusable` if the file is
    not the configured one (unless vouched for, as the include file's) or the id is bad."""
    path = recorded_path(
        record.get("path"), settings.organizations_map_file, SETTING, vouched=vouched
    )
    organization = record.get("organization")
    if not isinstance(organization, str) or not ORGANIZATION_ID.fullmatch(organization):
        raise Unusable("the undo record's organization is malformed")
    return path, organization


def run(organization: str, path: Path | None, ttl: timedelta, sandbox: Sandbox) -> Result:
    """Add ``organization``'s line to the map file, ``nginx -t``, reload; on any failure the
    file's old bytes go back. One already listed is not stacked: its revert would lift it."""
    if path is None:
        return Result(False, "actions.rate_limit_uploads.organizations_map_file is not set")
    try:
        before = Previous.read(path)
    except (Unusable, OSError) as exc:
        return Result(False, f"cannot use {path}: {reason(exc)}")
    if listed(before.data, organization):
        return Result(False, f"{path} already holds the limit for {organization}: one is in force")
    new = added(before.data, organization)
    facts: dict[str, Any] = {
        "file": str(path),
        "organization": organization,
        "entry": entry(organization).decode("ascii").strip(),
        "ttl": format_duration(ttl),
    }
    done = f"uploads of {organization} limited for {facts['ttl']} ({path} lists it)"
    return apply(sandbox, new, before, ttl, facts, undo_record(path, organization), done)


def revert(record: dict[str, Any], sandbox: Sandbox) -> Result:
    """Take exactly the organization's line out of the map file (others stay), ``nginx -t``,
    reload. A line already gone is no failure: nginx is still made to run the file as is."""
    try:
        path, organization = from_undo(
            record, sandbox.config.rate_limit_uploads, vouched=sandbox.undo_vouched
        )
    except Unusable as exc:
        return Result(False, f"cannot revert: {exc}")
    data: dict[str, Any] = {"file": str(path), "organization": organization}
    if sandbox.dry_run:
        return dry_revert(sandbox, f"dry run: {path} would no longer list {organization}", data)
    try:
        before = Previous.read(path)
        if before.data is not None:
            after = removed(before.data, organization)
            if after != before.data:
                write(path, after, before.mode)
    except (Unusable, OSError) as exc:
        return Result(False, f"cannot take {organization} out of {path}: {reason(exc)}", data)
    reloaded = test_and_reload(sandbox, f"{organization} taken out of {path}", data)
    if not reloaded.ok:
        return reloaded
    now = current(path)
    if now is not None and removed(now, organization) != now:
        return Result(False, f"nginx reloaded, but {path} lists {organization} again", data)
    detail = f"upload limit for {organization} removed: {path} no longer lists it, nginx reloaded"
    return Result(True, detail, data)


def _source(word: bytes) -> bytes:
    """A map line's source value as nginx compares it: unquoted, one leading ``\\`` off,
    and lowercased (map compares strings ignoring case)."""
    if len(word) >= 2 and word[0] == word[-1] and word[:1] in (b'"', b"'"):
        word = word[1:-1]
    return word.removeprefix(b"\\").lower()
