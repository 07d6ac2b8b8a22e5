"""Templates: one Jinja2 environment of the dashboard's own, autoescaping everything.

A stock environment escapes only files it recognizes by extension (Flask's did); this
one escapes every template whatever its name (``autoescape=True``), and an undefined
name is an error rather than an empty string (``StrictUndefined``), so a template
mistake fails a test instead of showing a blank. The environment (and Jinja2 with it)
is made at the first page shown: a daemon nobody opens the dashboard of never holds it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from calmopsd.backtest.remake import ALERT_TUNING, Remade, remade
from calmopsd.model import Recommendation
from calmopsd.serve.web import Response

if TYPE_CHECKING:
    from jinja2 import Environment


def moment(at: datetime | None) -> Markup:
    """A ``<time>`` in UTC; the page's script rewrites its text in the viewer's zone, and
    the UTC time stays on hover (``title``)."""
    if at is None:
        return Markup("—")
    utc = at.astimezone(UTC)
    shown = f"{utc:%Y-%m-%d %H:%M:%S} UTC"
    return Markup('<time datetime="{0}" title="{1}" data-local>{1}</time>').format(
        utc.isoformat(timespec="seconds"), shown
    )


def duration(span: timedelta | float | None) -> str:
    """``1 h 05 min``, ``4 min 10 s``, ``12 s``; ``—`` for none."""
    if span is None:
        return "—"
    seconds = int(span.total_seconds() if isinstance(span, timedelta) else span)
    if seconds < 0:
        return "—"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def compact(data: Any) -> str:
    """An event's data in one short line of ``key: value`` pairs."""
    if not isinstance(data, dict):
        return str(data)[:300]
    shown = "; ".join(f"{k}: {v}" for k, v in data.items() if v not in (None, "", [], {}))
    return shown if len(shown) <= 300 else shown[:299] + "…"


def config_diff(rec: Recommendation) -> Remade:
    """A config change's diff as approving it now would give it (made afresh against the
    file as it is): what the approval dialog shows, not the one stored with the proposal."""
    return (
        remade(rec)
        if rec.kind == ALERT_TUNING
        else Remade(str(rec.evidence.get("diff", "")), "as proposed")
    )


@cache
def environment() -> Environment:
    """The dashboard's one Jinja2 environment, made at its first use."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    made = Environment(
        loader=PackageLoader("calmopsd.serve.dashboard", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    made.filters.update(moment=moment, duration=duration, compact=compact, e=escape,
                        config_diff=config_diff)  # fmt: skip
    return made


def page(name: str, status: int = 200, **context: Any) -> Response:
    html = environment().get_template(name).render(**context)
    response = Response(html, status=status, mimetype="text/html")
    # The pages load nothing from elsewhere and run only the one vendored script.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response
