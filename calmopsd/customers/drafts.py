"""The words of a customer message: a template per incident type and phase, in plain
customer language — what customers notice, not what broke inside.

Nothing internal goes in: no app, host, figure or id, only what a customer can see
("file uploads", "the service"), the phase, and when to expect more. The leak check
(:mod:`calmopsd.customers.leaks`) still reads every draft: a template is code, and code
changes.
"""

from __future__ import annotations

from calmopsd.customers.status import ComponentStatus, CustomerImpact, Phase
from calmopsd.model import IncidentType

MAX_TEXT = 1000

# What customers notice, per incident type: (degraded, partial outage, major outage).
_NOTICED: dict[IncidentType, tuple[str, str, str]] = {
    IncidentType.UPLOAD: (
        "some file uploads failing",
        "many file uploads failing",
        "file uploads being unavailable",
    ),
    IncidentType.DISK: (
        "some changes and uploads not being saved",
        "changes and uploads not being saved",
        "the service being unavailable",
    ),
    IncidentType.DEPENDENCY: (
        "some features responding slowly",
        "some features being unavailable",
        "the service being unavailable",
    ),
}
_SERVICE = (
    "slower responses than usual",
    "errors for some requests",
    "the service being unavailable",
)
_LEVEL = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.DEGRADED_PERFORMANCE: 0,
    ComponentStatus.PARTIAL_OUTAGE: 1,
    ComponentStatus.MAJOR_OUTAGE: 2,
}
_WORKING = {
    IncidentType.UPLOAD: "File uploads are",
    IncidentType.DISK: "Saving changes and uploads is",
    IncidentType.DEPENDENCY: "All features are",
}


def draft_text(incident_type: IncidentType, impact: CustomerImpact, *, audience: str) -> str:
    """The message for ``impact.phase``; ``audience`` is "platform" (the status page) or
    "organization" (a message to an affected organization)."""
    noticed = _NOTICED.get(incident_type, _SERVICE)[_LEVEL[impact.component]]
    working = _WORKING.get(incident_type, "The service is")
    yours = " for your account" if audience == "organization" else ""
    if impact.phase is Phase.INVESTIGATING:
        text = (
            f"We are investigating reports of {noticed}{yours}. "
            "We will post an update within 30 minutes."
        )
    elif impact.phase is Phase.IDENTIFIED:
        text = (
            f"We have identified the cause of {noticed}{yours} and are applying a fix. "
            "We will post an update within 30 minutes."
        )
    elif impact.phase is Phase.MONITORING:
        text = (
            "A fix has been applied and we are monitoring the results. "
            f"{working} expected to work normally again{yours}."
        )
    else:
        text = (
            f"This incident has been resolved. {working} working normally again{yours}. "
            "We apologise for the inconvenience."
        )
    return text[:MAX_TEXT]
