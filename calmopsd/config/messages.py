"""Turn one validation error into one short sentence a user can act on.

An error's own ``msg`` names Python types (``Input should be a valid integer``); an
operator editing YAML needs ``must be ≤ 100 (got 150)``. Each error type the
schema can raise (calmopsd.typed's, which are pydantic's) has one entry in
``MESSAGES``; an unknown type falls back to its one-line ``msg``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any, get_args, get_origin

from calmopsd.config.lines import KeyPath
from calmopsd.config.units import shown
from calmopsd.typed import ErrorDetails, Model


def _got(error: ErrorDetails) -> str:
    return f"(got {shown(error['input'])})"


def _limit(symbol: str, key: str) -> Callable[[ErrorDetails], str]:
    def message(error: ErrorDetails) -> str:
        return f"must be {symbol} {shown(_ctx(error).get(key))} {_got(error)}"

    return message


def _kind(noun: str) -> Callable[[ErrorDetails], str]:
    def message(error: ErrorDetails) -> str:
        return f"must be {noun} {_got(error)}"

    return message


def _ctx(error: ErrorDetails) -> dict[str, Any]:
    return dict(error.get("ctx") or {})


def _literal(error: ErrorDetails) -> str:
    expected = str(_ctx(error).get("expected", ""))
    choices = re.findall(r"'([^']*)'", expected) or [expected]
    return f"must be one of: {', '.join(choices)} {_got(error)}"


def _value_error(error: ErrorDetails) -> str:
    return error["msg"].removeprefix("Value error, ")


def _union(error: ErrorDetails) -> str:
    """``must be true or false, a number or text (got a list)``: each type it may be."""
    nouns = []
    for member in _ctx(error).get("errors", []):
        said = describe(member, Model).removeprefix("must be ")
        noun = said.split(" (got ")[0]
        if noun not in nouns:
            nouns.append(noun)
    listed = ", ".join(nouns[:-1]) + f" or {nouns[-1]}" if len(nouns) > 1 else "".join(nouns)
    return f"must be {listed} {_got(error)}"


def _url(error: ErrorDetails) -> str:
    # A URL may hold a password: say what is wrong with it, never the URL.
    reason = str(_ctx(error).get("error", ""))
    why = {
        "relative URL without a base": "http:// or https:// is missing in front",
        "input is empty": "it is empty",
        "empty host": "it has no host name",
    }.get(reason, reason)
    return f"must be a URL like https://host:port/path ({why})" if why else _URL_HINT


_URL_HINT = "must be a URL like https://host:port/path"


def _too_short(error: ErrorDetails) -> str:
    least = _ctx(error).get("min_length", 1)
    if isinstance(error["input"], str):
        return f"must be at least {least} character{'s' if least != 1 else ''} long"
    return f"must list at least {least} item{'s' if least != 1 else ''}"


def _too_long(error: ErrorDetails) -> str:
    most = _ctx(error).get("max_length")
    return f"must be at most {most} long {_got(error)}"


def _pattern(error: ErrorDetails) -> str:
    """Patterns here are names: say what a name may hold, not the regular expression."""
    return f"must be a name of letters, digits, '.', '_' or '-' {_got(error)}"


_WHOLE_NUMBER = _kind("a whole number")
_NUMBER = _kind("a number")
_BOOLEAN = _kind("true or false")
_MAPPING = _kind("a mapping of keys")

MESSAGES: dict[str, Callable[[ErrorDetails], str]] = {
    "missing": lambda error: "required key is missing",
    "less_than_equal": _limit("≤", "le"),
    "less_than": _limit("<", "lt"),
    "greater_than_equal": _limit("≥", "ge"),
    "greater_than": _limit(">", "gt"),
    "int_parsing": _WHOLE_NUMBER,
    "int_type": _WHOLE_NUMBER,
    "int_from_float": _WHOLE_NUMBER,
    "float_parsing": _NUMBER,
    "float_type": _NUMBER,
    "finite_number": _kind("a finite number"),
    "bool_parsing": _BOOLEAN,
    "bool_type": _BOOLEAN,
    "literal_error": _literal,
    "enum": _literal,
    "model_type": _MAPPING,
    "model_attributes_type": _MAPPING,
    "dict_type": _MAPPING,
    "string_type": _kind("text"),
    "list_type": _kind("a list (e.g. [a, b] or one '- item' per line)"),
    "too_short": _too_short,
    "too_long": _too_long,
    "string_too_short": _too_short,
    "string_too_long": _too_long,
    "string_pattern_mismatch": _pattern,
    "path_type": _kind("a path"),
    "invalid_key": lambda error: f"keys must be text {_got(error)}",
    "value_error": _value_error,
    "union_type": _union,
    "url_parsing": _url,
    "url_type": lambda error: f"{_URL_HINT}, written as text",
    "url_scheme": lambda error: "must be an http:// or https:// URL",
    "url_too_long": lambda error: f"{_URL_HINT}, at most 2083 characters long",
}


def describe(error: ErrorDetails, root: type[Model]) -> str:
    """The message for ``error``, raised while validating ``root``."""
    if error["type"] == "extra_forbidden":
        return _unknown_key(error["loc"], root)
    build = MESSAGES.get(error["type"])
    return build(error) if build else error["msg"].splitlines()[0]


def _unknown_key(loc: KeyPath, root: type[Model]) -> str:
    model = _model_at(loc[:-1], root)
    if model is None:
        return "unknown key"
    known = [field.alias or name for name, field in model.model_fields.items()]  # for, not hold
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if close:
        return f"unknown key (did you mean '{close[0]}'?)"
    return f"unknown key (known keys: {', '.join(known)})"


def _model_at(path: KeyPath, root: type[Model]) -> type[Model] | None:
    """The model validating the mapping at ``path``, following nested model fields
    and the items of ``list[Model]`` fields (``sensing.http.checks[0]``)."""
    model: type[Model] = root
    items: type[Model] | None = None  # the item model when the last part was a list
    for part in path:
        if isinstance(part, int):
            if items is None:
                return None
            model, items = items, None
            continue
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if get_origin(annotation) is list:
            (inner,) = get_args(annotation)
            items = inner if isinstance(inner, type) and issubclass(inner, Model) else None
            continue
        if not (isinstance(annotation, type) and issubclass(annotation, Model)):
            return None
        model = annotation
    return model
