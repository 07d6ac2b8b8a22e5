"""Allow ``python -m calmopsd``."""

from calmopsd.cli import main

main()
