"""Shapes of internal detail that need no list of names: addresses, paths, traces, tokens.

Each detector is one regular expression over the folded text (:mod:`folding`) and an
optional check of what it matched. The expressions are written to run in linear time
on any input: a repeated class that could start anywhere in a run is anchored by a
negative look-behind of the same class (so it starts only where its run starts), every
repetition is bounded or separated by a character the repeated part cannot match, and
no alternative can match what another inside the same repetition does. The adversarial
inputs in tests/customers/test_leaks_evasion.py hold them to that.
"""

from __future__ import annotations

import errno
import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from calmopsd.customers.leak_kinds import LeakKind

Span = tuple[int, int]
Check = Callable[[str, "re.Match[str]"], Span | None]

_I = re.IGNORECASE


def _whole(_text: str, match: re.Match[str]) -> Span | None:
    return match.span()


@dataclass(frozen=True)
class Detector:
    """One shape of a leak: what it is, how to find it, and what the match must also be."""

    kind: LeakKind
    pattern: re.Pattern[str]
    check: Check = _whole


def _detector(kind: LeakKind, pattern: str, flags: int = 0, check: Check = _whole) -> Detector:
    return Detector(kind, re.compile(pattern, flags), check)


# --- IP addresses ---------------------------------------------------------------------

_VERSION_BEFORE = re.compile(r"(?:version|release|build|v)\s*$", _I)


def _ipv4(text: str, match: re.Match[str]) -> Span | None:
    if _VERSION_BEFORE.search(text[max(0, match.start() - 12) : match.start()]):
        return None  # "version 1.2.3.4" is a version, not an address
    try:
        ipaddress.IPv4Address(match.group())
    except ValueError:
        return None
    return match.span()


_HEX = frozenset("0123456789abcdefABCDEF")


def _ipv6(_text: str, match: re.Match[str]) -> Span | None:
    candidate = match.group()
    start = match.start()
    while candidate.endswith((".", ":")) and not candidate.endswith("::"):
        candidate = candidate[:-1]  # a sentence's full stop or a colon after the address
    if candidate.count(":") < 2 or not any(c in _HEX for c in candidate):
        return None  # "10:30" is a time; "::" alone is punctuation
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return None  # "10:30:00", a MAC address, a ratio
    return start, start + len(candidate)


# --- tokens ---------------------------------------------------------------------------


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_WORDS = re.compile(r"[A-Za-z]{1,20}(?:[-_][A-Za-z]{1,20})+")


def _random_looking(_text: str, match: re.Match[str]) -> Span | None:
    """A long run mixing digits and letters, or upper and lower case inside it, with
    the spread of characters a generated secret has (words and hyphenated phrases
    have far less)."""
    value = match.group().strip("=-_")
    letters = sum(c.isalpha() for c in value)
    digits = sum(c.isdigit() for c in value)
    inner_upper = sum(c.isupper() for c in value[1:])
    lower = sum(c.islower() for c in value)
    mixed = (letters and digits) or (inner_upper >= 2 and lower >= 2)
    if _WORDS.fullmatch(value) or _UUID.fullmatch(value):
        return None  # words joined (Multi-Factor-Authentication) or an id, not a secret
    if len(value) >= 24 and mixed and _entropy(value) >= 3.5:
        return match.span()
    return None


def _hex_with_a_digit(_text: str, match: re.Match[str]) -> Span | None:
    value = match.group()
    return match.span() if any(c.isdigit() for c in value) else None


def _credential_value(_text: str, match: re.Match[str]) -> Span | None:
    """``Basic``/``Bearer`` are words too: the value must look like a credential."""
    value = match.group("value")
    if any(c.isdigit() for c in value) or any(c in "+/=_.-" for c in value):
        return match.span()
    return None


# --- URLs -----------------------------------------------------------------------------

_TRAILING = ".,;:!?)]}'\""


_NOT_A_HOST = re.compile(r"[\dT-]+|.*(?:UTC|GMT)[+-]?\d{0,2}", re.IGNORECASE)


