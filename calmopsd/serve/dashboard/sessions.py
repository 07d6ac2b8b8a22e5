"""Dashboard sessions: an API token exchanged once for a random session id in a cookie.

The session table lives in the daemon's memory and nothing else: the cookie holds
only a random id (256 bits), the table keys on that id's SHA-256 and keeps the
token's *hash*, never the token. Nothing is signed, so there is no signing secret
to keep or leak; a daemon restart ends every session (people sign in again), and
logout really ends one. Each request finds the token again by its hash among the
tokens in force, so a token a reload removed or changed ends its sessions at once.
Sessions end after :data:`LIFETIME` whatever happens (an absolute expiry, by the
daemon's clock), and the table holds at most :data:`MOST` (the oldest goes first).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from calmopsd.clock import Clock
from calmopsd.serve.tokens import Caller, TokenEntry, Tokens, caller_for

LIFETIME = timedelta(hours=8)
MOST = 1000


@dataclass
class Session:
    """One signed-in browser: whose token, its form token, and a notice for the next page."""

    token_sha256: str
    csrf: str
    expires_at: datetime
    notices: list[str] = field(default_factory=list)

    def say(self, notice: str) -> None:
        """A one-line message shown once on the next page (after a redirect)."""
        self.notices = [*self.notices[-4:], notice]

    def take_notices(self) -> list[str]:
        taken, self.notices = self.notices, []
        return taken


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).hexdigest()


class Sessions:
    """The sessions in force, shared by waitress's threads."""

    def __init__(self, clock: Clock, lifetime: timedelta = LIFETIME, most: int = MOST):
        self.clock = clock
        self.lifetime = lifetime
        self.most = most
        self._table: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, entry: TokenEntry) -> tuple[str, Session]:
        """A new session for ``entry`` (always a new id: nothing from before sign-in is kept)."""
        session_id = secrets.token_urlsafe(32)
        session = Session(entry.sha256, secrets.token_urlsafe(32), self.clock.now() + self.lifetime)
        with self._lock:
            while len(self._table) >= self.most:
                del self._table[next(iter(self._table))]  # dicts keep insertion order
            self._table[_key(session_id)] = session
        return session_id, session

    def find(self, session_id: str | None) -> Session | None:
        """The live session of this id, or None (unknown, or expired: then it is dropped)."""
        if not session_id or len(session_id) > 100:
            return None
        key = _key(session_id)
        with self._lock:
            session = self._table.get(key)
            if session is not None and self.clock.now() >= session.expires_at:
                del self._table[key]
                return None
        return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._table.pop(_key(session_id), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._table)


def caller_of(session: Session, tokens: Tokens) -> Caller | None:
    """The session's caller, if its token is still in force (compared with every entry)."""
    found: TokenEntry | None = None
    for entry in tokens.entries():
        if hmac.compare_digest(session.token_sha256, entry.sha256) and found is None:
            found = entry
    return caller_for(found, None) if found is not None else None
