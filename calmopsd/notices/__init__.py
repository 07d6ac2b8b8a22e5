"""Notifications: telling people of incidents, derived from the event log.

``intake`` follows the log (a consumer of :mod:`calmopsd.follow.bus`) and notes each
incident's noteworthy changes per target; ``grouping`` decides, as a pure function,
when a target hears of them (Alertmanager's group_wait, group_interval,
repeat_interval, and a cap per hour); ``text`` writes the notice; ``notifier`` queues
notices in the outbox (:mod:`calmopsd.record.outbox`) and delivers them through a
``Sender`` (``send``: apprise), retried with backoff across restarts.
"""
