"""The web dashboard: server-rendered pages on the API's listener, with the API's scopes.

``register`` adds one group of routes (:class:`~calmopsd.serve.web.Group`) to the
API's application. Its pages sign in with a session cookie (:mod:`.gate`,
:mod:`.sessions`) instead of a bearer header, read through the same
:class:`~calmopsd.serve.operations.Operations` and scopes as the
API (:mod:`.access`), and decide through it too (:mod:`.detail`). Pages work
without JavaScript; ``static/dashboard.js`` (vendored, no build step) only adds the
confirmation dialog, the periodic refresh and local times. Errors are HTML pages
here (a 404 for what the viewer may not see, a 400 that says what was wrong, never
a traceback), and the API keeps its JSON ones. The URL table (:mod:`.table`) is routed
at start; the views (:mod:`.routes` and what it imports) are made at the first request.
"""

from __future__ import annotations

from calmopsd.serve.dashboard.table import NAME, Settings, register

__all__ = ["NAME", "Settings", "register"]
