"""Which config file calmopsd reads, and where the shipped default lives.

The precedence is the usual one for daemons: what the operator says on the
command line beats the environment, which beats the system-wide file; the
shipped default is the last resort so that a fresh checkout (``make run``)
starts without any set-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

SYSTEM_CONFIG = Path("/etc/calmopsd/calmops.yaml")
"""Where an installed calmopsd looks for its config."""

SHIPPED_CONFIG = Path(__file__).with_name("calmops.yaml")
"""The documented defaults, shipped inside the package (a symlink to config/calmops.yaml
in a checkout; a real file in a built wheel)."""

CONFIG_ENV = "CALMOPS_CONFIG"


def resolve_config_path(
    explicit: str | None,
    environ: Mapping[str, str],
    *,
    system_config: Path = SYSTEM_CONFIG,
) -> Path:
    """The config file to read: ``explicit`` (``--config``), else ``$CALMOPS_CONFIG``,
    else ``system_config`` if it exists, else :data:`SHIPPED_CONFIG`.

    Empty strings count as not given. The chosen path is not checked for
    readability: loading it reports that, with the path, as a config error.
    """
    if explicit:
        return Path(explicit)
    from_env = environ.get(CONFIG_ENV, "")
    if from_env:
        return Path(from_env)
    if system_config.exists():
        return system_config
    return SHIPPED_CONFIG
