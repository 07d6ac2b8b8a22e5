"""What a failed validation says: one error per wrong value, each with its place.

An error is a dict (``ErrorDetails``) of ``type``, ``loc`` (the key path from the
value validated), ``msg``, ``input`` and, for some types, ``ctx``. The types and
their wording are pydantic's, whose schema language this package replaced: what
calmopsd's messages, its API's 400s and its tests say was written against them.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Sequence
from typing import Any, NotRequired, TypedDict

KeyPath = tuple[str | int, ...]


class ErrorDetails(TypedDict):
    """One wrong value."""

    type: str
    loc: KeyPath
    msg: str
    input: Any
    ctx: NotRequired[dict[str, Any]]


# Each type's message; ``{name}`` is filled from its context.
_TEMPLATES: dict[str, str] = {
    "missing": "Field required",
    "extra_forbidden": "Extra inputs are not permitted",
    "invalid_key": "Keys should be strings",
    "model_type": "Input should be a valid dictionary or instance of {class_name}",
    "dict_type": "Input should be a valid dictionary",
    "list_type": "Input should be a valid list",
    "too_short": "{field_type} should have at least {min_length} item{s} after validation, "
    "not {actual_length}",
    "too_long": "{field_type} should have at most {max_length} item{s} after validation, "
    "not {actual_length}",
    "string_type": "Input should be a valid string",
    "string_too_short": "String should have at least {min_length} character{s}",
    "string_too_long": "String should have at most {max_length} character{s}",
    "string_pattern_mismatch": "String should match pattern '{pattern}'",
    "int_type": "Input should be a valid integer",
    "int_parsing": "Input should be a valid integer, unable to parse string as an integer",
    "int_parsing_size": "Unable to parse input string as an integer, exceeded maximum size",
    "int_from_float": "Input should be a valid integer, got a number with a fractional part",
    "float_type": "Input should be a valid number",
    "float_parsing": "Input should be a valid number, unable to parse string as a number",
    "finite_number": "Input should be a finite number",
    "bool_type": "Input should be a valid boolean",
    "bool_parsing": "Input should be a valid boolean, unable to interpret input",
    "none_required": "Input should be None",
    "literal_error": "Input should be {expected}",
    "enum": "Input should be {expected}",
    "greater_than": "Input should be greater than {gt}",
    "greater_than_equal": "Input should be greater than or equal to {ge}",
    "less_than": "Input should be less than {lt}",
    "less_than_equal": "Input should be less than or equal to {le}",
    "path_type": "Input is not a valid path",
    "timedelta_type": "Input should be a valid timedelta",
    "datetime_type": "Input should be a valid datetime",
    "datetime_parsing": "Input should be a valid datetime, {error}",
    "datetime_from_date_parsing": "Input should be a valid datetime or date, {error}",
    "url_type": "URL input should be a string or URL",
    "url_parsing": "Input should be a valid URL, {error}",
    "url_scheme": "URL scheme should be {expected_schemes}",
    "url_too_long": "URL should have at most {max_length} character{s}",
    "json_invalid": "Invalid JSON: {error}",
    "json_type": "JSON input should be string, bytes or bytearray",
    "value_error": "Value error, {error}",
    "frozen_instance": "Instance is frozen",
    "set_item_not_hashable": "Set items should be hashable",
    "union_type": "Input matches none of the types it may be",
}

# The count in a context that decides a message's plural.
_COUNTS = ("min_length", "max_length")


def message(error_type: str, ctx: dict[str, Any] | None) -> str:
    """The message of an error of ``error_type`` with ``ctx``."""
    template = _TEMPLATES.get(error_type, error_type)
    values = dict(ctx or {})
    count = next((values[key] for key in _COUNTS if key in values), 2)
    values.setdefault("s", "" if count == 1 else "s")
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template


def error(
    error_type: str, value: Any, ctx: dict[str, Any] | None = None, loc: KeyPath = ()
) -> ErrorDetails:
    """An error of a known type at ``loc``."""
    details: ErrorDetails = {
        "type": error_type,
        "loc": loc,
        "msg": message(error_type, ctx),
        "input": value,
    }
    if ctx is not None:
        details["ctx"] = ctx
    return details


def custom(error_type: str, text: str, value: Any, loc: KeyPath = ()) -> ErrorDetails:
    """An error of a type of calmopsd's own, whose message is ``text`` as it is."""
    return {"type": error_type, "loc": loc, "msg": text, "input": value}


class Invalid(Exception):  # not an error a caller sees: ValidationError is
    """Raised inside a validation with its errors located relative to the value at hand.

    ``partial`` is what did validate, for the checks that compare parts: a model
    with its wrong fields None, or a list's ``(index, item)`` pairs that could be
    made (``NOTHING``: nothing could).
    """

    def __init__(self, errors: list[ErrorDetails], partial: Any = None) -> None:
        super().__init__(errors)
        self.errors = errors
        self.partial = partial


class CustomError(ValueError):
    """Raised by a validator for an error of its own ``error_type``, shown as ``text``."""

    def __init__(self, error_type: str, text: str) -> None:
        super().__init__(text)
        self.error_type = error_type
        self.text = text


def under(prefix: str | int, errors: Iterable[ErrorDetails]) -> list[ErrorDetails]:
    """``errors`` located under ``prefix``."""
    return [{**e, "loc": (prefix, *e["loc"])} for e in errors]


# An input is shown bounded: a YAML alias nested ten deep is a billion items.
_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict = 2, 5, 5
_SHOWN.maxstring = _SHOWN.maxother = 60


class ValidationError(ValueError):
    """Everything wrong with one value, raised once for all of it.

    Its text is made only when asked for (``str()``), each input shown bounded: the
    config's loader never asks, and an input may be as large as a YAML document.
    """

    def __init__(self, title: str, errors: Sequence[ErrorDetails]) -> None:
        self.title = title
        self._errors = list(errors)
        super().__init__(title)

    def errors(
        self, *, include_url: bool = False, include_input: bool = True, include_context: bool = True
    ) -> list[ErrorDetails]:
        """Each error (a copy); ``include_url`` is accepted for pydantic's callers."""
        del include_url
        copies: list[ErrorDetails] = []
        for original in self._errors:
            details: dict[str, Any] = dict(original)
            if not include_input:
                details.pop("input", None)
            if not include_context:
                details.pop("ctx", None)
            copies.append(details)  # type: ignore[arg-type]
        return copies

    def error_count(self) -> int:
        return len(self._errors)

    def _text(self) -> str:
        count = len(self._errors)
        lines = [f"{count} validation error{'s' if count != 1 else ''} for {self.title}"]
        for details in self._errors:
            lines.append(".".join(str(part) for part in details["loc"]) or self.title)
            shown = _SHOWN.repr(details["input"])
            lines.append(
                f"  {details['msg']} [type={details['type']}, input_value={shown}, "
                f"input_type={type(details['input']).__name__}]"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._text()
