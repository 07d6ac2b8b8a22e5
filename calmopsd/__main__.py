"""Allow ``python -m calmopsd``."""

from calmopsd.entry import main

main()
