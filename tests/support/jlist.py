"""``pm2 jlist`` entries as PM2 7.0.4 prints them, for tests that need PM2's list without a
daemon (the parser's, the shapes')."""

from __future__ import annotations

from typing import Any

NOW_MS = 1_795_766_600_000
SECRET = "s3cr3t-value-in-env"  # noqa: S105  # a marker to search for, not a credential


def entry(name: str = "web", pm_id: int = 0, **env: Any) -> dict[str, Any]:
    """One ``pm2 jlist`` element as PM2 7.0.4 prints it (its environment cut short)."""
    pm2_env = {
        "name": name,
        "pm_id": pm_id,
        "status": "online",
        "restart_time": 0,
        "unstable_restarts": 0,
        "exec_mode": "fork_mode",
        "pm_uptime": NOW_MS - 60_000,
        "created_at": NOW_MS - 60_000,
        "exit_code": None,
        "version": "1.0.0",
        "instances": 1,
        "node_version": "20.20.2",
        "DATABASE_PASSWORD": SECRET,
        "env": {"DATABASE_PASSWORD": SECRET, "PM2_HOME": "/home/app/.pm2"},
        "axm_options": {},
        "pm_exec_path": "/srv/app/server.js",
    }
    pm2_env.update(env)
    return {
        "pid": 4242 + pm_id,
        "name": name,
        "pm2_env": pm2_env,
        "pm_id": pm_id,
        "monit": {"memory": 50_000_000, "cpu": 1.5},
    }
