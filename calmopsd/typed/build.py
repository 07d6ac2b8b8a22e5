"""From a type annotation to the function that validates a value against it.

``kind_of(annotation)`` gives a :class:`Kind`: ``validate(value, mode)`` returns the
value made of the annotated type or raises ``Invalid`` with every error inside it,
located relative to the value; ``to_json`` writes a valid value as JSON types.

What is understood, and how it reads its input (the rules are pydantic's):

    int float bool str Path timedelta datetime Any None   scalars.py
    Literal[...], an Enum, HttpUrl, a Model               a choice, a member, a URL, a mapping
    list[T] tuple[T, ...] set[T] frozenset[T]             each item, located by its index
    dict[K, V]                                            each key (at ``(key, '[key]')``), value
    X | Y, Optional[X]                                    the first member the value is exactly,
                                                          else the first it can be made
    Annotated[T, ...]                                     BeforeValidator, AfterValidator,
                                                          Field(...) constraints and strict,
                                                          PlainSerializer, across_items

``Annotated``'s parts wrap what precedes them, as in pydantic: a later
``BeforeValidator`` runs first, a later ``AfterValidator`` last.
"""

from __future__ import annotations

import enum
import math
import re
import types
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from calmopsd.typed.errors import (
    CustomError,
    ErrorDetails,
    Invalid,
    ValidationError,
    custom,
    error,
    under,
)
from calmopsd.typed.fields import (
    CROSS_CHECK,
    AcrossItems,
    AfterValidator,
    BeforeValidator,
    FieldInfo,
    PlainSerializer,
    Problems,
    ValidationInfo,
)
from calmopsd.typed.scalars import SCALARS, Mode, enumeration, literal
from calmopsd.typed.urls import HttpUrl, to_url

DUMPING: ContextVar[tuple[tuple[str, Any], ...]] = ContextVar(
    "typed_dumping", default=(("mode", "json"),)
)
"""The options of the JSON dump under way, for the models nested in it."""
Validate = Callable[[Any, Mode], Any]
KeyAt = tuple[str | int, ...]
ToJson = Callable[[Any], Any]


class Kind:
    """How to validate values of one annotation, and how to write them as JSON."""

    __slots__ = ("to_json", "validate")

    def __init__(self, validate: Validate, to_json: ToJson | None = None) -> None:
        self.validate = validate
        self.to_json = to_json or json_value


class ItemsPartial:
    """What did validate of a list that did not: ``(index, item)`` pairs, a wrong model
    item with its wrong keys None, a wrong item of another type left out."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: list[tuple[int, Any]]) -> None:
        self.pairs = pairs

    def items(self) -> list[Any]:
        return [item for _, item in self.pairs]


def kind_of(annotation: Any) -> Kind:
    """The :class:`Kind` of ``annotation`` (a type, resolved: no strings)."""
    from calmopsd.typed.model import Model  # the model builds its fields' kinds with this

    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *metadata = get_args(annotation)
        return annotated(kind_of(inner), metadata)
    if origin in (Union, types.UnionType):
        return _union(get_args(annotation))
    if origin is Literal:
        return Kind(literal(get_args(annotation)))
    if origin in (list, tuple, set, frozenset, deque):
        return _sequence(origin, get_args(annotation))
    if origin is dict:
        key, value = get_args(annotation) or (Any, Any)
        return _mapping(kind_of(key), kind_of(value))
    if isinstance(annotation, type) and issubclass(annotation, Model):
        return Kind(
            annotation.validate_typed, lambda value: value.model_dump(**dict(DUMPING.get()))
        )
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return Kind(enumeration(annotation))
    if annotation is HttpUrl:
        return Kind(to_url, str)
    if annotation in (list, tuple, set, frozenset, dict):
        return kind_of(annotation[Any] if annotation is not dict else dict[Any, Any])
    try:
        return Kind(SCALARS[annotation])
    except (KeyError, TypeError):
        raise TypeError(f"calmopsd.typed cannot validate {annotation!r}") from None


def call(function: Callable[..., Any], arguments: tuple[Any, ...], value: Any) -> Any:
    """``function(*arguments)``, its ``ValueError`` an error about ``value``."""
    try:
        return function(*arguments)
    except Invalid:
        raise
    except ValidationError as exc:
        raise Invalid(exc.errors()) from None
    except CustomError as exc:
        raise Invalid([custom(exc.error_type, exc.text, value)]) from None
    except ValueError as exc:
        raise Invalid([error("value_error", value, {"error": exc})]) from None
    except AssertionError as exc:
        raise Invalid([error("assertion_error", value, {"error": exc})]) from None


def info_for(mode: Mode, field_name: str | None = None) -> ValidationInfo:
    data = mode.data if isinstance(mode.data, dict) else {}
    return ValidationInfo(data=data, context=mode.context, field_name=field_name)


def annotated(kind: Kind, metadata: list[Any]) -> Kind:
    """``kind`` wrapped by each of ``Annotated``'s parts in turn."""
    for part in metadata:
        if isinstance(part, BeforeValidator):
            kind = Kind(_before(part, kind.validate), kind.to_json)
        elif isinstance(part, AfterValidator):
            kind = Kind(_after(part, kind.validate), kind.to_json)
        elif isinstance(part, FieldInfo):
            kind = constrained(kind, part.constraints, part.strict)
        elif isinstance(part, PlainSerializer):
            if part.when_used in ("json", "always"):
                kind = Kind(kind.validate, part.function)
        elif isinstance(part, AcrossItems):
            kind = Kind(_across(part, kind.validate), kind.to_json)
    return kind


