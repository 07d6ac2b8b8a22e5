"""sense: samplers that observe the host. They never write to the database.

The samplers, one module each, listed in one table (:data:`SAMPLERS`, in
:mod:`.planning`): the name, how to build it from ``sensing:`` config, and its
section. ``Planned``, ``plan`` and ``SAMPLERS`` are imported on first use, so a
module of this package (the CLI's screens read :mod:`.attention`) does not bring
every sampler and the config with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from calmopsd.first_use import first_use

if TYPE_CHECKING:
    from calmopsd.sense.planning import SAMPLERS, Planned, plan

__all__ = ["SAMPLERS", "Planned", "plan"]


__getattr__, __dir__ = first_use(__name__, dict.fromkeys(__all__, "calmopsd.sense.planning"))
