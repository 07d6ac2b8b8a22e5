"""typed: untyped data (a YAML document, a JSON body, a query string) made typed values.

A schema interpreter of calmopsd's own, in place of pydantic, which held 12 MiB of
the daemon's memory (docs/decisions.md, "Config and request bodies without
pydantic"). It is spelt as pydantic is, for what calmopsd uses of it:

    model.py     Model: fields from annotations, every problem found in one pass
    fields.py    Field, validators, CrossCheck and across_items (checks on what validated)
    build.py     an annotation made a validating function
    scalars.py   numbers, booleans, text, paths, times, choices (lax or strict)
    urls.py      HttpUrl
    errors.py    ValidationError and pydantic's error types and wording
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from calmopsd.typed.build import kind_of
from calmopsd.typed.errors import CustomError, ErrorDetails, Invalid, ValidationError
from calmopsd.typed.fields import (
    CROSS_CHECK,
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    CrossCheck,
    Field,
    FieldInfo,
    PlainSerializer,
    Problems,
    ValidationInfo,
    across_items,
    field_validator,
)
from calmopsd.typed.jsontext import parse_json
from calmopsd.typed.model import Model
from calmopsd.typed.scalars import Mode
from calmopsd.typed.urls import HttpUrl

__all__ = [
    "CROSS_CHECK",
    "AfterValidator",
    "BeforeValidator",
    "ConfigDict",
    "CrossCheck",
    "CustomError",
    "ErrorDetails",
    "Field",
    "FieldInfo",
    "HttpUrl",
    "Model",
    "PlainSerializer",
    "Problems",
    "TypeAdapter",
    "ValidationError",
    "ValidationInfo",
    "across_items",
    "field_validator",
]

T = TypeVar("T")


class TypeAdapter(Generic[T]):
    """Validation of one annotation outside a model (``TypeAdapter(Name)``)."""

    def __init__(self, annotation: Any) -> None:
        self._annotation = annotation
        self._kind = kind_of(annotation)
        self._title = getattr(annotation, "__name__", None) or str(annotation)

    def validate_python(self, value: Any, *, strict: bool | None = None, context: Any = None) -> T:
        try:
            result: T = self._kind.validate(value, Mode(strict=bool(strict), context=context))
        except Invalid as exc:
            raise ValidationError(self._title, exc.errors) from None
        return result

    def validate_json(self, raw: str | bytes, *, strict: bool | None = None) -> T:
        data = parse_json(raw, self._title)
        try:
            result: T = self._kind.validate(data, Mode(strict=bool(strict), json=True))
        except Invalid as exc:
            raise ValidationError(self._title, exc.errors) from None
        return result
