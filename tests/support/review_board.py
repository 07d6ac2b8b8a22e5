"""The dashboard over a store with a post-incident review, for the review page tests.

A copy of the API tests' template store with acme's and globex's incidents resolved by
hand (by the super-admin, through :class:`Operations`, as the dashboard's resolve form
does). acme's review is drafted by the real drafting consumer
(:func:`calmopsd.learn.drafting.reviewing`) from the event log, as the daemon's follower
would; globex's is not drafted yet (its page says it is being drafted); the platform
incident is still open (no review, no section). The app is built as the daemon builds it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from support.api import Template, secret, token_entries
from support.clock import ManualClock

from calmopsd.learn.drafting import reviewing
from calmopsd.model import IncidentStatus
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database, connect, database_path
from calmopsd.record.reviews import Review, get_review
from calmopsd.record.scope import Scope
from calmopsd.serve.answers import Hooks
from calmopsd.serve.app import create_app
from calmopsd.serve.operations import Operations
from calmopsd.serve.tokens import Tokens, caller_for
from calmopsd.serve.web import App

PLATFORM = Scope.platform()


@dataclass
class Reviewed:
    database: Database
    clock: ManualClock
    incident: dict[str, int]  # acme (reviewed), globex (resolved, not drafted), platform (open)
    app: App

    def review(self, kind: str = "acme") -> Review:
        found = get_review(self.database, PLATFORM, self.incident[kind])
        assert found is not None, kind
        return found

    def edits(self) -> list[tuple[int | None, str, dict[str, Any]]]:
        """Every ``review.edited`` event: (incident, actor, the changes it recorded)."""
        events = list_events(self.database, PLATFORM)
        return [(e.incident_id, e.actor, e.data["changes"]) for e in events
                if e.kind == "review.edited"]  # fmt: skip

    def dump(self) -> dict[str, list[Any]]:
        """The reviews and the event log, row by row: to show a refusal changed nothing."""
        conn = connect(self.database.path, query_only=True)
        try:
            tables = ("incident_reviews", "incident_events")
            return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
        finally:
            conn.close()


def reviewed_copy(template: Template, where: Path) -> Reviewed:
    state = where / "state"
    shutil.copytree(template.state, state)
    database = Database.open(database_path(state))
    clock = ManualClock(template.now + timedelta(minutes=20))
    operations = Operations(database, clock, Hooks())
    tokens = Tokens(token_entries())
    entry = tokens.find(secret("root"))
    assert entry is not None
    root = caller_for(entry, None)
    for kind in ("acme", "globex"):
        operations.change_status(root, template.incident[kind], IncidentStatus.RESOLVED,
                                 "cleared the temp uploads by hand")  # fmt: skip
    draft = reviewing(database, lambda: template.config)
    for event in list_events(database, PLATFORM, incident_id=template.incident["acme"]):
        draft(event)
    config = template.config.model_copy(update={"state_dir": state})
    app = create_app(operations, tokens, settings=lambda: config)
    return Reviewed(database, clock, dict(template.incident), app)
