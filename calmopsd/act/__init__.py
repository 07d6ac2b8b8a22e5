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

:data:`ACTIONS` is the closed set; nothing else can run.
"""

from calmopsd.act.action import Action
from calmopsd.act.clear_temp import CLEAR_TEMP
from calmopsd.act.nginx_reload import NGINX_RELOAD
from calmopsd.act.pause_jobs import PAUSE_JOBS
from calmopsd.act.pm2_restart import PM2_RESTART
from calmopsd.act.rate_limit import RATE_LIMIT_UPLOADS
from calmopsd.model import SafeAction

ACTIONS: dict[SafeAction, Action] = {
    SafeAction.PM2_RESTART: PM2_RESTART,
    SafeAction.NGINX_RELOAD: NGINX_RELOAD,
    SafeAction.PAUSE_JOBS: PAUSE_JOBS,
    SafeAction.RATE_LIMIT_UPLOADS: RATE_LIMIT_UPLOADS,
    SafeAction.CLEAR_TEMP: CLEAR_TEMP,
}

__all__ = ["ACTIONS"]
