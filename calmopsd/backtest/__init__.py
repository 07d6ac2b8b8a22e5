"""backtest: the stored history replayed through a rule set, and compared with what happened.

Read-only on the store; time comes from the snapshots, never the wall clock. The
stages, in order::

    sources.py   the store → one time-ordered stream of raw readings and roll-up buckets,
                 and the real incidents (with what the audit chain says helped them)
    buckets.py   how a 5-minute roll-up stands in for one rule's readings (the approximation)
    grouping.py  confirmed breaches → incidents, grouped by fingerprint as the agent does
    replay.py    the stream through the real Detector, Context and classification (pure)
    noise.py     which real incidents were noise, with the named reason
    report.py    the replay against the real incidents, per rule (pure)
    render.py    the report as text and as JSON
    suggest.py   a few variants of each noisy rule, each with its own backtest
    yamldiff.py  a variant as an edit of the config's YAML text, comments kept, and its diff
    run.py       the replay of one config over one window, from the store

Use::

    report = backtest(database, config, window)
"""
