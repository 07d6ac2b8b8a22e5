"""What a fleet sees of calmopsd beyond its own host: incidents forwarded to Alertmanager.

``alerts.py`` turns an incident into an alert (pure), ``alertmanager.py`` knows where
and how one post goes, and ``forwarder.py`` runs the rounds: every unresolved incident
posted as firing each interval, each resolved one posted with its end. It reads the
store (``record``) and nothing of the pipeline's stages; the daemon starts it
(``daemon/forwarding.py``).
"""
