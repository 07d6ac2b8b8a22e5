"""act: the only code that may change the host — exactly the five safe actions.

Until the sandboxed executor lands, :class:`ShadowExecutor` stands in: it runs
nothing and answers every request with a ``shadow`` outcome, so the agent
records what it would have done and asks a human instead.
"""

from calmopsd.act.shadow import ShadowExecutor

__all__ = ["ShadowExecutor"]
