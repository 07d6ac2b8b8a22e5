"""``Model``: a class whose annotated fields are validated from a mapping, all at once.

A model is declared as a pydantic model is (fields annotated, ``Field(...)`` for a
default and constraints, ``model_config`` for unknown keys, freezing and strictness)
and used the same way (``model_validate``, ``model_copy``, ``model_dump``,
``model_fields``, ``model_fields_set``), so calmopsd's config and request bodies
read as they did. Every wrong value is found in one pass: a wrong field does not
stop the others, and a field validator sees in ``info.data`` the fields before it
that validated.

Fields are resolved at a model's first use, not at import, so a command that
never validates a model never pays for it.
"""

from __future__ import annotations

import copy
import inspect
import sys
import threading
import typing
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Self, get_args, get_origin

from calmopsd.typed.build import (
    DUMPING,
    ItemsPartial,
    Kind,
    call,
    constrained,
    kind_of,
    run_check,
)
from calmopsd.typed.errors import ErrorDetails, Invalid, ValidationError, error, under
from calmopsd.typed.fields import (
    _UNSET,
    CROSS_CHECK,
    ConfigDict,
    CrossCheck,
    FieldInfo,
    FieldValidator,
    ValidationInfo,
)
from calmopsd.typed.jsontext import parse_json
from calmopsd.typed.scalars import Mode

_BUILDING = threading.RLock()


class _Built:
    """A model's fields, resolved: each one's key in the input, kind and validators."""

    __slots__ = ("fields", "keys", "kinds", "validate")

    def __init__(self, model: type[Model]) -> None:
        hints = typing.get_type_hints(model, localns=model.__typed_locals__, include_extras=True)
        self.fields: dict[str, FieldInfo] = {}
        self.kinds: dict[str, Kind] = {}
        self.validate: dict[str, Any] = {}
        for name, declared in model.__typed_declared__.items():
            info = copy.copy(declared)
            annotation = hints[name]
            annotated = get_origin(annotation) is Annotated
            info.metadata = list(get_args(annotation)[1:]) if annotated else []
            info.annotation = _outer(annotation)
            kind = constrained(kind_of(annotation), info.constraints, info.strict)
            self.fields[name] = info
            self.kinds[name] = kind
            self.validate[name] = _with_validators(model, name, kind)
        self.keys = {info.alias or name: name for name, info in self.fields.items()}


def _outer(annotation: Any) -> Any:
    """The annotation without the ``Annotated`` around it (as ``FieldInfo.annotation``)."""
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def _with_validators(model: type[Model], name: str, kind: Kind) -> Any:
    mine = [v for v in model.__typed_validators__ if name in v.fields]
    before = [v for v in reversed(mine) if v.mode == "before"]
    after = [v for v in mine if v.mode == "after"]
    validate_kind = kind.validate
    if not before and not after:
        return validate_kind

    def validate(value: Any, mode: Mode) -> Any:
        info = ValidationInfo(data=mode.data, context=mode.context, field_name=name)
        for validator in before:
            arguments = (model, value, info) if validator.with_info else (model, value)
            value = call(validator.function, arguments, value)
        value = validate_kind(value, mode)
        for validator in after:
            arguments = (model, value, info) if validator.with_info else (model, value)
            value = call(validator.function, arguments, value)
        return value

    return validate


class _ModelFields:
    """``model_fields`` on the class and its instances: the fields, resolved."""

    def __get__(self, instance: object, owner: type[Model]) -> dict[str, FieldInfo]:
        return owner.built().fields