def _host_port(_text: str, match: re.Match[str]) -> Span | None:
    host = match.group().rpartition(":")[0]
    # 2024-05-01T10:30 is a time of day; GMT-5:00 an offset; server.js:42 a file's line.
    if _NOT_A_HOST.fullmatch(host) or _CODE_FILE.fullmatch(host):
        return None
    return match.span()


def _url(_text: str, match: re.Match[str]) -> Span | None:
    start, end = match.span()
    value = match.group()
    while value and value[-1] in _TRAILING:
        value = value[:-1]  # the sentence's punctuation, not the address's
        end -= 1
    return (start, end) if value else None


_ERRNO_NAMES = "|".join(sorted(errno.errorcode.values(), key=len, reverse=True))
_CODE_EXTENSIONS = (
    "js|mjs|cjs|jsx|ts|tsx|py|pyc|rb|go|java|kt|scala|php|sh|bash|cpp|rs|"
    "json|ya?ml|toml|ini|conf|cfg|env|log|sql|db|sqlite3?|pid|sock|lock|pem|key|crt|"
    "map|vue|css|scss|html?|xml|md|txt|tar|gz|tgz|zip"
)
_CODE_FILE = re.compile(rf".*\.(?:{_CODE_EXTENSIONS})", re.IGNORECASE)
_HOST_ROLES = (
    "web|www|app|api|db|sql|pg|mysql|mongo|redis|cache|memcache|worker|queue|jobs?|node|"
    "srv|server|host|vm|lb|proxy|edge|prod|production|staging|stage|dev|uat|backend|"
    "frontend|mq|rabbit|kafka|elastic|search|mail|smtp|ns|dns|bastion|nat|k8s|kube"
)
_TLDS = (
    "com|net|org|io|dev|app|co|ai|cloud|info|biz|me|us|uk|de|eu|ca|au|fr|nl|tech|site|"
    "online|xyz|internal|local|lan|corp|intra|localdomain|test|example|invalid|arpa"
)
# The names of secrets, not one:
_SECRET_WORDS = "|".join(
    (
        r"password|passwd|pwd|secret|client[_-]?secret|token|access[_-]?token|auth[_-]?token",
        r"api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key|session[_-]?id|key",
    )
)

