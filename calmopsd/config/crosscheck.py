"""Checks that compare parts of the config, run on the parts that validated.

pydantic runs a list's after-validator only once every item of it validated,
and a model's after-validator only once every field did: a duplicate token hash
would be reported only after a typo in the role of one of the two tokens was
fixed. So a check that compares parts runs here on what did validate, and its
problem joins the others: ``check-config`` says everything in one pass. Two shapes:

    across_items(check, model, reads)   on a list type: ``check`` gets ``(index, item)``
                                        for every item; a wrong item is rebuilt
    CrossCheck(reads, check, at)        in a section's ``cross_checks``: ``check`` gets
                                        the section, rebuilt if it is wrong; it runs
                                        only when none of the keys it reads is wrong

A wrong item or section is *rebuilt* from the keys the check reads, each
validated as usual, and nothing else: every other field, and a key read that is
wrong itself, is None, the unknown, which a check passes over (a check comparing
names skips a None name). So no check ever judges a default standing in for a
value the file got wrong. A check raises ``ValueError`` with its message, as a
pydantic validator does, and must declare every key it reads.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from functools import cache
from typing import Annotated, Any, NamedTuple, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

KeyPath = tuple[str | int, ...]
ItemsCheck = Callable[[list[tuple[int, Any]]], None]
Problem = tuple[KeyPath, str]

_REBUILDING = "calmopsd.crosscheck.rebuilding"  # a context key: checks wait for the whole
_WHOLE: frozenset[int] = frozenset({-1})  # a key wrong as a whole, not only in some items
_KNOWN = frozenset(get_args(ErrorType))
CROSS_CHECK = "cross_check"
"""The error type of a check's problem (its message is the error's ``msg``)."""


class CrossCheck(NamedTuple):
    """A check of one section that compares several of its keys."""

    reads: tuple[str, ...]
    """Every key (as written in the file) the check reads; a rebuilt section has no other."""
    check: Callable[[Any], None]
    """Called with the section; raises ``ValueError`` with the problem."""
    at: str | None = None
    """The key the problem is reported at; None: the section itself."""
    item_reads: tuple[str, ...] = ()
    """Of the items of a list it reads, the keys it reads (None in an item wrong there)."""


def across_items(
    check: ItemsCheck, model: type[BaseModel] | None = None, reads: tuple[str, ...] = ()
) -> WrapValidator:
    """A list's check over its items (``check`` gets ``(index, item)`` pairs), also run
    when some items are wrong: on the right ones and, given their ``model``, the wrong
    ones rebuilt from their keys in ``reads``, each with its index in the file."""

    def validate(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        context = info.context or {}
        if context.get(_REBUILDING):
            return handler(value)
        try:
            items = handler(value)
        except ValidationError as exc:
            problems = _items_problems(exc, value, handler, context, (check, model, reads))
            if problems:
                raise with_problems(exc, problems, value) from None
            raise
        check(list(enumerate(items)))
        return items

    return WrapValidator(validate)


def _items_problems(
    exc: ValidationError,
    value: Any,
    handler: ValidatorFunctionWrapHandler,
    context: dict[str, Any],
    how: tuple[ItemsCheck, type[BaseModel] | None, tuple[str, ...]],
) -> list[Problem]:
    check, model, reads = how
    errors = exc.errors(include_url=False)
    if not isinstance(value, list) or any(not _in_an_item(error) for error in errors):
        return []  # the list itself is wrong
    wrong = {int(e["loc"][0]) for e in errors}
    right = [index for index in range(len(value)) if index not in wrong]
    try:
        pairs = list(zip(right, handler([value[index] for index in right]), strict=True))
    except ValidationError:
        return []
    for index in sorted(wrong):
        item = _rebuilt_item(model, value[index], _under(errors, (index,)), context, reads)
        if item is not None:
            pairs.append((index, item))
    try:
        check(sorted(pairs, key=lambda pair: pair[0]))
    except ValueError as problem:
        return [((), str(problem))]
    return []


def _in_an_item(error: ErrorDetails) -> bool:
    return bool(error["loc"]) and type(error["loc"][0]) is int


def check_section(
    cls: type[BaseModel],
    checks: Sequence[CrossCheck],
    data: Any,
    handler: Callable[[Any], Any],
    info: ValidationInfo,
) -> Any:
    """Validate ``data`` as ``cls`` with ``handler``, then run ``checks`` on the section, or,
    when part of it is wrong, on the section rebuilt from what validated; every problem
    raised together."""
    context = info.context or {}
    if not checks or context.get(_REBUILDING):
        return handler(data)
    try:
        section = handler(data)
    except ValidationError as exc:
        problems = _section_problems(cls, checks, exc, data, context)
        if problems:
            raise with_problems(exc, problems, data) from None
        raise
    problems = _run(checks, section)
    if problems:
        raise with_problems(None, problems, data, title=cls.__name__)
    return section


def _section_problems(
    cls: type[BaseModel],
    checks: Sequence[CrossCheck],
    exc: ValidationError,
    data: Any,
    context: dict[str, Any],
) -> list[Problem]:
    errors = exc.errors(include_url=False)
    failed = _failed_keys(errors)
    if failed is None:
        return []
    runnable = [c for c in checks if not any(failed.get(key) is _WHOLE for key in c.reads)]
    item_reads = tuple(sorted({key for c in runnable for key in c.item_reads}))
    reads = tuple(sorted({key for c in runnable for key in c.reads}))
    section = rebuilt(cls, data, errors, context, reads, item_reads) if runnable else None
    return _run(runnable, section) if section is not None else []


def rebuilt(
    model: type[BaseModel],
    data: Any,
    errors: list[ErrorDetails],
    context: dict[str, Any],
    reads: tuple[str, ...],
    item_reads: tuple[str, ...] = (),
) -> BaseModel | None:
    """``data``'s keys in ``reads`` as ``model``, each as it validated (``errors`` are
    ``data``'s own, located relative to it); None if it is no mapping or cannot be
    rebuilt.

    Every other field, and a key in ``reads`` that is wrong, is None: unknown. A list
    in ``reads`` keeps its right items and its wrong ones rebuilt in turn from their
    keys in ``item_reads`` (left out when that fails). No check runs while it is
    rebuilt, and no validator but those of the keys read.
    """
    failed = _failed_keys(errors)
    if failed is None or not isinstance(data, dict):
        return None
    parts: dict[str, Any] = {}
    for key in reads:
        wrong, value = failed.get(key), data.get(key)
        if key not in data or wrong is _WHOLE:
            continue
        if wrong is None:
            parts[key] = value
        elif isinstance(value, list):
            item_model = _item_model(model, key)
            items = [
                item if index not in wrong else _rebuilt_item(
                    item_model, item, _under(errors, (key, index)), context, item_reads
                )
                for index, item in enumerate(value)
            ]  # fmt: skip
            parts[key] = [item for item in items if item is not None]
    unknown = frozenset(  # a key read but not written keeps its default
        name
        for name, field in model.model_fields.items()
        if (key := field.alias or name) not in parts and (key not in reads or key in data)
    )
    try:
        return _standing_in(model, unknown).model_validate(
            parts, context={**context, _REBUILDING: True}
        )
    except Exception:  # a validator of a key read may trip on a None it reads in turn
        return None  # then this part is left out of the comparison, never misjudged


def _rebuilt_item(
    model: type[BaseModel] | None,
    item: Any,
    errors: list[ErrorDetails],
    context: dict[str, Any],
    reads: tuple[str, ...],
) -> BaseModel | None:
    if model is None:
        return None
    return rebuilt(model, item, errors, context, reads)


def _failed_keys(errors: list[ErrorDetails]) -> dict[str, frozenset[int]] | None:
    """Per key with an error: the indices of its wrong items, or ``_WHOLE``.

    None when an error is about the mapping itself (it is not one). A check's problem
    makes nothing wrong: what it compared did validate.
    """
    items: dict[str, set[int]] = {}
    whole: set[str] = set()
    for error in errors:
        loc = error["loc"]
        if error["type"] == CROSS_CHECK:
            continue
        if not loc:
            return None
        key = str(loc[0])
        if len(loc) >= 2 and type(loc[1]) is int and error["type"] != "invalid_key":
            items.setdefault(key, set()).add(loc[1])
        else:
            whole.add(key)
    failed = {key: frozenset(indices) for key, indices in items.items()}
    return failed | dict.fromkeys(whole, _WHOLE)


def _under(errors: list[ErrorDetails], prefix: KeyPath) -> list[ErrorDetails]:
    """The errors inside ``prefix``, located relative to it."""
    size = len(prefix)
    inside: list[ErrorDetails] = []
    for error in errors:
        if tuple(error["loc"][:size]) == prefix:
            inside.append({**error, "loc": tuple(error["loc"][size:])})
    return inside


def _item_model(model: type[BaseModel], key: str) -> type[BaseModel] | None:
    """The model of the items of ``model``'s list field ``key``, if they are models."""
    field = next((f for name, f in model.model_fields.items() if (f.alias or name) == key), None)
    annotation: Any = field.annotation if field is not None else None
    while get_origin(annotation) in (Union, types.UnionType, Annotated):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) is not list:
        return None
    (item,) = get_args(annotation)
    while get_origin(item) is Annotated:
        item = get_args(item)[0]
    return item if isinstance(item, type) and issubclass(item, BaseModel) else None


