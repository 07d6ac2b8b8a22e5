"""The ``calmopsd`` console script: keep early signals for ``run``, then the command line.

Nothing heavy is imported before :func:`calmopsd.early_signals.listen` for ``run``
(see there why); every other command keeps Python's default signals (Ctrl-C stops
``calmopsd status`` at once).
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["run"]:
        from calmopsd import early_signals

        early_signals.listen()
    from calmopsd.cli import main as cli_main

    cli_main()
