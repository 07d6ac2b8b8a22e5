"""The base every config section shares.

Every model forbids unknown keys, because a misspelt key that is silently
ignored leaves a default in force the operator believes they changed, and is
frozen so a loaded config cannot drift. A section written with no value
(``log:`` with all its keys commented out) means "all defaults".
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


def _null_is_empty(value: Any) -> Any:
    return {} if value is None else value


NullIsEmpty = BeforeValidator(_null_is_empty)


class Section(BaseModel):
    """Shared settings of every config model."""

    model_config = ConfigDict(extra="forbid", frozen=True)
