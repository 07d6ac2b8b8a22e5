"""The dashboard over a store with customer drafts, for the customer-message page tests.

A copy of the API tests' template store (acme: uploads failing; globex: server errors;
two platform incidents customers cannot see) given to the real drafting consumer
(:func:`calmopsd.customers.drafting.drafting`) event by event, as the daemon's follower
would, so each organization's incident has its investigating draft. The app is built
as the daemon builds it: :class:`Messages` with the config's rules, passed to
``create_app``. Customer channels: a status page and acme's own, at ``hook_url``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from support.api import Template, token_entries
from support.clock import ManualClock

from calmopsd.config import Config
from calmopsd.config.customers import CustomersConfig
from calmopsd.customers.drafting import drafting
from calmopsd.record.audit import list_events
from calmopsd.record.database import Database, database_path
from calmopsd.record.messages import list_messages
from calmopsd.record.scope import Scope
from calmopsd.serve.answers import Hooks
from calmopsd.serve.app import create_app
from calmopsd.serve.messages import Messages, message_rules
from calmopsd.serve.operations import Operations
from calmopsd.serve.tokens import Tokens
from calmopsd.serve.web import App

PLATFORM = Scope.platform()


@dataclass
class Drafted:
    database: Database
    clock: ManualClock
    config: Config
    incident: dict[str, int]  # acme, globex, platform → incident id
    message: dict[str, int]  # acme, globex → its draft's id
    app: App


def drafted_copy(template: Template, where: Path, hook_url: str = "json://127.0.0.1:9") -> Drafted:
    state = where / "state"
    shutil.copytree(template.state, state)
    database = Database.open(database_path(state))
    customers = CustomersConfig.model_validate({"channels": [
        {"name": "statuspage", "url": f"{hook_url}/status", "audience": "status_page"},
        {"name": "acme-mail", "url": f"{hook_url}/acme", "audience": "organization",
         "organization": "acme"},
    ]})  # fmt: skip
    config = template.config.model_copy(update={"state_dir": state, "customers": customers})
    consume = drafting(database)
    for event in list_events(database, PLATFORM):
        consume(event)
    message: dict[str, int] = {}
    for org in ("acme", "globex"):
        (draft,) = list_messages(database, PLATFORM, incident_id=template.incident[org])
        message[org] = draft.id
    clock = ManualClock(template.now)
    messages = Messages(database, clock, lambda: message_rules(config, database))
    app = create_app(Operations(database, clock, Hooks()), Tokens(token_entries()),
                     settings=lambda: config, messages=messages)  # fmt: skip
    return Drafted(database, clock, config, dict(template.incident), message, app)
