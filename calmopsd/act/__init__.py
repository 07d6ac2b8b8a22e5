"""act: the only code that changes the host — exactly five safe actions, one path.

    action.py        the Action protocol every action implements; Result; Refused
    sandbox.py       where commands run: fixed argv, minimal env, own dir, limits, dry run
    checks.py        kill switch, budget, cooldown, ineffective: the checks before a run
    executor.py      SafeExecutor: the request path, shadow mode, intent/result events
    in_force.py      reversible actions in force: kept before they run, reverted on time
    control.py       the kill switch: the pause flag and its audit events
    pm2_restart.py   restart (fork) or reload (cluster) one allowed PM2 app
    nginx.py         nginx -t and a reload verified by new workers and no fresh [emerg]
    nginx_reload.py  test and reload nginx
    pause_jobs.py    stop PM2 worker apps and/or create a flag file, for a while
    rate_limit.py    limit uploads with nginx's limit_req for a while, host-wide or for one org
    organization_limit.py  the per-organization form: its line in calmopsd's nginx map file
    owned_file.py    the nginx files calmopsd owns: safe reads, atomic writes, nginx -t and reload
    clear_temp.py    delete old regular files under an allowed temp upload directory
    temp_walk.py     clear_temp's walk: no symlinks, no other filesystems, bounded
    closed_set.py    ACTIONS: the five, by name

:data:`ACTIONS` (``closed_set.py``) is the closed set; nothing else can run. It is imported
on first use: the CLI's kill switch (``control.py``) and the record of actions need the
package, not the five actions and their config's models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from calmopsd.first_use import first_use

if TYPE_CHECKING:
    from calmopsd.act.closed_set import ACTIONS

__all__ = ["ACTIONS"]


__getattr__, __dir__ = first_use(__name__, {"ACTIONS": "calmopsd.act.closed_set"})
