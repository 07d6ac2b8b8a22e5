"""Learning from the host's own history: post-incident reviews, drafted from the event
log and the snapshots when an incident resolves, and what they teach the next incident
of the same problem.

Consumers of the event log (started by the daemon), and pure functions over what they
read: ``timings`` (time to detect, stabilize, resolve), ``timeline`` (the moments and
action runs of one incident), ``clues`` + ``cause`` (the likely root cause with named
reasons), ``advice`` (what helped, prevention, alert tuning), ``review`` (the words),
``drafting`` (the consumer), ``reorder`` + ``offering`` (a playbook reorder the history
supports, offered to a person). Imports only ``record``, ``model``, ``config``,
``clock`` and ``shapes``.
"""
