"""How a model's fields are declared: ``Field(...)``, validators, and checks across keys.

The spelling is pydantic's (``Field(default=..., ge=0, description=...)``,
``Annotated[T, BeforeValidator(f)]``, ``@field_validator("key")``), so a
schema reads as it did; what each does is in ``build.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypedDict

_UNSET: Any = object()
"""No default: the field is required."""


class ConfigDict(TypedDict, total=False):
    """A model's settings: ``extra="forbid"`` refuses unknown keys, ``frozen`` forbids
    assignment, ``strict`` refuses coercions (``"5"`` is not a number)."""

    extra: Literal["forbid", "ignore"]
    frozen: bool
    strict: bool


@dataclass(eq=False)  # hashable, as Annotated needs its parts to be
class FieldInfo:
    """One field of a model: its type, default, key in the input and constraints."""

    default: Any = _UNSET
    default_factory: Callable[[], Any] | None = None
    alias: str | None = None
    description: str | None = None
    strict: bool | None = None
    constraints: dict[str, Any] = field(default_factory=dict)
    annotation: Any = None
    """The type, once the model is built, without the ``Annotated`` around it."""
    metadata: list[Any] = field(default_factory=list)
    """What ``Annotated`` held around the type, in order."""

    def is_required(self) -> bool:
        return self.default is _UNSET and self.default_factory is None

    def get_default(self, *, call_default_factory: bool = False) -> Any:
        if self.default_factory is not None:
            return self.default_factory() if call_default_factory else None
        return None if self.default is _UNSET else self.default


def Field(  # pydantic's spelling, one keyword per setting
    default: Any = _UNSET,
    *,
    default_factory: Callable[[], Any] | None = None,
    alias: str | None = None,
    description: str | None = None,
    strict: bool | None = None,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
) -> Any:
    """A field's default and constraints; also a constraint in ``Annotated[T, Field(...)]``."""
    given = {"gt": gt, "ge": ge, "lt": lt, "le": le, "min_length": min_length,
             "max_length": max_length, "pattern": pattern}  # fmt: skip
    return FieldInfo(
        default=default,
        default_factory=default_factory,
        alias=alias,
        description=description,
        strict=strict,
        constraints={key: value for key, value in given.items() if value is not None},
    )


def takes_info(function: Callable[..., Any], arguments: int) -> bool:
    """Whether ``function`` takes a ``ValidationInfo`` after its ``arguments`` others."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) > arguments


class BeforeValidator:
    """Runs on the input before the type is checked: turns what is written into the type."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.with_info = takes_info(function, 1)


class AfterValidator:
    """Runs on the value once the type is checked."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.with_info = takes_info(function, 1)


@dataclass(frozen=True)
class PlainSerializer:
    """How ``model_dump(mode="json")`` writes the value."""

    function: Callable[[Any], Any]
    return_type: Any = None
    when_used: Literal["always", "json"] = "always"


@dataclass
class ValidationInfo:
    """What a validator may read: the fields validated before its own, and the context."""

    data: dict[str, Any]
    context: Any
    field_name: str | None = None


class FieldValidator(NamedTuple):
    """A method run on the named fields' values (``mode``: before or after their type)."""

    fields: tuple[str, ...]
    mode: Literal["before", "after"]
    function: Callable[..., Any]
    with_info: bool


def field_validator(
    *fields: str, mode: Literal["before", "after"] = "after"
) -> Callable[[Any], Any]:
    """Mark a classmethod as a validator of ``fields``; it gets ``(value)`` or
    ``(value, info)`` and returns the value or raises ``ValueError``."""

    def mark(method: Any) -> Any:
        function = method.__func__ if isinstance(method, classmethod) else method
        return FieldValidator(fields, mode, function, takes_info(function, 2))

    return mark


class CrossCheck(NamedTuple):
    """A check of one model that compares several of its keys, in its ``cross_checks``.

    It runs on what validated (so ``check-config`` says everything in one pass): on
    the model, or, when some of its keys are wrong, on the model with those keys None,
    the unknown, which a check passes over. It is skipped when a key it ``reads`` is
    wrong as a whole (not only in some items of a list).
    """

    reads: tuple[str, ...]
    """Every key (as written in the file) the check reads."""
    check: Callable[[Any], None]
    """Called with the model; raises ``ValueError`` with the problem."""
    at: str | None = None
    """The key the problem is reported at; None: the model itself."""


class Problems(ValueError):  # a check's way to say more than one problem
    """Raised by a check for problems at keys below what it checked, each
    ``(key path, message)``: a repeated name is said at the entry that repeats it."""

    def __init__(self, problems: Sequence[tuple[tuple[str | int, ...], str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = list(problems)


CROSS_CHECK = "cross_check"
"""The error type of a check's problem (its message is the error's ``msg``)."""


@dataclass(frozen=True)
class AcrossItems:
    """A list's check over its items, in ``Annotated[list[T], across_items(check)]``."""

    check: Callable[[list[tuple[int, Any]]], None]


def across_items(check: Callable[[list[tuple[int, Any]]], None]) -> AcrossItems:
    """A list's check over ``(index, item)`` pairs, also run when some items are wrong:
    on the right ones, and the wrong models with their wrong keys None; never when
    the list itself is wrong. It raises ``ValueError`` with the problem."""
    return AcrossItems(check)
