"""sense: samplers that observe the host. They never write to the database.

The samplers, one module each, listed in one table (:data:`SAMPLERS`, in
:mod:`.planning`): the name, how to build it from ``sensing:`` config, and its
section. ``Planned``, ``plan`` and ``SAMPLERS`` are imported on first use, so a
module of this package (the CLI's screens read :mod:`.attention`) does not bring
every sampler and the config with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from calmopsd.sense.planning import SAMPLERS, Planned, plan

__all__ = ["SAMPLERS", "Planned", "plan"]


def __getattr__(name: str) -> object:
    if name in __all__:
        return getattr(importlib.import_module("calmopsd.sense.planning"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
