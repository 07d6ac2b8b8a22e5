"""The base every config section shares.

Every model forbids unknown keys, because a misspelt key that is silently
ignored leaves a default in force the operator believes they changed, and is
frozen so a loaded config cannot drift. A section written with no value
(``log:`` with all its keys commented out) means "all defaults".

A check comparing several keys of a section is listed in its ``cross_checks``
(``calmopsd.typed.CrossCheck``), and one comparing the items of a list is the
list's ``across_items``: each runs on the keys that validated too, so
``check-config`` says everything in one pass.
"""

from __future__ import annotations

from typing import Any

from calmopsd.typed import BeforeValidator, ConfigDict, Model


def _null_is_empty(value: Any) -> Any:
    return {} if value is None else value


NullIsEmpty = BeforeValidator(_null_is_empty)


class Section(Model):
    """Shared settings of every config model."""

    model_config = ConfigDict(extra="forbid", frozen=True)
