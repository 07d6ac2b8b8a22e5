"""Log-derived rates: a rotation-safe tailer and fast parsers for nginx and JSON-lines logs.

    tailer.py     follows files across rename, copytruncate, deletion and restarts
    blocks.py     counts blocks of lines by minute without one Python object per line
    nginx.py      any nginx log_format (combined included), compiled once
    jsonlines.py  JSON-lines application logs and nginx escape=json access logs
    windows.py    per-minute counts, bounded memory, 1- and 5-minute windows
    watcher.py    all of it, one ``logs`` reading per round

The daemon drives it from one scheduled job; state goes to the store in one
transaction, so a restart resumes exactly where the counts stop::

    from calmopsd.record.logstate import load_log_state, save_log_state
    from calmopsd.sense.logs import LogWatcher

    watcher = LogWatcher(config.logs, clock, state=load_log_state(database))
    # every config.logs.interval:
    reading = watcher.poll()                     # a Reading, sampler "logs"
    save_log_state(database, watcher.state())    # positions + counts, one transaction
    # at shutdown:
    watcher.close()

``reading.values``::

    {"window_end": "2025-03-01T12:05:00+00:00",
     "platform": {"1m": W, "5m": W},
     "organizations": {"acme": {"1m": W, "5m": W}, ...},
     "sources": {"web": {"1m": W, "5m": W, "totals": {...}, "kind": "nginx",
                         "files": [...], "truncations": 0}},
     "organizations_over_limit": 0}

where each window ``W`` holds ``requests_per_min``, ``server_errors_per_min``,
``error_lines_per_min``, the raw ``requests``, ``server_errors``, ``error_lines``,
``uploads``, ``upload_failures``, ``upload_failure_rate`` (None without uploads:
read it together with ``uploads``, the volume), ``server_error_rate`` (the share of
``requests`` answered 5xx; None without requests) and ``parse_errors``.
"""

from calmopsd.sense.logs.watcher import SAMPLER, LogWatcher

__all__ = ["SAMPLER", "LogWatcher"]
