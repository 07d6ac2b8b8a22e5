"""Generated logs with a known truth, and an independent per-line reference count."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calmopsd.config.logs import AppSourceConfig, LogsConfig, NginxSourceConfig

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
Key = tuple[int, str | None]
Truth = Counter[tuple[int, str | None, str]]

UPLOAD_ROUTE = re.compile(r"/api/uploads(/[^?]*)?")
FAILED = {408, 413, 499}


def minute_of(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def is_upload(method: str, path: str) -> bool:
    return method in ("POST", "PUT") and bool(UPLOAD_ROUTE.fullmatch(path.split("?")[0]))


class LogMaker:
    """Writes request lines in several formats and keeps what each should count for."""

    def __init__(self, seed: int = 1, orgs: tuple[str, ...] = ()):
        self.rnd = random.Random(seed)
        self.orgs = orgs
        self.truth: Truth = Counter()

    def request(self, at: datetime) -> dict[str, object]:
        r = self.rnd.random()
        if r < 0.1:
            method, path = (
                self.rnd.choice(["POST", "PUT"]),
                f"/api/uploads/{self.rnd.randrange(99)}",
            )
            status = self.rnd.choice([201, 201, 201, 500, 413, 499, 408, 502])
        else:
            method = self.rnd.choice(["GET", "GET", "POST"])
            path = self.rnd.choice(["/", "/api/items?q=1", "/upload-help", "/api/uploadsx"])
            status = self.rnd.choice([200, 200, 304, 404, 500, 503])
        org = self.rnd.choice(self.orgs) if self.orgs else None
        return {"at": at, "method": method, "path": path, "status": status, "org": org}

    def account(self, req: dict[str, object]) -> None:
        at = req["at"]
        assert isinstance(at, datetime)
        key = (minute_of(at), req["org"])
        status = req["status"]
        assert isinstance(status, int)
        self.truth[(*key, "requests")] += 1
        self.truth[(*key, "server_errors")] += status >= 500
        if is_upload(str(req["method"]), str(req["path"])):
            self.truth[(*key, "uploads")] += 1
            self.truth[(*key, "upload_failures")] += status >= 500 or status in FAILED

    def times(self, count: int, start: datetime = START, spread_s: float = 600) -> list[datetime]:
        """Mostly in order; a few lines a second or two early, as nginx workers write them."""
        out = []
        for i in range(count):
            at = start + timedelta(seconds=spread_s * i / count)
            if self.rnd.random() < 0.03:
                at -= timedelta(seconds=self.rnd.random() * 2)
            out.append(at)
        return out


def combined(req: dict[str, object]) -> str:
    at = req["at"]
    assert isinstance(at, datetime)
    stamp = at.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (
        f'10.0.0.{req["status"]} - - [{stamp}] "{req["method"]} {req["path"]} HTTP/1.1" '
        f'{req["status"]} 123 "https://example.com/upload" "Mozilla/5.0 (X11)"\n'
    )


def json_access(req: dict[str, object]) -> str:
    at = req["at"]
    assert isinstance(at, datetime)
    record = {
        "time": at.isoformat(timespec="seconds"),
        "status": str(req["status"]),
        "request": f"{req['method']} {req['path']} HTTP/1.1",
        "org": req["org"] or "",
    }
    return json.dumps(record, separators=(",", ":")) + "\n"


def app_line(req: dict[str, object], level: str = "info") -> str:
    at = req["at"]
    assert isinstance(at, datetime)
    record = {
        "level": level,
        "time": int(at.timestamp() * 1000),
        "msg": 'request "done"',
        "method": req["method"],
        "url": req["path"],
        "status": req["status"],
    }
    if req["org"]:
        record["org_id"] = req["org"]
    return json.dumps(record) + "\n"


def logs_config(tmp_path: Path, **sources: object) -> LogsConfig:
    """A logs: section reading from the beginning, windows settling instantly."""
    return LogsConfig.model_validate(
        {
            "start_at": "beginning",
            "settle": "0s",
            "uploads": {"routes": ["/api/uploads", "/api/uploads/*", "/api/upload/*"]},
            **sources,
        },
        context={"base_dir": tmp_path},
    )


def nginx_source(name: str, path: Path, **extra: object) -> dict[str, object]:
    return NginxSourceConfig.model_validate(
        {"name": name, "paths": [str(path)], **extra}
    ).model_dump()


def app_source(name: str, path: Path, **extra: object) -> dict[str, object]:
    return AppSourceConfig.model_validate(
        {"name": name, "paths": [str(path)], **extra}
    ).model_dump()


def truth_totals(maker: LogMaker, names: tuple[str, ...]) -> dict[str, int]:
    """The truth summed over minutes and organizations, by count name."""
    return {name: sum(v for (_, _, n), v in maker.truth.items() if n == name) for name in names}
