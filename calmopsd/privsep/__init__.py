"""privsep: the root-owned helper that runs the safe actions for the unprivileged daemon.

In the style of OpenSSH's privilege separation: the daemon (user ``calmopsd``, no
capabilities, a read-only system) keeps every decision and its audit chain; the
helper (``calmopsd helper``, root) only carries out one request at a time from a
closed set, after checking it again against its own copy of the allowlists.

    wire.py      one JSON object each way per connection: bounded size, bounded time
    undo.py      the helper's check of an undo record against its own allowlists
    dispatch.py  the closed set of requests, re-validated and run with the act/ code
    listener.py  the unix socket: SO_PEERCRED, one thread per request, signals
    client.py    the daemon's side: each Action's prepare, run and revert as a request

``actions.backend: helper`` makes the executor use :mod:`.client`; ``direct`` (the
default, ``make run``) runs the same action code in the daemon itself.
"""