class Model:
    """A model validated from a mapping; see the module's docstring."""

    __slots__ = ("__dict__", "model_fields_set")

    model_config: ClassVar[ConfigDict] = ConfigDict()
    cross_checks: ClassVar[tuple[CrossCheck, ...]] = ()
    """The model's checks that compare several of its keys."""
    model_fields: ClassVar[dict[str, FieldInfo]] = _ModelFields()  # type: ignore[assignment]

    __typed_declared__: ClassVar[dict[str, FieldInfo]] = {}
    __typed_validators__: ClassVar[tuple[FieldValidator, ...]] = ()
    __typed_locals__: ClassVar[dict[str, Any] | None] = None
    __typed_built__: ClassVar[_Built | None] = None
    model_fields_set: set[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared: dict[str, FieldInfo] = {}
        validators: dict[str, FieldValidator] = {}
        config: dict[str, Any] = {}
        for base in reversed(cls.__mro__[1:]):
            if issubclass(base, Model):
                declared.update(base.__dict__.get("__typed_declared__", {}))
                config.update(base.__dict__.get("model_config", {}))
                validators.update(base.__dict__.get("__typed_own_validators__", {}))
        own_validators = {
            name: value for name, value in cls.__dict__.items() if isinstance(value, FieldValidator)
        }
        for name in own_validators:
            delattr(cls, name)
        cls.__typed_own_validators__ = own_validators  # type: ignore[attr-defined]
        validators.update(own_validators)
        for name, annotation in inspect.get_annotations(cls).items():
            if name.startswith("_") or _is_class_var(annotation):
                continue
            given = cls.__dict__.get(name, _UNSET)
            if isinstance(given, FieldInfo):
                declared[name] = given
            else:
                declared[name] = FieldInfo(default=given)
            if given is not _UNSET:
                delattr(cls, name)
        config.update(cls.__dict__.get("model_config", {}))
        cls.model_config = ConfigDict(**config)  # type: ignore[typeddict-item]
        cls.__typed_declared__ = declared
        cls.__typed_validators__ = tuple(validators.values())
        cls.__typed_built__ = None
        caller = sys._getframe(1)
        if caller.f_locals is not caller.f_globals:  # a model declared inside a function
            cls.__typed_locals__ = dict(caller.f_locals)
        cls.__hash__ = _hash if config.get("frozen") else None  # type: ignore[assignment]

    @classmethod
    def built(cls) -> _Built:
        """The model's fields resolved, at the first call."""
        built = cls.__dict__.get("__typed_built__")
        if built is None:
            with _BUILDING:
                built = cls.__dict__.get("__typed_built__")
                if built is None:
                    built = _Built(cls)
                    cls.__typed_built__ = built
        return built

    def __init__(self, **data: Any) -> None:
        try:
            made = type(self).validate_typed(data, Mode())
        except Invalid as exc:
            raise ValidationError(type(self).__name__, exc.errors) from None
        object.__setattr__(self, "__dict__", made.__dict__)
        object.__setattr__(self, "model_fields_set", made.model_fields_set)

    @classmethod
    def model_validate(cls, obj: Any, *, strict: bool | None = None, context: Any = None) -> Self:
        """``obj`` (a mapping, or an instance) as this model; ``ValidationError`` lists
        every problem."""
        try:
            return cls.validate_typed(obj, Mode(strict=bool(strict), context=context))
        except Invalid as exc:
            raise ValidationError(cls.__name__, exc.errors) from None

    @classmethod
    def model_validate_json(
        cls, raw: str | bytes, *, strict: bool | None = None, context: Any = None
    ) -> Self:
        """A JSON document as this model; invalid JSON is a ``json_invalid`` error."""
        data = parse_json(raw, cls.__name__)
        try:
            return cls.validate_typed(data, Mode(strict=bool(strict), json=True, context=context))
        except Invalid as exc:
            raise ValidationError(cls.__name__, exc.errors) from None

    @classmethod
    def validate_typed(cls, value: Any, mode: Mode) -> Self:
        """``value`` as this model, or ``Invalid`` with its errors and what did validate."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            problem = error("model_type", value, {"class_name": cls.__name__})
            if mode.json:
                problem["msg"] = "Input should be an object"
            raise Invalid([problem])
        built = cls.built()
        values: dict[str, Any] = {}
        standing: dict[str, Any] = {}  # what a wrong field stands for, in the checks
        fields_set: set[str] = set()
        errors: list[ErrorDetails] = []
        inner = mode.within(values, bool(cls.model_config.get("strict")))
        for name, info in built.fields.items():
            key = info.alias or name
            if key in value:
                try:
                    values[name] = built.validate[name](value[key], inner)
                    fields_set.add(name)
                except Invalid as exc:
                    errors += under(key, exc.errors)
                    standing[name] = _standing(exc)
            elif info.is_required():
                errors.append(error("missing", value, loc=(key,)))
            else:
                values[name] = _default(info)
        errors += _unknown_keys(cls, value, built.keys)
        made = cls.__new__(cls)
        if errors:
            object.__setattr__(
                made, "__dict__", {n: values.get(n, standing.get(n)) for n in built.fields}
            )
        else:
            object.__setattr__(made, "__dict__", values)
        object.__setattr__(made, "model_fields_set", fields_set)
        errors += _cross_checks(cls, made, errors, value)
        if errors:
            raise Invalid(errors, made)
        return made

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with the fields in ``update`` replaced, not validated (as pydantic's)."""
        made = type(self).__new__(type(self))
        state = copy.deepcopy(self.__dict__) if deep else dict(self.__dict__)
        state.update(update or {})
        object.__setattr__(made, "__dict__", state)
        object.__setattr__(made, "model_fields_set", self.model_fields_set | set(update or ()))
        return made

    def model_dump(
        self,
        *,
        mode: str = "python",
        by_alias: bool = False,
        exclude: set[str] | None = None,
        exclude_none: bool = False,
        exclude_defaults: bool = False,
    ) -> dict[str, Any]:
        """The fields as a dict, nested models as dicts; ``mode="json"``: JSON types."""
        built = type(self).built()
        options = {"by_alias": by_alias, "exclude_none": exclude_none}
        dumping = DUMPING.set((("mode", "json"), *options.items())) if mode == "json" else None
        try:
            return self._dump(built, mode, exclude, exclude_defaults, **options)
        finally:
            if dumping is not None:
                DUMPING.reset(dumping)

    def _dump(
        self,
        built: _Built,
        mode: str,
        exclude: set[str] | None,
        exclude_defaults: bool,
        *,
        by_alias: bool,
        exclude_none: bool,
    ) -> dict[str, Any]:
        dumped: dict[str, Any] = {}
        for name, info in built.fields.items():
            if exclude and name in exclude:
                continue
            value = self.__dict__.get(name)
            if exclude_none and value is None:
                continue
            default = info.get_default(call_default_factory=True) if exclude_defaults else None
            if exclude_defaults and not info.is_required() and value == default:
                continue
            key = (info.alias or name) if by_alias else name
            if mode == "json":
                dumped[key] = None if value is None else built.kinds[name].to_json(value)
            else:
                dumped[key] = _python(value, by_alias, exclude_none)
        return dumped

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        yield from self.__dict__.items()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Model):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.__dict__.items())
        return f"{type(self).__name__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:
        if self.model_config.get("frozen"):
            error_ = error("frozen_instance", value, loc=(name,))
            raise ValidationError(type(self).__name__, [error_])
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if self.model_config.get("frozen"):
            raise ValidationError(
                type(self).__name__, [error("frozen_instance", None, loc=(name,))]
            )
        object.__delattr__(self, name)

    def __getstate__(self) -> dict[str, Any]:
        return {"fields": self.__dict__, "set": self.model_fields_set}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "__dict__", state["fields"])
        object.__setattr__(self, "model_fields_set", state["set"])


