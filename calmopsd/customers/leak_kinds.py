"""What a leak is: the named reason a customer-facing text is refused, and where it sits."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LeakKind(StrEnum):
    """Why a part of a customer-facing text is internal detail."""

    HOSTNAME = "hostname"
    IP_ADDRESS = "ip_address"
    FILE_PATH = "file_path"
    PROCESS_NAME = "process_name"
    STACK_TRACE = "stack_trace"
    TOKEN = "token"  # noqa: S105  # a kind of leak, not a secret
    INTERNAL_ID = "internal_id"
    ORGANIZATION = "organization"
    URL = "url"
    EMAIL = "email"
    TOO_LONG = "too_long"


@dataclass(frozen=True)
class Leak:
    """One refused part: ``excerpt`` is exactly ``text[start:end]`` of the text as written
    (zero-width characters and look-alike letters included), so a refusal can point at it."""

    kind: LeakKind
    excerpt: str
    start: int
    end: int
