"""The runbook: one section per incident type, shipped with the package (``runbook.md``).

The summary's ``Next:`` line and every notification point at a type's section, so a
person woken at night reads what calmopsd does on its own for this type, what it asks,
what to check first and how to roll back or escalate — on the host itself
(``calmopsd runbook memory``) or on the dashboard (``/ops/runbook#memory``). The text is
package data, read through :mod:`importlib.resources`, so an installed host has it
without a source checkout; ``docs/runbook.md`` is the same file byte for byte, and
``tests/test_runbook.py`` holds both to the playbook and the classification table.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

RESOURCE = "runbook.md"
_HEADING = re.compile(r"^## (\S+)\n", re.MULTILINE)


@functools.cache
def document() -> str:
    """The whole runbook, as Markdown."""
    return resources.files("calmopsd").joinpath(RESOURCE).read_text(encoding="utf-8")


def introduction() -> str:
    """What comes before the first type's section: the title and what holds for every type."""
    first = _HEADING.search(document())
    return document() if first is None else document()[: first.start()]


def sections() -> dict[str, str]:
    """Each type's section, heading line included, keyed by the type, in the document's order."""
    text = document()
    starts = [(m.group(1), m.start()) for m in _HEADING.finditer(text)]
    ends = [start for _, start in starts[1:]] + [len(text)]
    return {name: text[start:end] for (name, start), end in zip(starts, ends, strict=True)}


def types() -> list[str]:
    """The incident types the runbook has a section for."""
    return list(sections())


def section(incident_type: str) -> str:
    """The section of ``incident_type`` (``## memory`` and what follows it, up to the next
    type's heading). A type the runbook does not know is a :class:`KeyError`."""
    return sections()[incident_type]


def command(incident_type: str) -> str:
    """The command that prints the section on the host: ``calmopsd runbook memory``."""
    return f"calmopsd runbook {incident_type}"


def page(incident_type: str, organization: str | None = None) -> str:
    """The section on the dashboard, as a path on its server: ``/ops/runbook#memory`` (the
    super-admin's page), ``/company/acme/ops/runbook#memory`` for an organization's
    incident (the page its people can open)."""
    base = "/ops" if organization is None else f"/company/{organization}/ops"
    return f"{base}/runbook#{incident_type}"
