"""The text the leak check reads: one skeleton of what a reader sees, mapped back to the text.

A name hidden from a plain search — ``w\u200beb-1`` (a zero-width space), ``ｗｅｂ-1``
(full-width letters), ``wеb-1`` (a Cyrillic е), ``wéb-1`` (a combining accent) — still
reads as ``web-1`` to a customer. Every character is decomposed (NFKD, which includes
NFKC's compatibility mappings), stripped of combining marks and of invisible format and
control characters, and look-alike Cyrillic and Greek letters become the Latin letters
they pass for. Case is kept: some token shapes are case-sensitive, so name patterns
match case-insensitively instead. Each character of the skeleton remembers the index of
the character it came from, so a leak is reported on the text as written.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Letters that render like Latin ones in common fonts (a subset of Unicode's
# confusables.txt: the Cyrillic and Greek letters that pass for a-z).
_LOOKALIKES = str.maketrans(
    {
        "а": "a", "в": "B", "е": "e", "к": "k", "м": "M", "н": "H", "о": "o", "р": "p",
        "с": "c", "т": "T", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d",
        "ԛ": "q", "ԝ": "w", "ү": "y", "һ": "h", "ӏ": "l", "ɡ": "g", "ɑ": "a", "ı": "i",
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
        "С": "C", "Т": "T", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Ү": "Y", "Һ": "h",
        "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
        "υ": "u", "χ": "x", "ω": "w", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H",
        "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y",
        "Χ": "X",
    }
)  # fmt: skip
_KEPT_CONTROLS = "\t\n\r"
_DROPPED = ("Mn", "Me", "Cf", "Cs", "Co", "Cn")


@dataclass(frozen=True)
class Folded:
    """The skeleton of a text and, per skeleton character, the index it came from."""

    text: str
    origin: tuple[int, ...]
    source: str

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that skeleton ``[start, end)`` came from, with
        the combining marks that belong to its last character."""
        first = self.origin[start]
        last = self.origin[end - 1] + 1
        while last < len(self.source) and unicodedata.category(self.source[last])[0] == "M":
            last += 1
        return first, last


def fold(text: str) -> Folded:
    """The skeleton of ``text`` (see the module's docstring)."""
    out: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = fold_char(char)
        out.append(folded)
        origin.extend([index] * len(folded))
    return Folded("".join(out), tuple(origin), text)


def fold_name(name: str) -> str:
    """A known name as the skeleton spells it, so both sides of a match agree."""
    return "".join(fold_char(char) for char in name)


@lru_cache(maxsize=4096)
def fold_char(char: str) -> str:
    """What one character reads as: "" for the invisible, else its letters."""
    category = unicodedata.category(char)
    if category in _DROPPED:
        return ""
    if category == "Cc":
        return char if char in _KEPT_CONTROLS else ""
    if category in ("Zl", "Zp"):
        return "\n"
    decomposed = unicodedata.normalize("NFKD", char)
    kept = "".join(c for c in decomposed if unicodedata.category(c)[0] != "M")
    return kept.translate(_LOOKALIKES)