DETECTORS: tuple[Detector, ...] = (
    # IP addresses, of this host or any other: every address is internal detail.
    _detector(LeakKind.IP_ADDRESS, r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)", check=_ipv4),
    _detector(LeakKind.IP_ADDRESS, r"(?<![\w:.])[0-9A-Fa-f:.]{3,45}(?![\w:.])", check=_ipv6),
    # Host names that look internal by their shape.
    _detector(
        LeakKind.HOSTNAME,
        rf"(?<![\w.@/-])(?:[a-z0-9-]{{1,63}}\.)+(?:{_TLDS})(?![\w-]|\.[a-z0-9])",
        _I,
    ),
    _detector(LeakKind.HOSTNAME, r"(?<![\w-])ip-\d{1,3}(?:-\d{1,3}){3}(?![\w-])", _I),
    _detector(
        LeakKind.HOSTNAME, rf"(?<![\w:.-])(?:{_HOST_ROLES})(?:-[a-z]+){{0,2}}-?\d+(?![\w-])", _I
    ),
    # URLs and host:port.
    _detector(LeakKind.URL, r"(?<![\w+.-])[a-z][a-z0-9+.-]{1,15}://[^\s<>\"'`]+", _I, _url),
    _detector(LeakKind.URL, r"(?<![\w.-])www\.[\w-]+(?:\.[\w-]+)+[^\s<>\"'`]*", _I, _url),
    _detector(
        LeakKind.URL,
        r"(?<![\w.-])(?=[\w.-]*[A-Za-z])[\w.-]{1,253}:\d{2,5}(?![\w:])",
        check=_host_port,
    ),
    _detector(LeakKind.URL, r"\]:\d{2,5}(?![\w:])"),
    # Email addresses.
    _detector(LeakKind.EMAIL, r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+", _I),
    # File paths.
    _detector(LeakKind.FILE_PATH, r"(?<![\w.~/:\\-])/[\w.@+-]+(?:/[\w.@+-]*)*(?::\d+){0,2}"),
    _detector(LeakKind.FILE_PATH, r"(?<![\w~])~(?:[A-Za-z_][\w.-]{0,31})?/[\w.@+/-]*"),
    _detector(LeakKind.FILE_PATH, r"(?<![\w.])\.\.?/[\w.@+-]+(?:/[\w.@+-]*)*"),
    _detector(LeakKind.FILE_PATH, r"(?<![\w])[A-Za-z]:\\[^\s\\]*(?:\\[^\s\\]*)*"),
    _detector(LeakKind.FILE_PATH, r"(?<![\w\\])\\\\[\w.-]+\\[^\s\\]+"),
    _detector(LeakKind.FILE_PATH, r"(?<![\w-])node_modules(?![\w-])"),
    _detector(
        LeakKind.FILE_PATH,
        rf"(?<![\w.-])[\w-]{{1,64}}(?:\.[\w-]{{1,64}}){{0,4}}\.(?:{_CODE_EXTENSIONS})"
        rf"(?![\w-]|\.[\w])(?::\d+){{0,2}}",
        _I,
    ),
    _detector(
        LeakKind.FILE_PATH,
        r"(?<![\w.])\.(?:env|npmrc|bashrc|profile|htaccess|htpasswd|gitignore|pm2|ssh)(?![\w.-])",
        _I,
    ),
    # Stack traces and error internals.
    _detector(LeakKind.STACK_TRACE, r"Traceback \(most recent call last\)", _I),
    _detector(LeakKind.STACK_TRACE, r"\bFile \"[^\"\n]{1,300}\", line \d+", _I),
    _detector(
        LeakKind.STACK_TRACE,
        r"\bat\s+(?:[\w$.<>\[\]]{1,200}\s+)?\(?(?:file://)?[\w.@+/\\~-]{1,300}"
        rf"\.(?:{_CODE_EXTENSIONS})(?::\d+){{1,2}}\)?",
    ),
    _detector(LeakKind.STACK_TRACE, r"\bat\s+(?:[\w$.<>\[\]]{1,200}\s+)?\(?<anonymous>\)?"),
    _detector(LeakKind.STACK_TRACE, r"\(?node:[\w/]{1,200}:\d+(?::\d+)?\)?"),
    _detector(
        LeakKind.STACK_TRACE,
        r"\bat\s+[\w$]{1,100}(?:\.[\w$<>]{1,100}){1,20}\((?:[\w$]{1,100}\.(?:java|kt|scala):\d+|"
        r"Native Method|Unknown Source)\)",
    ),
    _detector(LeakKind.STACK_TRACE, r"\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*(?:Error|Exception)\b"),
    _detector(LeakKind.STACK_TRACE, r"\b(?:Uncaught|Unhandled)\s*\w*(?:Error|Exception|Rejection)"),
    _detector(LeakKind.STACK_TRACE, rf"\b(?:{_ERRNO_NAMES}|ECONNABORTED|ERR_[A-Z0-9_]{{2,60}})\b"),
    _detector(LeakKind.STACK_TRACE, r"\berrno\b|\[Errno \d+\]", _I),
    _detector(
        LeakKind.STACK_TRACE, r"\bSIG(?:KILL|TERM|SEGV|ABRT|INT|HUP|BUS|PIPE|QUIT|USR[12])\b"
    ),
    _detector(
        LeakKind.STACK_TRACE,
        r"\b(?:segmentation fault|core dumped|panic: |goroutine \d+|exit(?:ed with)? code \d+|"
        r"oom[- ]?kill(?:ed|er)?)",
        _I,
    ),
    # Tokens and secrets.
    _detector(LeakKind.TOKEN, r"(?<![\w-])eyJ[\w-]{8,}(?:\.[\w-]*){0,2}"),
    _detector(LeakKind.TOKEN, r"(?<![\w])(?:sk|pk|rk)_(?:live|test)_[\w]{4,}"),
    _detector(LeakKind.TOKEN, r"(?<![\w])(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{10,}"),
    _detector(LeakKind.TOKEN, r"(?<![\w])github_pat_\w{10,}"),
    _detector(LeakKind.TOKEN, r"(?<![\w-])xox[abprs]-[\w-]{6,}"),
    _detector(LeakKind.TOKEN, r"(?<![\w])(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{12,20}(?![\w])"),
    _detector(
        LeakKind.TOKEN, r"(?<![\w-])(?:AIza[\w-]{20,}|glpat-[\w-]{10,}|npm_[A-Za-z0-9]{20,})"
    ),
    _detector(LeakKind.TOKEN, r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----"),
    _detector(
        LeakKind.TOKEN,
        r"\b(?:bearer|basic|token)\s+(?P<value>[\w.~+/=-]{8,})",
        _I,
        _credential_value,
    ),
    _detector(LeakKind.TOKEN, r"\b(?:authorization|x-api-key|x-auth-token)\s*:", _I),
    _detector(LeakKind.TOKEN, rf"\b(?:{_SECRET_WORDS})\s*=\s*[^\s,;]+", _I),
    _detector(LeakKind.TOKEN, rf"\b(?:{_SECRET_WORDS})\"?\s*:\s*\"[^\"\n]{{0,200}}\"?", _I),
    _detector(LeakKind.TOKEN, rf"\b(?:{_SECRET_WORDS}):[^\s,;]+", _I),
    _detector(
        LeakKind.TOKEN,
        r"(?<![0-9A-Za-z])[0-9a-fA-F]{20,}(?![0-9A-Za-z])",
        check=_hex_with_a_digit,
    ),
    _detector(
        LeakKind.TOKEN,
        r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{24,}",
        check=_random_looking,
    ),
    # Internal ids: UUIDs, incident and recommendation numbers, tables, code identifiers.
    _detector(
        LeakKind.INTERNAL_ID,
        r"(?<![\w-])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![\w-])",
        _I,
    ),
    _detector(LeakKind.INTERNAL_ID, r"(?<![\w&#])#\d{2,}(?!\w)"),
    _detector(
        LeakKind.INTERNAL_ID,
        r"\b(?:incident|recommendation|action|event|notice|draft|message|ticket|case)s?"
        r"\s*(?:id\s*[:#]?\s*|#\s*|-|no\.\s*|number\s+)\d+\b",
        _I,
    ),
    _detector(LeakKind.INTERNAL_ID, r"\b(?:inc|rec|evt)-?\d+\b", _I),
    _detector(LeakKind.INTERNAL_ID, r"(?<![\w.-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w-])"),
    _detector(LeakKind.INTERNAL_ID, r"(?<![\w.-])[a-z]{2,}(?:[A-Z][a-z0-9]+)+(?![\w-])"),
    _detector(LeakKind.INTERNAL_ID, r"(?<![\w:.\]])(?::\d{2,5})(?![\w:])"),
    _detector(LeakKind.INTERNAL_ID, r"\bport\s+\d{2,5}\b", _I),
    _detector(LeakKind.INTERNAL_ID, r"\bpid\s*[:=]?\s*\d+\b", _I),
    _detector(LeakKind.INTERNAL_ID, r"\blocalhost\b", _I),
    _detector(
        LeakKind.INTERNAL_ID,
        r"\b(?:SELECT\s[^\n]{1,200}?\sFROM\s+\w+|INSERT\s+INTO\s+\w+|DELETE\s+FROM\s+\w+|"
        r"UPDATE\s+\w+\s+SET\b|(?:CREATE|DROP|ALTER)\s+(?:TABLE|INDEX)\b|SQLITE_[A-Z]+)",
    ),
)
"""Every shape, in the order leaks of one span are reported."""
