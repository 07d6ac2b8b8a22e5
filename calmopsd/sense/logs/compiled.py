"""The compiled log scanner (``_scan.c``, built by setup.py), or None where it was not built.

Optional by design: without a C compiler the package installs and counts logs by the
regexes and splits of ``blocks.py``, more slowly and to the same counts.
``CALMOPS_NO_SCANNER=1`` in the environment counts that way even where it is built: the
test suite's second pass over the log tests, and an operator's way round a scanner fault."""

from __future__ import annotations

import os
from typing import Any

SCANNER: Any = None
if os.environ.get("CALMOPS_NO_SCANNER") != "1":
    try:
        from calmopsd.sense.logs import _scan

        SCANNER = _scan
    except ImportError:  # built without a C compiler (setup.py's extension is optional)
        pass
