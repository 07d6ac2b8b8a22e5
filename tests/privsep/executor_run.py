"""The daemon's executor, as the tests run it: as the daemon's user, on a read-only system.

    python executor_run.py CONFIG act JSON_REQUESTS   each request through SafeExecutor
    python executor_run.py CONFIG revert              every action in force reverted now
    python executor_run.py CONFIG write PATH          try to write PATH directly

Prints one JSON line per step, then ``{"audit": ...}``: the action events the daemon
recorded and whether its hash chain verifies. The config is the one the helper reads;
``actions.backend`` in it decides how the executor runs the actions.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from calmopsd import log as logsetup
from calmopsd.act.executor import SafeExecutor
from calmopsd.clock import SystemClock
from calmopsd.config import load_config
from calmopsd.model import ActionRequest, SafeAction
from calmopsd.record.actions import list_active
from calmopsd.record.audit import list_events, verify_file
from calmopsd.record.database import Database, database_path
from calmopsd.record.scope import Scope


def main() -> None:
    config_path, phase = Path(sys.argv[1]), sys.argv[2]
    if phase == "write":
        try:
            with open(sys.argv[3], "ab") as stream:  # noqa: PTH123  # the plainest write
                stream.write(b"")
            print(json.dumps({"write": "ok"}))
        except OSError as exc:
            print(json.dumps({"write": exc.strerror}))
        return
    logsetup.configure("info", "json", stream=sys.stderr)  # stdout is the steps' answers
    config = load_config(config_path)
    clock = SystemClock()
    database = Database.open(database_path(config.state_dir))
    executor = SafeExecutor(database, config.actions, config.sensing.pm2, config.state_dir, clock)
    if phase == "act":
        for action, params in json.loads(sys.argv[3]):
            request = ActionRequest(SafeAction(action), params, None, None, "privsep test")
            outcome = executor.request(request, clock.now())
            said = {"status": outcome.status.value, "detail": outcome.detail}
            print(json.dumps({"action": action, "params": params, **said}), flush=True)
    elif phase == "revert":
        for active in list_active(database):
            done, detail = executor.revert(active.id, clock.now(), "test")
            print(json.dumps({"revert": active.action, "done": done, "detail": detail}), flush=True)
    events = [
        {"kind": e.kind, **{k: e.data.get(k) for k in ("action", "status", "commands", "detail")}}
        for e in list_events(database, Scope.platform())
        if e.kind.startswith("action.")
    ]
    database.close()
    verdict = verify_file(database_path(config.state_dir))
    print(json.dumps({"audit": events, "chain_ok": verdict.ok, "uid": os.geteuid()}))


if __name__ == "__main__":
    main()