def _before(part: BeforeValidator, inner: Validate) -> Validate:
    function, with_info = part.function, part.with_info

    def validate(value: Any, mode: Mode) -> Any:
        arguments = (value, info_for(mode)) if with_info else (value,)
        return inner(call(function, arguments, value), mode)

    return validate


def _after(part: AfterValidator, inner: Validate) -> Validate:
    function, with_info = part.function, part.with_info

    def validate(value: Any, mode: Mode) -> Any:
        result = inner(value, mode)
        return call(function, (result, info_for(mode)) if with_info else (result,), result)

    return validate


def constrained(kind: Kind, constraints: dict[str, Any], strict: bool | None) -> Kind:
    """``kind`` with its values held to ``constraints``, read ``strict`` if set."""
    inner = kind.validate
    if strict is not None:
        base = inner

        def inner(value: Any, mode: Mode) -> Any:
            return base(value, mode.stricter(strict))

    if not constraints:
        return Kind(inner, kind.to_json)
    pattern = end_anchored(constraints["pattern"]) if "pattern" in constraints else None

    def validate(value: Any, mode: Mode) -> Any:
        result = inner(value, mode)
        if result is None:  # an optional field's None: no length, bound or pattern to hold
            return None
        problem = _breaks(result, constraints, pattern)
        if problem is not None:
            problem["input"] = value  # as written: '150%', not the 150.0 it became
            raise Invalid([problem])
        return result

    return Kind(validate, kind.to_json)


