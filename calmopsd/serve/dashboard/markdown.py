"""Just enough Markdown for the runbook, as safe HTML: headings, paragraphs, ``-`` lists,
`` `code` `` and ``**bold**``; everything else is text.

Every character of the source is escaped first and only these constructs become tags,
so no text — the runbook's or anyone's — can put markup or a script on a page. A pure
function; a heading's ``id`` is its text in lower case, letters, digits and dashes only,
so ``## memory`` is ``#memory``.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_HEADING = re.compile(r"(#{1,6}) +(.+)")
_ITEM = re.compile(r"- +(.*)")
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_NOT_IN_ID = re.compile(r"[^a-z0-9]+")


def to_html(text: str, *, shift: int = 0) -> Markup:
    """``text`` as HTML; ``shift`` moves every heading down that many levels (at most h6)."""
    blocks = [b for b in re.split(r"\n[ \t]*\n", text.strip("\n")) if b.strip()]
    return Markup("\n").join(_block(b, shift) for b in blocks)


def anchor(heading: str) -> str:
    """The ``id`` a heading gets: ``Roll back`` → ``roll-back``."""
    return _NOT_IN_ID.sub("-", heading.lower()).strip("-")


def _block(block: str, shift: int) -> Markup:
    lines = block.splitlines()
    heading = _HEADING.fullmatch(lines[0].strip())
    if heading is not None:
        level = min(len(heading.group(1)) + shift, 6)
        words = heading.group(2).strip()
        shown = Markup('<h{0} id="{1}">{2}</h{0}>').format(level, anchor(words), _inline(words))
        rest = "\n".join(lines[1:])
        return shown + Markup("\n") + _block(rest, shift) if rest.strip() else shown
    if _ITEM.fullmatch(lines[0].strip()):
        return _list(lines)
    return Markup("<p>{}</p>").format(_inline(" ".join(line.strip() for line in lines)))


def _list(lines: list[str]) -> Markup:
    """Items begin with ``- ``; a line that does not continues the item before it."""
    items: list[list[str]] = []
    for line in lines:
        item = _ITEM.fullmatch(line.strip())
        if item is not None:
            items.append([item.group(1)])
        else:
            items[-1].append(line.strip())
    shown = Markup("").join(Markup("<li>{}</li>").format(_inline(" ".join(i))) for i in items)
    return Markup("<ul>{}</ul>").format(shown)


def _inline(text: str) -> Markup:
    """Code spans first (their text stays as written), then bold in the text between them."""
    parts = _CODE.split(text)  # even indexes: text; odd: the inside of a code span
    out = Markup("")
    for i, part in enumerate(parts):
        if i % 2:
            out += Markup("<code>{}</code>").format(part)
        else:
            out += _bold(part)
    return out


def _bold(text: str) -> Markup:
    out, at = Markup(""), 0
    for found in _BOLD.finditer(text):
        out += escape(text[at : found.start()])
        out += Markup("<strong>{}</strong>").format(found.group(1))
        at = found.end()
    return out + escape(text[at:])
