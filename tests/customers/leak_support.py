"""The installation the leak check's tests read: a real Config loaded from YAML, and the
names only the running host would add (PM2's live apps, the store's organizations, this
machine's names), fixed so the tests do not depend on the machine they run on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from calmopsd.config import load_config
from calmopsd.customers.known import Known

CORPUS = Path(__file__).with_name("corpus")
LIVE_APPS = ("api", "web", "uploads-worker", "thumbnailer", "cron-sweeper")
ORGANIZATIONS = ("acme", "globex", "initech", "Globex Corporation", "Initech", "Umbrella Health")
MACHINE = ("web-1", "web-1.prod.acme.internal")


def corpus_known() -> Known:
    """What the corpus' installation knows, for a message to the organization acme."""
    return Known.from_config(
        load_config(CORPUS / "calmops.yaml"),
        apps=LIVE_APPS,
        organizations=ORGANIZATIONS,
        own_organization="acme",
        public=["support@acme.example"],
        machine=MACHINE,
    )


def corpus(name: str) -> Any:
    return yaml.safe_load((CORPUS / name).read_text(encoding="utf-8"))
