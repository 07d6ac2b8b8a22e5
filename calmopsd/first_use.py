"""A package's names imported on first use (PEP 562), so importing one light module of the
package does not bring what its heavy names need (the CLI's start-up; docs/decisions.md,
"The command line starts in a fraction of a second").

    __getattr__, __dir__ = first_use(__name__, {"Config": "calmopsd.config.schema"})

The names stay typed for mypy through ``if TYPE_CHECKING:`` imports beside the table.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def first_use(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The package's ``__getattr__`` and ``__dir__``: each name in ``where`` comes from the
    module it maps to, imported when the name is first asked for."""

    def attribute(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def names() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return attribute, names