def end_anchored(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled with each ``$`` meaning the end of the text, as in pydantic's
    regular expressions; Python's ``$`` also matches before a final newline, which
    would let ``"api\n"`` through ``^[a-z]+$`` into an argv."""
    translated: list[str] = []
    escaped = in_class = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            translated.append(r"\Z")
            continue
        translated.append(char)
    return re.compile("".join(translated))


_BOUNDS: tuple[tuple[str, str, Callable[[Any, Any], bool]], ...] = (
    ("gt", "greater_than", lambda value, limit: value > limit),
    ("ge", "greater_than_equal", lambda value, limit: value >= limit),
    ("lt", "less_than", lambda value, limit: value < limit),
    ("le", "less_than_equal", lambda value, limit: value <= limit),
)


def _breaks(value: Any, constraints: dict[str, Any], pattern: re.Pattern[str] | None) -> Any:
    """The error of the first constraint ``value`` breaks, or None."""
    if isinstance(value, str):
        return _text_breaks(value, constraints, pattern)
    if isinstance(value, list | tuple | set | frozenset | dict):
        least, most = constraints.get("min_length"), constraints.get("max_length")
        field_type = {list: "List", tuple: "Tuple", dict: "Dictionary"}.get(type(value), "Set")
        ctx = {"field_type": field_type, "actual_length": len(value)}
        if least is not None and len(value) < least:
            return error("too_short", value, {**ctx, "min_length": least})
        if most is not None and len(value) > most:
            return error("too_long", value, {**ctx, "max_length": most})
        return None
    for key, error_type, holds in _BOUNDS:
        limit = constraints.get(key)
        if limit is None:
            continue
        if isinstance(value, float) and math.isnan(value):
            return error(error_type, value, {key: limit})
        if not holds(value, limit):
            return error(error_type, value, {key: limit})
    return None


def _text_breaks(value: str, constraints: dict[str, Any], pattern: re.Pattern[str] | None) -> Any:
    least, most = constraints.get("min_length"), constraints.get("max_length")
    if least is not None and len(value) < least:
        return error("string_too_short", value, {"min_length": least})
    if most is not None and len(value) > most:
        return error("string_too_long", value, {"max_length": most})
    if pattern is not None and not pattern.search(value):
        return error("string_pattern_mismatch", value, {"pattern": constraints["pattern"]})
    return None


def _tag(annotation: Any) -> str:
    """How a union's member is named in the locations of its errors (``bool``, ``str``)."""
    if isinstance(annotation, type):
        return annotation.__name__
    if get_origin(annotation) is Annotated:
        return _tag(get_args(annotation)[0])
    return str(annotation).replace("typing.", "")


def _union(members: tuple[Any, ...]) -> Kind:
    present = [member for member in members if member is not type(None)]
    if len(present) < len(members):
        rest = kind_of(present[0]) if len(present) == 1 else _union(tuple(present))
        inner = rest.validate

        def nullable(value: Any, mode: Mode) -> Any:
            return None if value is None else inner(value, mode)

        return Kind(nullable, lambda value: None if value is None else rest.to_json(value))
    kinds = [(kind_of(member), _tag(member), _exact_type(member)) for member in present]

    def validate(value: Any, mode: Mode) -> Any:
        for kind, _, exact in kinds:  # the member the value already is
            if exact is not None and type(value) is exact:
                try:
                    return kind.validate(value, mode.stricter(True))
                except Invalid:
                    pass
        for kind, _, _ in kinds:  # then the first that takes it as it is
            try:
                return kind.validate(value, mode.stricter(True))
            except Invalid:
                pass
        errors: list[ErrorDetails] = []
        members: list[ErrorDetails] = []
        for kind, tag, _ in kinds:  # then the first that can make it
            try:
                return kind.validate(value, mode)
            except Invalid as exc:
                errors += under(tag, exc.errors)
                members += exc.errors
        if all(not e["loc"] for e in members):  # the value is none of them: one error
            wanted = " or ".join(e["msg"].removeprefix("Input should be ") for e in members)
            problem = error("union_type", value, {"errors": members})
            problem["msg"] = f"Input should be {wanted}"
            raise Invalid([problem])
        raise Invalid(errors)

    return Kind(validate, json_value)


def _exact_type(annotation: Any) -> type | None:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    scalar = annotation if isinstance(annotation, type) else get_origin(annotation)
    return scalar if isinstance(scalar, type) else None


def _sequence(origin: Any, arguments: tuple[Any, ...]) -> Kind:
    if origin is tuple and arguments and (len(arguments) != 2 or arguments[1] is not Ellipsis):
        return _fixed_tuple([kind_of(argument) for argument in arguments])
    item = kind_of(arguments[0] if arguments else Any)
    validate_item = item.validate
    make = list if origin is deque else origin
    error_type = {list: "list_type", tuple: "tuple_type", set: "set_type"}.get(
        origin, "frozen_set_type"
    )

    def validate(value: Any, mode: Mode) -> Any:
        if isinstance(value, origin):
            values = value
        elif not mode.strict and isinstance(value, list | tuple | set | frozenset | deque):
            values = list(value)
        elif mode.json and isinstance(value, list):
            values = value
        else:
            raise Invalid([error(error_type, value)])
        made: list[Any] = []
        errors: list[ErrorDetails] = []
        pairs: list[tuple[int, Any]] = []
        for index, member in enumerate(values):
            try:
                result = validate_item(member, mode)
            except Invalid as exc:
                errors += under(index, exc.errors)
                if exc.partial is not None and not isinstance(exc.partial, ItemsPartial):
                    pairs.append((index, exc.partial))
                continue
            made.append(result)
            pairs.append((index, result))
        if errors:
            raise Invalid(errors, ItemsPartial(pairs))
        if make is list:
            return made
        try:
            return make(made)
        except TypeError:  # an item that cannot be in a set
            raise Invalid([error("set_item_not_hashable", value)]) from None

    def to_json(value: Any) -> Any:
        return [item.to_json(member) for member in value]

    return Kind(validate, to_json)


def _fixed_tuple(kinds: list[Kind]) -> Kind:
    def validate(value: Any, mode: Mode) -> Any:
        if not isinstance(value, tuple | list) or (mode.strict and not isinstance(value, tuple)):
            raise Invalid([error("tuple_type", value)])
        if len(value) != len(kinds):
            raise Invalid([error("value_error", value, {"error": f"needs {len(kinds)} items"})])
        made, errors = [], []
        for index, (kind, member) in enumerate(zip(kinds, value, strict=True)):
            try:
                made.append(kind.validate(member, mode))
            except Invalid as exc:
                errors += under(index, exc.errors)
        if errors:
            raise Invalid(errors)
        return tuple(made)

    return Kind(validate, lambda value: [k.to_json(v) for k, v in zip(kinds, value, strict=True)])


def _mapping(key_kind: Kind, value_kind: Kind) -> Kind:
    validate_key, validate_value = key_kind.validate, value_kind.validate

    def validate(value: Any, mode: Mode) -> Any:
        if not isinstance(value, dict):
            raise Invalid([error("dict_type", value)])
        made: dict[Any, Any] = {}
        errors: list[ErrorDetails] = []
        for key, member in value.items():
            made_key: Any = None
            try:
                made_key = validate_key(key, mode)
            except Invalid as exc:
                errors += [{**e, "loc": (key, "[key]", *e["loc"])} for e in exc.errors]
            try:
                made_value = validate_value(member, mode)
            except Invalid as exc:
                errors += under(key, exc.errors)
            else:
                made[made_key] = made_value
        if errors:
            raise Invalid(errors)
        return made

    def to_json(value: Any) -> Any:
        return {key_kind.to_json(k): value_kind.to_json(v) for k, v in value.items()}

    return Kind(validate, to_json)


def _across(part: AcrossItems, inner: Validate) -> Validate:
    """A list's check on its items: all of them, or, when some are wrong, the rest."""

    def validate(value: Any, mode: Mode) -> Any:
        try:
            items = inner(value, mode)
        except Invalid as exc:
            in_items = all(e["loc"] and type(e["loc"][0]) is int for e in exc.errors)
            if not in_items or not isinstance(exc.partial, ItemsPartial):
                raise
            problems = run_check(part.check, exc.partial.pairs, value)
            raise Invalid(exc.errors + problems, exc.partial) from None
        problems = run_check(part.check, list(enumerate(items)), value)
        if problems:
            raise Invalid(problems, ItemsPartial(list(enumerate(items))))
        return items

    return validate


def run_check(check: Callable[[Any], None], argument: Any, value: Any, at: KeyAt = ()) -> Any:
    """The problem ``check`` finds in ``argument`` as a list of one error, or none."""
    try:
        check(argument)
    except Problems as found:
        return [custom(CROSS_CHECK, text, value, (*at, *where)) for where, text in found.problems]
    except ValueError as problem:
        return [custom(CROSS_CHECK, str(problem), value, at)]
    return []


def json_value(value: Any) -> Any:
    """``value`` (of any kind) as JSON types, as pydantic writes them."""
    from calmopsd.typed.model import Model

    if isinstance(value, Model):
        return value.model_dump(**dict(DUMPING.get()))
    if isinstance(value, enum.Enum):
        return json_value(value.value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, list | tuple | set | frozenset | deque):
        return [json_value(member) for member in value]
    if isinstance(value, dict):
        return {json_value(k): json_value(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return _iso_duration(value)
    if isinstance(value, Path | HttpUrl):
        return str(value)
    return value


def _iso_duration(duration: timedelta) -> str:
    days, seconds = duration.days, duration.seconds + duration.microseconds / 1e6
    text = "P" + (f"{days}D" if days else "")
    return text + (f"T{seconds:g}S" if seconds or not days else "")
