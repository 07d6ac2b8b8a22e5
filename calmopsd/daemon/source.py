"""Where the daemon's config comes from, and what overrides it at every (re)load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from calmopsd.config import Config, load_config_and_digest


@dataclass(frozen=True)
class Source:
    """The config file, and the state directory given on the command line (if any)."""

    path: Path
    state_dir_override: Path | None = None

    def load(self) -> tuple[Config, str]:
        """The validated config and the SHA-256 of the bytes validated."""
        config, digest = load_config_and_digest(self.path)
        if self.state_dir_override is not None:
            config = config.model_copy(update={"state_dir": self.state_dir_override.resolve()})
        return config, digest
