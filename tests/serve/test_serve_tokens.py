"""Tokens: every configured token is compared, every time; only hashes are kept."""

from __future__ import annotations

import hashlib

import pytest
import requests
from support.clock import ManualClock

from calmopsd.record.database import Database
from calmopsd.serve.app import create_app
from calmopsd.serve.operations import Operations
from calmopsd.serve.server import ApiServer
from calmopsd.serve.tokens import (
    TokenEntry,
    Tokens,
    actor_header,
    bearer,
    caller_for,
    digest,
    local_token,
    new_token,
)

ENTRIES = [TokenEntry(f"t{i}", "acme", "viewer", digest(f"secret-{i}")) for i in range(5)]


class Counting:
    def __init__(self) -> None:
        self.compared: list[str] = []

    def __call__(self, presented: str, stored: str) -> bool:
        self.compared.append(stored)
        return presented == stored


@pytest.mark.parametrize("token", ["secret-0", "secret-4", "secret-2", "nobody", ""])
def test_every_configured_token_is_compared_whichever_matches(token: str) -> None:
    compare = Counting()
    tokens = Tokens(ENTRIES, local_token()[1], compare=compare)
    found = tokens.find(token)
    assert tokens.local is not None
    assert compare.compared == [e.sha256 for e in ENTRIES] + [tokens.local.sha256]
    assert (found.name if found else None) == (
        f"t{token[-1]}" if token.startswith("secret-") else None
    )


def test_the_api_compares_every_token_for_each_request(database: Database) -> None:
    compare = Counting()
    app = create_app(Operations(database, ManualClock()), Tokens(ENTRIES, compare=compare))
    server = ApiServer(app, listen="127.0.0.1:0")
    server.start()
    try:
        answers = [
            requests.get(f"{server.url}/api/ops/incidents",
                         headers={"Authorization": f"Bearer {sent}"}, timeout=10).status_code
            for sent in ("secret-0", "secret-3", "wrong")
        ]  # fmt: skip
    finally:
        server.stop()
    assert answers == [200, 200, 401]
    assert len(compare.compared) == 3 * len(ENTRIES)


def test_a_new_token_is_random_and_only_its_sha256_is_kept() -> None:
    (first, first_hash), (second, _) = new_token(), new_token()
    assert first != second
    assert len(first) >= 43
    assert first_hash == hashlib.sha256(first.encode()).hexdigest()
    token, entry = local_token()
    assert (entry.name, entry.organization_id, entry.role) == ("local-cli", None, "operator")
    assert entry.sha256 == digest(token)
    assert token not in repr(entry)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc-DEF_123", "abc-DEF_123"),
        ("bearer abc", "abc"),
        ("  Bearer   abc  ", "abc"),
        ("Bearer", None),
        ("Bearer a b", None),
        ("Basic abc", None),
        ("Bearer é", None),
        (None, None),
        ("Bearer " + "x" * 513, None),
    ],
)
def test_the_bearer_token_is_read_strictly(header: str | None, token: str | None) -> None:
    assert bearer(header) == token


@pytest.mark.parametrize(
    ("sent", "actor"),
    [("dana", "cli:dana"), ("ops.bot-2", "cli:ops.bot-2"), (None, "token:local-cli")],
)
def test_only_the_local_token_takes_its_actor_from_the_header(sent: str | None, actor: str) -> None:
    _, local = local_token()
    assert caller_for(local, actor_header(sent)).actor == actor
    assert caller_for(ENTRIES[0], actor_header(sent)).actor == "token:t0"


@pytest.mark.parametrize("sent", ["", "dana; rm -rf /", "x" * 33, "dåna", "a b"])
def test_an_actor_that_is_not_a_plain_user_name_is_not_taken(sent: str) -> None:
    assert actor_header(sent) is None
