"""Where the runbook section of each incident type is: ``docs/runbook.md#<type>``.

The summary's ``Next:`` line and every notification point at it, so a person woken at
night reads what calmopsd does on its own for this type, what it asks, what to check
first and how to roll back or escalate. ``tests/test_runbook.py`` holds the document to
the playbook and the classification table.
"""

from __future__ import annotations

PATH = "docs/runbook.md"


def section(incident_type: str) -> str:
    """``docs/runbook.md#memory``: the section of ``incident_type`` (its heading is the type)."""
    return f"{PATH}#{incident_type}"