def _hash(self: Model) -> int:
    return hash((type(self), *self.__dict__.values()))


def _is_class_var(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return get_origin(annotation) is ClassVar


def _default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()
    default = info.default
    return copy.copy(default) if isinstance(default, list | dict | set) else default


def _standing(exc: Invalid) -> Any:
    """What a wrong field stands for in the model's checks: its value when only checks
    found problems in it, the right items of a list wrong only in some, else None."""
    found = [e for e in exc.errors if e["type"] != CROSS_CHECK]
    partial = exc.partial
    if not found:
        return partial.items() if isinstance(partial, ItemsPartial) else partial
    in_items = all(
        e["loc"] and type(e["loc"][0]) is int and e["type"] != "invalid_key" for e in found
    )
    return partial.items() if in_items and isinstance(partial, ItemsPartial) else None


def _unknown_keys(
    cls: type[Model], value: dict[Any, Any], keys: dict[str, str]
) -> list[ErrorDetails]:
    forbid = cls.model_config.get("extra") == "forbid"
    errors: list[ErrorDetails] = []
    for key, member in value.items():
        if not isinstance(key, str):
            errors.append(error("invalid_key", key, loc=(key,)))
        elif forbid and key not in keys:
            errors.append(error("extra_forbidden", member, loc=(key,)))
    return errors


def _wrong_keys(errors: list[ErrorDetails]) -> set[str]:
    """The keys wrong as a whole (not only in some items of a list); a check's problem
    makes nothing wrong, since what it compared did validate."""
    wrong: set[str] = set()
    for details in errors:
        loc = details["loc"]
        if details["type"] == CROSS_CHECK or not loc:
            continue
        if len(loc) >= 2 and type(loc[1]) is int and details["type"] != "invalid_key":
            continue
        wrong.add(str(loc[0]))
    return wrong


def _cross_checks(
    cls: type[Model], made: Model, errors: list[ErrorDetails], value: Any
) -> list[ErrorDetails]:
    """The problems the model's checks find in ``made``, each run unless a key it reads
    is wrong."""
    if not cls.cross_checks:
        return []
    wrong = _wrong_keys(errors)
    problems: list[ErrorDetails] = []
    for check in cls.cross_checks:
        if wrong & set(check.reads):
            continue
        problems += run_check(check.check, made, value, (check.at,) if check.at else ())
    return problems


def _python(value: Any, by_alias: bool, exclude_none: bool) -> Any:
    if isinstance(value, Model):
        return value.model_dump(by_alias=by_alias, exclude_none=exclude_none)
    if isinstance(value, list):
        return [_python(member, by_alias, exclude_none) for member in value]
    if isinstance(value, tuple):
        return tuple(_python(member, by_alias, exclude_none) for member in value)
    if isinstance(value, dict):
        return {key: _python(member, by_alias, exclude_none) for key, member in value.items()}
    return value
