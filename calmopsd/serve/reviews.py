"""Post-incident reviews as the API and the CLI work on them: show one, edit its fields.

Every call goes through the caller's scope, like incidents: an organization's token
sees and edits only its own organization's reviews (another's is "not found", as its
incidents are); a platform incident's review is a super-admin's. Editing needs an
operator; each edit is a ``review.edited`` audit event with the new words.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from calmopsd.clock import Clock
from calmopsd.errors import Forbidden, InvalidRequest, NotFound
from calmopsd.record.database import Database
from calmopsd.record.incidents import get_incident
from calmopsd.record.reviews import FIELDS, MAX_FIELD, Review, edit_review, get_review
from calmopsd.serve.tokens import Caller


class Reviews:
    def __init__(self, database: Database, clock: Clock):
        self.database = database
        self.clock = clock

    def show(self, caller: Caller, incident_id: int) -> Review:
        if get_incident(self.database, caller.scope, incident_id) is None:
            raise NotFound(f"no incident {incident_id}")
        review = get_review(self.database, caller.scope, incident_id)
        if review is None:
            raise NotFound(
                f"incident {incident_id} has no review yet: it is drafted when it resolves",
                "no_review",
            )
        return review

    def find(self, caller: Caller, incident_id: int) -> Review | None:
        """The review for the dashboard's incident page to show (None: none yet, or not
        the caller's): the hook its template reads."""
        return get_review(self.database, caller.scope, incident_id)

    def edit(self, caller: Caller, incident_id: int, changes: Mapping[str, str]) -> Review:
        """Replace the named fields; the rest stay as they are."""
        self.show(caller, incident_id)
        if not caller.may_act:
            raise Forbidden(f"token {caller.name!r} is a viewer: it may read, not act")
        cleaned = {name: _clean(name, text) for name, text in changes.items()}
        if not cleaned:
            known = ", ".join(FIELDS)
            raise InvalidRequest(f"give at least one field to change: {known}", "invalid_body")
        edit_review(self.database, caller.scope, incident_id, cleaned,
                    at=self.clock.now(), actor=caller.actor)  # fmt: skip
        return self.show(caller, incident_id)


def _clean(name: str, text: str) -> str:
    if name not in FIELDS:
        raise InvalidRequest(f"{name} is not a review field ({', '.join(FIELDS)})", "invalid_body")
    text = text.strip()
    if len(text) > MAX_FIELD:
        raise InvalidRequest(f"{name} is longer than {MAX_FIELD} characters", "invalid_text")
    if any(unicodedata.category(c) in ("Cc", "Cf") and c != "\n" for c in text):
        raise InvalidRequest(f"{name} must not contain control characters", "invalid_text")
    return text
