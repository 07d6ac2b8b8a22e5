"""nginx_reload: ``nginx -t``, then — only if it passed — a reload verified by its effect.

It changes no configuration of its own: it applies what is on disk, so it
takes no parameters at all. Not reversible (there is no "unreload"); the
budget in ``actions.nginx_reload`` bounds how often it runs.
"""

from __future__ import annotations

from typing import Any

from calmopsd.act import nginx
from calmopsd.act.action import Prepared, Refused, Result
from calmopsd.act.sandbox import Sandbox
from calmopsd.config.actions import ActionsConfig
from calmopsd.config.units import shown
from calmopsd.model import RefusalReason, SafeAction


class NginxReload:
    """The :class:`~calmopsd.act.action.Action` for :attr:`SafeAction.NGINX_RELOAD`."""

    name = SafeAction.NGINX_RELOAD
    reversible = False

    def validate(self, params: dict[str, Any], config: ActionsConfig) -> dict[str, Any]:
        if not isinstance(params, dict):
            raise Refused(RefusalReason.BAD_PARAMETER, "parameters must be a mapping")
        if params:
            named = ", ".join(shown(k) if isinstance(k, str) else "?" for k in list(params)[:5])
            raise Refused(
                RefusalReason.BAD_PARAMETER, f"nginx_reload takes no parameters (got {named})"
            )
        return {}

    def target(self, params: dict[str, Any]) -> str:
        return "nginx"

    def prepare(self, params: dict[str, Any], sandbox: Sandbox) -> Prepared | None:
        return None  # not reversible

    def run(self, params: dict[str, Any], sandbox: Sandbox) -> Result:
        tested = nginx.test(sandbox)
        if not tested.ok:
            return Result(False, f"nginx -t failed: {tested.detail}; nothing was reloaded")
        return nginx.reload_verified(sandbox)

    def revert(self, undo: dict[str, Any], sandbox: Sandbox) -> Result:
        return Result(False, "nginx_reload is not reversible")


NGINX_RELOAD = NginxReload()
