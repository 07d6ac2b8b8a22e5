"""What a config drops that the one before it had: every API token, every rule, a section.

A config file cut off while it was written (a full disk, a copy interrupted, a
tool that writes in place) is usually still valid YAML: the sections after the
cut are simply gone, and with them, since ``api:`` comes last, every token. A
reload cannot tell that from an operator who removed them on purpose, and must
let the operator do that (revoking every token at once is an emergency
measure), so it is applied and said loudly: the daemon logs
``config.reload_drops`` and ``check-config`` warns, naming what went.
"""

from __future__ import annotations

from typing import Any

from calmopsd.config.schema import Config

_SHOWN_NAMES = 5
# Compared on their own terms (below), or kept by a reload whatever the file says.
_NOT_SECTIONS = frozenset({"state_dir", "rules"})


def dropped(old: Config, new: Config) -> list[str]:
    """Each thing ``old`` set that ``new`` drops as a whole, as ``key: what``; [] if none."""
    return [*_tokens(old, new), *_rules(old, new), *_sections(old, new)]


def _tokens(old: Config, new: Config) -> list[str]:
    if not old.api.tokens or new.api.tokens:
        return []
    names = _names([token.name for token in old.api.tokens])
    return [f"api.tokens: every API token ({names}); only the local CLI's is left"]


def _rules(old: Config, new: Config) -> list[str]:
    before, after = old.detection_rules(), new.detection_rules()
    if before and not after:
        return [f"rules: every detection rule ({_names([r.name for r in before])}); none is left"]
    if old.rules and new.rules is None:
        names = _names([rule.name for rule in old.rules])
        return [f"rules: every rule of your own ({names}); the shipped rules apply instead"]
    return []


def _sections(old: Config, new: Config) -> list[str]:
    found = []
    for name, field in Config.model_fields.items():
        if name in _NOT_SECTIONS:
            continue
        default = _settings(field.get_default(call_default_factory=True), name)
        if _settings(getattr(old, name), name) != default == _settings(getattr(new, name), name):
            found.append(f"{name}: every setting of the section; its defaults apply instead")
    return found


def _settings(section: Any, name: str) -> Any:
    # The tokens are said on their own; the rest of api: is a section like the others.
    exclude = {"tokens"} if name == "api" else None
    return section.model_dump(exclude=exclude) if hasattr(section, "model_dump") else section


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN_NAMES])
    more = len(names) - _SHOWN_NAMES
    return f"{len(names)}: {shown}" + (f" and {more} more" if more > 0 else "")
