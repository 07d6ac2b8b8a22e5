"""The runbook page: the runbook shipped with calmopsd, each incident type's section under
an anchor that is the type (``/ops/runbook#memory``), where the incident page, the summary
and the notices send a person.

The text is the package's own (:mod:`calmopsd.runbook`), the same for every viewer; the
page sits behind the same sign-in as the others, under ``/ops`` for the super-admin and
``/company/<org>/ops`` for an organization's people.
"""

from __future__ import annotations

import functools

from markupsafe import Markup

from calmopsd import runbook
from calmopsd.errors import InvalidRequest
from calmopsd.serve.dashboard.access import viewer
from calmopsd.serve.dashboard.markdown import to_html
from calmopsd.serve.dashboard.pages import Pages
from calmopsd.serve.dashboard.render import page
from calmopsd.serve.web import Response, request


@functools.cache
def rendered() -> tuple[Markup, tuple[tuple[str, Markup], ...]]:
    """The introduction (its title left to the page's own heading) and each type's section,
    as HTML: the text does not change while calmopsd runs."""
    title, _, rest = runbook.introduction().partition("\n")
    introduction = to_html(rest if title.startswith("# ") else runbook.introduction())
    return introduction, tuple((name, to_html(text)) for name, text in runbook.sections().items())


class RunbookPage:
    def __init__(self, pages: Pages):
        self.pages = pages

    def show(self, org: str | None = None) -> Response:
        if request.args:
            raise InvalidRequest(
                f"this page takes no query string (got {sorted(request.args)[0]!r})",
                "invalid_query",
            )
        v = viewer(org)
        introduction, sections = rendered()
        return page("runbook.html", **self.pages.context(
            v, "Runbook", introduction=introduction, sections=sections,
        ))  # fmt: skip
