"""Finding the names a :class:`~calmopsd.customers.known.Known` lists, however they are spelt.

A name is found as a whole word (not inside a longer word), in any case, in the folded
text, and also spelt out with punctuation between its letters (``w-e-b-1``, ``w.e.b.1``,
``w_e_b-1``: at most two of ``- _ . * · • / \\ | + ~ ' ` `` between two letters), and with
its own separators written another way (``acme-corp``, ``Acme Corp``, ``AcmeCorp``). Letters
spaced out by blanks (``w e b 1``) are not followed: prose collides with that too often.

Apps and hosts are often named with everyday words (``api``, ``web``, ``worker``), and a
message saying "our API is slow" names no process. A known name that is one of
:data:`COMMON_WORDS` is therefore refused only where the text uses it as a name: joined to
a number, path, port or another identifier (``api-1``, ``api:3000``, ``pm2/web``), quoted
(``'web'``, `` `api` ``), spelt out with punctuation (``a.p.i``), or beside a word that
makes it a process (``the api process``, ``pm2 web``, ``restarted the api``). Every other
name — ``uploads-worker``, ``acme-prod`` — is refused wherever it appears.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from calmopsd.customers.folding import fold_name
from calmopsd.customers.leak_kinds import LeakKind


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


COMMON_WORDS = _words(
    """
    a about access account accounts admin alerts all analytics api apis app apps archive
    assets auth background backend backup beta billing blog cache calendar cart chat
    checkout client cloud cluster core cron dashboard data database db default delivery
    demo deploy deployment dev docs download downloads edge email events export exports feed
    files front
    frontend gateway help home hooks images import imports inbox index internal jobs live
    log login logs mail main media messages metrics mobile monitor monitoring news node
    notifications orders pay payments platform portal primary prod production profile
    proxy public push queue queues realtime reports router run scheduler search secondary
    server service services shop site sms staging static stats status storage store
    stream sync system task tasks temp test tmp upload uploads user users video web
    webhook webhooks worker workers www
    """
)
"""Words apps, hosts and directories are often named after that customer prose also uses."""

INFRASTRUCTURE = _words(
    """
    nginx pm2 calmopsd systemd systemctl journald sqlite sqlite3 redis postgres postgresql
    mysql mariadb mongodb mongod docker kubernetes kubectl k8s gunicorn uwsgi waitress
    haproxy supervisord node nodejs npm
    """
)
"""What the host runs, named by what runs it: internal detail in any customer message."""

_BEFORE = _words(
    "pm2 process processes instance container daemon app named restarted restarting "
    "restart reloaded reload crashed crashing killed stopped"
)
_AFTER = _words(
    "process processes proc instance instances container containers daemon daemons "
    "cluster pod pods pid worker workers crashed"
)
_SKIPPED = frozenset({"the", "a", "an", "our", "its"})
_JOINERS = "-_./:@=\\#"
_QUOTES = "'\"`‘’“”"
_SPELLING = r"[-_.*·•/\\|+~'`]{0,2}"
_OWN_SEPARATOR = r"[\s\-_.]{0,3}"
_WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class NamePattern:
    """How one known name is found, and as which kind of leak."""

    kind: LeakKind
    name: str
    pattern: re.Pattern[str]
    common: bool


def name_pattern(kind: LeakKind, name: str, *, spelt_out: bool = True) -> NamePattern | None:
    """The pattern of ``name`` (None for a name with no letter or digit to find)."""
    folded = fold_name(name).strip()
    if not any(c.isalnum() for c in folded):
        return None
    compact = "".join(c for c in folded if c.isalnum()).lower()
    return NamePattern(kind, name, _compile(folded, spelt_out), compact in COMMON_WORDS)


@lru_cache(maxsize=1024)
def _compile(folded: str, spelt_out: bool) -> re.Pattern[str]:
    if not spelt_out:
        body = re.escape(folded)
    else:
        parts: list[str] = []
        for char in folded:
            if char.isalnum():
                if parts and parts[-1] != _OWN_SEPARATOR:
                    parts.append(_SPELLING)
                parts.append(re.escape(char))
            elif parts and parts[-1] != _OWN_SEPARATOR:
                if parts[-1] == _SPELLING:
                    parts.pop()
                parts.append(_OWN_SEPARATOR)
        body = "".join(parts)
    return re.compile(rf"(?<![^\W_]){body}(?![^\W_])", re.IGNORECASE)


def found(pattern: NamePattern, text: str) -> list[tuple[int, int]]:
    """Where ``pattern``'s name is used as a name in the folded ``text``."""
    spans = []
    for match in pattern.pattern.finditer(text):
        start, end = match.span()
        if start == end:
            continue
        if pattern.common and not _as_a_name(text, start, end, pattern.name):
            continue
        spans.append((start, end))
    return spans


def _as_a_name(text: str, start: int, end: int, name: str) -> bool:
    """Whether a common word at ``[start, end)`` is used as the name of something."""
    if len(text[start:end]) > len(fold_name(name)):
        return True  # spelt out: a-p-i
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    if after and after in _JOINERS and text[end + 1 : end + 2].isalnum():
        return True
    if before and before in _JOINERS and start >= 2 and text[start - 2].isalnum():
        return True
    if before and after and before in _QUOTES and after in _QUOTES:
        return True
    words_before = [w.lower() for w in _WORD.findall(text[max(0, start - 40) : start])]
    while words_before and words_before[-1] in _SKIPPED:
        words_before.pop()
    words_after = [w.lower() for w in _WORD.findall(text[end : end + 30])]
    return bool(
        (words_before and words_before[-1] in _BEFORE) or (words_after and words_after[0] in _AFTER)
    )
