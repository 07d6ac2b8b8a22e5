"""The leak check: does a customer-facing text say anything internal, and which part.

    find_leaks(text, known)  →  [Leak(kind, excerpt, start, end)]   (pure, no I/O)
    leak_report(leaks)       →  one sentence per kind, for the operator

A text is read as a customer reads it (:mod:`folding`: invisible characters dropped,
look-alike letters made plain) and searched two ways: for shapes that are internal
whatever this installation is called (:mod:`detectors`: IP addresses, paths, stack
traces, tokens, ids, URLs, email addresses) and for the names this installation uses
(:class:`Known`, found by :mod:`names`). What the message may name — its own
organization, its public addresses — is taken out, except a token: a secret is refused
even inside a public URL. A text over :data:`MAX_LENGTH` is refused as a whole, unread:
a status update is a few sentences, and the bound keeps every search cheap.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from urllib.parse import urlsplit

from calmopsd.customers import names
from calmopsd.customers.detectors import DETECTORS
from calmopsd.customers.folding import fold, fold_name
from calmopsd.customers.known import Known
from calmopsd.customers.leak_kinds import Leak, LeakKind

__all__ = ["MAX_LENGTH", "Known", "Leak", "LeakKind", "find_leaks", "leak_report"]

MAX_LENGTH = 2000
"""Longest text the check reads, in characters; a longer one is refused as too long."""

_Found = tuple[LeakKind, int, int]
_KNOWN_KINDS = (
    ("hostnames", LeakKind.HOSTNAME, True),
    ("addresses", LeakKind.IP_ADDRESS, False),
    ("paths", LeakKind.FILE_PATH, False),
    ("processes", LeakKind.PROCESS_NAME, True),
    ("organizations", LeakKind.ORGANIZATION, True),
    ("tokens", LeakKind.TOKEN, True),
    ("internal_names", LeakKind.INTERNAL_ID, True),
)
_PUBLIC_KINDS = (LeakKind.URL, LeakKind.EMAIL, LeakKind.HOSTNAME)


def find_leaks(text: str, known: Known) -> list[Leak]:
    """Every internal part of ``text``, in the order it appears; [] for a text fit to send."""
    if len(text) > MAX_LENGTH:
        return [Leak(LeakKind.TOO_LONG, text[MAX_LENGTH:], MAX_LENGTH, len(text))]
    folded = fold(text)
    found, allowed = _search(folded.text, known)
    kept = _distinct([f for f in found if f[0] is LeakKind.TOKEN or not _inside(f, allowed)])
    secrets = [(start, end) for kind, start, end in kept if kind is LeakKind.TOKEN]
    kept = [f for f in kept if f[0] is LeakKind.TOKEN or not _inside(f, secrets)]
    leaks = []
    for kind, start, end in kept:
        first, last = folded.span(start, end)
        leaks.append(Leak(kind, text[first:last], first, last))
    return leaks


def _search(text: str, known: Known) -> tuple[list[_Found], list[tuple[int, int]]]:
    """What the detectors and the known names find in the folded ``text``, and the spans
    the message may show (its own organization's name, its public addresses)."""
    found: list[_Found] = []
    allowed = [span for pattern in _own_patterns(known) for span in names.found(pattern, text)]
    public = _public(known)
    for detector in DETECTORS:
        for match in detector.pattern.finditer(text):
            span = detector.check(text, match)
            if span is None or span[0] >= span[1]:
                continue
            if detector.kind in _PUBLIC_KINDS and _is_public(text[span[0] : span[1]], public):
                allowed.append(span)
            else:
                found.append((detector.kind, *span))
    for pattern in (*_INFRASTRUCTURE, *_known_patterns(known)):
        found += [(pattern.kind, start, end) for start, end in names.found(pattern, text)]
    return found, allowed


_INFRASTRUCTURE = tuple(
    p
    for p in (names.name_pattern(LeakKind.PROCESS_NAME, n) for n in sorted(names.INFRASTRUCTURE))
    if p is not None
)
"""What the host runs (nginx, pm2, …) is internal in every installation, whatever Known says."""


@lru_cache(maxsize=64)
def _known_patterns(known: Known) -> tuple[names.NamePattern, ...]:
    patterns = []
    for attribute, kind, spelt_out in _KNOWN_KINDS:
        for name in sorted(getattr(known, attribute)):
            pattern = names.name_pattern(kind, name, spelt_out=spelt_out)
            if pattern is not None:
                patterns.append(pattern)
    return tuple(patterns)


@lru_cache(maxsize=64)
def _own_patterns(known: Known) -> tuple[names.NamePattern, ...]:
    patterns = (names.name_pattern(LeakKind.ORGANIZATION, own) for own in sorted(known.own))
    # As a name, never as a common word: the organization's own name is allowed wherever.
    return tuple(names.NamePattern(p.kind, p.name, p.pattern, common=False) for p in patterns if p)


@lru_cache(maxsize=64)
def _public(known: Known) -> frozenset[str]:
    """The public addresses, folded and lower-cased, with each public URL's host."""
    public = {fold_name(p).lower().rstrip("/") for p in known.public}
    for address in list(public):
        if "://" in address:
            try:
                host = urlsplit(address).hostname
            except ValueError:
                continue
            if host:
                public.add(host)
    return frozenset(public)


def _is_public(value: str, public: frozenset[str]) -> bool:
    """A public address itself, or a page under a public URL (a path only: a query,
    fragment or user part could carry anything)."""
    value = value.lower().rstrip("/")
    if value in public or value.removeprefix("mailto:") in public:
        return True
    for address in public:
        if "://" in address and value.startswith(address + "/"):
            rest = value[len(address) :]
            return not any(c in rest for c in "?#@")
    return False


def _inside(found: _Found, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start <= found[1] and found[2] <= end for start, end in spans)


def _distinct(found: list[_Found]) -> list[_Found]:
    """One leak per part: a span inside a longer one (web of web-1, a path in a stack
    trace) is that leak, and of one span the first kind in :class:`LeakKind`'s order is
    told (a file path rather than an identifier for node_modules). A secret is always
    told, wherever it sits, so that it is never shown but masked."""
    order = {kind: index for index, kind in enumerate(LeakKind)}
    ranked = sorted(set(found), key=lambda f: (f[1], -f[2], order[f[0]]))
    kept: list[_Found] = []
    for candidate in ranked:
        kind, start, end = candidate
        inside = [k for k, s, e in kept if s <= start and end <= e]
        if not inside or (kind is LeakKind.TOKEN and LeakKind.TOKEN not in inside):
            kept.append(candidate)
    return kept


_PHRASES = {
    LeakKind.HOSTNAME: "names an internal host",
    LeakKind.IP_ADDRESS: "gives an IP address",
    LeakKind.FILE_PATH: "shows a file path",
    LeakKind.PROCESS_NAME: "names an internal process or app",
    LeakKind.STACK_TRACE: "quotes an error's internals",
    LeakKind.TOKEN: "holds what looks like a secret",
    LeakKind.INTERNAL_ID: "shows an internal id",
    LeakKind.ORGANIZATION: "names another organization",
    LeakKind.URL: "gives an address that is not one of the public ones",
    LeakKind.EMAIL: "gives an email address",
}
_SHOWN = 3
_EXCERPT = 40


def leak_report(leaks: Sequence[Leak]) -> str:
    """One calm sentence per kind of leak, in the order they first appear, each naming
    what failed: ``It names an internal host: 'web-1'.`` A secret is shown by its first
    four characters only; "" when there is no leak."""
    by_kind: dict[LeakKind, list[str]] = {}
    for leak in leaks:
        shown = by_kind.setdefault(leak.kind, [])
        if leak.excerpt not in shown:
            shown.append(leak.excerpt)
    secrets = sorted(by_kind.get(LeakKind.TOKEN, []), key=len, reverse=True)
    return "\n".join(
        _sentence(
            kind, [_masked(e, secrets) if kind is not LeakKind.TOKEN else e for e in shown], leaks
        )
        for kind, shown in by_kind.items()
    )


def _masked(excerpt: str, secrets: list[str]) -> str:
    """A secret that is also part of another leak (a URL with a token) is masked there too."""
    for secret in secrets:
        excerpt = excerpt.replace(secret, _secret(secret))
    return excerpt


def _secret(excerpt: str) -> str:
    return f"{_visible(excerpt[:4])}… ({len(excerpt)} characters)"


def _sentence(kind: LeakKind, excerpts: list[str], leaks: Sequence[Leak]) -> str:
    if kind is LeakKind.TOO_LONG:
        length = max(leak.end for leak in leaks if leak.kind is kind)
        return f"It is {length} characters long; a message is checked up to {MAX_LENGTH}."
    quoted = [f"'{_excerpt(kind, e)}'" for e in excerpts[:_SHOWN]]
    more = len(excerpts) - _SHOWN
    listed = ", ".join(quoted) + (f" and {more} more" if more > 0 else "")
    return f"It {_PHRASES[kind]}: {listed}."


def _excerpt(kind: LeakKind, excerpt: str) -> str:
    if kind is LeakKind.TOKEN:
        return _secret(excerpt)
    if kind is LeakKind.URL:
        excerpt = _without_query(excerpt)
    if len(excerpt) > _EXCERPT:
        excerpt = excerpt[: _EXCERPT - 1] + "…"
    return _visible(excerpt)


def _without_query(url: str) -> str:
    """A URL up to its query or fragment, without a user part: what follows may be a
    secret no detector knows the shape of (the config's own URLs are shown this way)."""
    url = re.sub(r"(?<=://)[^/@\s]*@", "", url)
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=-1)
    return url if cut < 0 else url[:cut] + "…"


def _visible(text: str) -> str:
    """Invisible and control characters as escapes, so the operator sees the trick."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