@cache
def _standing_in(model: type[BaseModel], unknown: frozenset[str]) -> type[BaseModel]:
    """``model``, with its fields in ``unknown`` None unless given (they are not)."""
    if not unknown:
        return model
    fields: dict[str, Any] = {name: (Any, None) for name in sorted(unknown)}
    return create_model(model.__name__, __base__=model, __module__=model.__module__, **fields)


def _run(checks: Sequence[CrossCheck], section: Any) -> list[Problem]:
    problems: list[Problem] = []
    for check in checks:
        try:
            check.check(section)
        except ValueError as problem:
            problems.append(((check.at,) if check.at else (), str(problem)))
    return problems


def with_problems(
    exc: ValidationError | None,
    problems: Sequence[Problem],
    value: Any,
    *,
    title: str | None = None,
) -> ValidationError:
    """``exc``'s errors and ``problems`` (each ``(loc, message)``) as one ValidationError."""
    errors = [_again(error) for error in exc.errors(include_url=False)] if exc else []
    for loc, message in problems:
        # No context: the message is shown as it is, braces and all.
        errors.append(
            {"type": PydanticCustomError(CROSS_CHECK, message), "loc": loc, "input": value}
        )
    return ValidationError.from_exception_data(title or (exc.title if exc else "Config"), errors)


def _again(error: ErrorDetails) -> InitErrorDetails:
    """One error as pydantic raised it, to raise again; a type pydantic does not know
    (a validator's own) keeps its message, though not its context."""
    if error["type"] not in _KNOWN:
        custom = PydanticCustomError(error["type"], error["msg"])
        return {"type": custom, "loc": error["loc"], "input": error["input"]}
    again: InitErrorDetails = {"type": error["type"], "loc": error["loc"], "input": error["input"]}
    if "ctx" in error:
        again["ctx"] = error["ctx"]
    return again
