"""The closed set of safe actions: exactly these five can run, each by its name."""

from __future__ import annotations

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
