"""Customer protection: what customers are told about an incident, and that it says
nothing internal.

``status`` reads an incident's impact in Statuspage's terms (component status, phase,
audience); ``channel`` suggests where a message goes; ``drafts`` words it from a
template per type and phase; ``drafting`` (a consumer of the event log) stores a draft
per phase; ``leaks`` refuses any text that names something internal; ``courier``
delivers approved messages, never one without its approval event in the chain.
"""
