"""rate_limit_uploads: limit uploads with nginx's ``limit_req``, for a while — for every
organization (host-wide), or for one.

**Host-wide** (no ``organization``). The upload ``location``s include one file
that calmopsd owns (``actions.rate_limit_uploads.include_file``); empty (or absent)
means no limit. Running the action writes it from one fixed template, ``nginx -t``,
and reloads; reverting puts the previous bytes back exactly (or removes the file if
there was none), ``nginx -t`` and reloads again.

**For one organization** (``organization: acme``). The operator's nginx config
declares once, in the ``http`` block, a map from the organization a request carries
to a key, and a zone keyed by it; and in every upload ``location``, permanently, a
``limit_req`` on that zone::

    map $http_x_organization $calmopsd_limited_organization {
        default "";
        include /etc/nginx/calmopsd/limited-organizations.map;
    }
    limit_req_zone $calmopsd_limited_organization zone=calmopsd_org_uploads:10m rate=5r/s;
    server {
        limit_req_status 429;
        location /upload {
            limit_req zone=calmopsd_org_uploads burst=20 nodelay;
            include /etc/nginx/calmopsd/upload-limit.conf;  # the host-wide form's file
            ...
        }
    }

``$http_x_organization`` stands for wherever the request carries the organization
id as calmopsd knows it (a header the app's proxy sets, a map from ``$host``…); map
compares strings ignoring case. The map file
(``actions.rate_limit_uploads.organizations_map_file``) is calmopsd's: create it empty
(``include`` of a missing file fails ``nginx -t``). nginx does not account a request
whose key is empty, so an organization the map does not list is never limited.
Running the action adds that organization's line (:mod:`calmopsd.act.organization_limit`:
``\\acme acme;``), ``nginx -t``, reloads; reverting removes exactly that line — other
organizations limited at the same time stay limited, the file stays (possibly empty) —
then ``nginx -t`` and reloads. Each organization is its own target
(``nginx:organization=acme``), so each has its own budget, in-force row and extensions.

``limit_req_status 429`` goes in the ``server`` (or ``http``) block, not the location:
the host-wide include file sets it in the location, and nginx refuses it twice on one
level ("is duplicate"). A location with a ``limit_req`` of its own no longer inherits
the server's ``limit_req``s: repeat any it relied on. (All checked with nginx 1.22.1:
``include`` in ``map``, empty keys not accounted, the ``\\`` prefix, the duplicate.)

Both forms write their file through :mod:`calmopsd.act.owned_file` (a regular file,
never a symlink, at most 64 KiB, replaced atomically with its mode kept), and every
reload is verified by its effect (:func:`calmopsd.act.nginx.reload_verified`).

Parameters: ``ttl`` (optional; a duration such as ``30m``, longer than 0s and at most
6h; default ``actions.rate_limit_uploads.ttl``) and ``organization`` (optional; an
organization id: 1-63 lowercase letters, digits, ``-`` or ``_``, first a letter or
digit — leave it out for the host-wide form). There is deliberately no ``rate``: the
rate lives in ``limit_req_zone`` in nginx's ``http`` block, which calmopsd does not
own, and a ``limit_req`` line cannot override it — a ``rate`` parameter would be
recorded in the audit log while another rate applied. Zone and burst come from the
config (host-wide) or the operator's ``limit_req`` (per organization), so a request
only chooses how long the limit lasts and for whom.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from calmopsd.act import organization_limit
from calmopsd.act.action import Prepared, Refused, Result
from calmopsd.act.owned_file import (
    Previous,
    Unusable,
    apply,
    current,
    dry_revert,
    reason,
    test_and_reload,
)
from calmopsd.act.sandbox import Sandbox
from calmopsd.config.actions import ActionsConfig, RateLimitUploadsConfig
from calmopsd.config.units import format_duration, parse_duration, shown
from calmopsd.model import RefusalReason, SafeAction
from calmopsd.record.scope import ORGANIZATION_ID

TEMPLATE = "limit_req zone={zone}{burst} nodelay;\nlimit_req_status 429;\n"
LONGEST_TTL = timedelta(hours=6)
PARAMETERS = ("ttl", "organization")
# ASCII digits only (``\d`` would take ``١٠``), no spaces; unit order is parse_duration's check.
_TTL = re.compile(r"(?:[0-9]{1,5}(?:ms|[dhms]))+", re.ASCII)


def content(settings: RateLimitUploadsConfig) -> bytes:
    """The include file's bytes while the limit is in force: the one fixed template.

    nginx refuses ``burst=0`` ("invalid burst value"); no burst is its default,
    so a configured burst of 0 leaves the word out.
    """
    burst = f" burst={settings.burst}" if settings.burst else ""
    return TEMPLATE.format(zone=settings.zone, burst=burst).encode("ascii")


class RateLimitUploads:
    """The :class:`~calmopsd.act.action.Action` for :attr:`SafeAction.RATE_LIMIT_UPLOADS`."""

    name = SafeAction.RATE_LIMIT_UPLOADS
    reversible = True

    def validate(self, params: dict[str, Any], config: ActionsConfig) -> dict[str, Any]:
        settings = config.rate_limit_uploads
        one = isinstance(params, dict) and "organization" in params
        if not one and settings.include_file is None:
            raise Refused(
                RefusalReason.NOT_CONFIGURED, "actions.rate_limit_uploads.include_file is not set"
            )
        if not isinstance(params, dict):
            raise Refused(RefusalReason.BAD_PARAMETER, "parameters must be a mapping")
        _known_only(params)
        ttl = _ttl(params["ttl"]) if "ttl" in params else settings.ttl
        if not one:
            return {"ttl": format_duration(ttl)}
        organization = _organization(params["organization"])
        if settings.organizations_map_file is None:
            raise Refused(
                RefusalReason.NOT_CONFIGURED,
                "actions.rate_limit_uploads.organizations_map_file is not set: "
                "no per-organization upload limit",
            )
        return {"ttl": format_duration(ttl), "organization": organization}

    def target(self, params: dict[str, Any]) -> str:
        if "organization" in params:
            return organization_limit.target(params["organization"])
        return "nginx"

    def prepare(self, params: dict[str, Any], sandbox: Sandbox) -> Prepared | None:
        """What the revert needs, read before anything changes (None: run() will fail)."""
        settings, ttl = sandbox.config.rate_limit_uploads, parse_duration(params["ttl"])
        organization = params.get("organization")
        path = settings.include_file if organization is None else settings.organizations_map_file
        if path is None:
            return None
        try:
            before = Previous.read(path)
        except (Unusable, OSError):
            return None  # run() fails on the same and says why
        if organization is None:
            return Prepared(before.undo(), ttl)
        if organization_limit.listed(before.data, organization):
            return None  # run() refuses to stack it
        return Prepared(organization_limit.undo_record(path, organization), ttl)

    def run(self, params: dict[str, Any], sandbox: Sandbox) -> Result:
        """Write the limit, ``nginx -t``, reload; on any failure put the old bytes back."""
        settings = sandbox.config.rate_limit_uploads
        ttl = parse_duration(params["ttl"])
        if "organization" in params:
            map_file = settings.organizations_map_file
            return organization_limit.run(params["organization"], map_file, ttl, sandbox)
        if settings.include_file is None:
            return Result(False, "actions.rate_limit_uploads.include_file is not set")
        path = settings.include_file
        try:
            before = Previous.read(path)
        except (Unusable, OSError) as exc:
            return Result(False, f"cannot use {path}: {reason(exc)}")
        if before.data == content(settings):  # stacked, its revert would leave the limit on
            return Result(False, f"{path} already holds the limit: one is in force")
        facts: dict[str, Any] = {
            "file": str(path),
            "zone": settings.zone,
            "burst": settings.burst,
            "ttl": format_duration(ttl),
        }
        new = content(settings)
        done = f"uploads limited for {facts['ttl']} ({new.decode().splitlines()[0]})"
        return apply(sandbox, new, before, ttl, facts, before.undo(), done)

    def revert(self, undo: dict[str, Any], sandbox: Sandbox) -> Result:
        """Host-wide: put the file's previous bytes back exactly (or remove it); for one
        organization: take its line out of the map file. Then ``nginx -t``, reload."""
        if "organization" in undo:
            return organization_limit.revert(undo, sandbox)
        try:
            previous = Previous.from_undo(
                undo, sandbox.config.rate_limit_uploads.include_file, "include_file",
                vouched=sandbox.undo_vouched,
            )  # fmt: skip
        except Unusable as exc:
            return Result(False, f"cannot revert: {exc}")
        path, data = previous.path, {"file": str(previous.path)}
        if sandbox.dry_run:
            return dry_revert(sandbox, f"dry run: {path} would be restored", data)
        try:
            previous.restore()
        except OSError as exc:
            return Result(False, f"cannot restore {path}: {reason(exc)}", data)
        reloaded = test_and_reload(sandbox, f"{path} restored", data)
        if not reloaded.ok:
            return reloaded
        if current(path) != previous.data:
            return Result(False, f"nginx reloaded, but {path} changed again meanwhile", data)
        return Result(True, f"upload limit removed: {path} restored, nginx reloaded", data)


RATE_LIMIT_UPLOADS = RateLimitUploads()


def _known_only(params: dict[str, Any]) -> None:
    unknown = [k for k in params if k not in PARAMETERS]
    if "rate" in unknown:
        raise Refused(
            RefusalReason.BAD_PARAMETER,
            "rate is not a parameter: the rate is set by limit_req_zone in nginx's "
            "http block, which calmopsd does not own; only ttl and organization may be given",
        )
    if unknown:
        named = ", ".join(_described(k) for k in unknown[:5])
        raise Refused(
            RefusalReason.BAD_PARAMETER,
            f"unknown parameter {named}: only ttl and organization may be given",
        )


def _organization(value: object) -> str:
    """An organization parameter: an organization id as everywhere in calmopsd (no quotes,
    semicolons, braces, whitespace, ``$`` or newlines can reach the map file)."""
    if isinstance(value, str) and len(value) <= 63 and ORGANIZATION_ID.fullmatch(value):
        return value
    raise Refused(
        RefusalReason.BAD_PARAMETER,
        "organization must be an organization id: 1-63 lowercase letters, digits, '-' or '_', "
        f"first a letter or digit (got {_described(value)})",
    )


def _ttl(value: object) -> timedelta:
    """A ttl parameter: a short ASCII duration string, longer than 0s and at most 6h."""
    if not isinstance(value, str) or len(value) > 16 or not _TTL.fullmatch(value):
        hint = f"ttl must be a duration like 30m or 2h (got {_described(value)})"
        raise Refused(RefusalReason.BAD_PARAMETER, hint)
    try:
        ttl = parse_duration(value)
    except ValueError as exc:
        raise Refused(RefusalReason.BAD_PARAMETER, f"ttl {exc}") from None
    if not timedelta(0) < ttl <= LONGEST_TTL:
        longest = format_duration(LONGEST_TTL)
        hint = f"ttl must be longer than 0s and at most {longest} (got {shown(value)})"
        raise Refused(RefusalReason.BAD_PARAMETER, hint)
    return ttl


def _described(value: object) -> str:
    """``shown`` for whatever a caller sent, without rendering a huge number."""
    if isinstance(value, str | bool | float) or value is None:
        return shown(value)
    if isinstance(value, int):
        return shown(value) if value.bit_length() < 64 else "a very large number"
    return type(value).__name__
