"""respond: the incident agent. Breaches → incidents, stabilized first, explained always.

    lifecycle.py     which status may follow which (a table and one guard)
    problem.py       a breach's problem: organization and fingerprint
    impact.py        customer impact from the latest checks and log rates
    playbook.py      the next fitting safe action for a type, or the named reason for none
    opening.py       a confirmed breach opens, joins or reopens an incident; resume after a restart
    stabilize.py     asks the executor, reads the verified outcome, moves the status
    recommend.py     what to ask a human, and whether an approval is stale
    approvals.py     approve (re-checked, executes at most once) and reject
    summary.py       the calm decision summary, at most 8 lines
    tracked.py       what the agent keeps about each incident it works on
    housekeeping.py  on the clock alone: stale incidents, expired recommendations
    agent.py         Agent: observe(reading) and tick(now) tie them together

The agent requests actions through the :class:`~calmopsd.model.Executor`
protocol; only ``calmopsd.act`` executes them.
"""
