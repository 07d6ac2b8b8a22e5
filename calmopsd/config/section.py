"""The base every config section shares.

Every model forbids unknown keys, because a misspelt key that is silently
ignored leaves a default in force the operator believes they changed, and is
frozen so a loaded config cannot drift. Validators are built at import, not at first
use (``defer_build``): deferred, loading is about 0.2 s quicker but the daemon holds
1 MiB more (docs/decisions.md, "The command line starts in a fraction of a second"). A
section written with no value (``log:`` with all its keys commented out) means "all
defaults".

A check comparing several keys of a section is listed in its ``cross_checks``
(never a pydantic ``model_validator``, which would wait for every key to be
right): it runs on the keys that validated too (``crosscheck.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationInfo,
    model_validator,
)

from calmopsd.config.crosscheck import CrossCheck, check_section


def _null_is_empty(value: Any) -> Any:
    return {} if value is None else value


NullIsEmpty = BeforeValidator(_null_is_empty)


class Section(BaseModel):
    """Shared settings of every config model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cross_checks: ClassVar[tuple[CrossCheck, ...]] = ()
    """The section's checks that compare several of its keys."""

    @model_validator(mode="wrap")
    @classmethod
    def _check_across_keys(
        cls, data: Any, handler: ModelWrapValidatorHandler[Self], info: ValidationInfo
    ) -> Self:
        section: Self = check_section(cls, cls.cross_checks, data, handler, info)
        return section
