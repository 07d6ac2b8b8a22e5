"""The daemon's loop on a real database: poll, save, restart, poll — nothing lost or doubled."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from logmaker import START, LogMaker, app_line, app_source, combined, logs_config, nginx_source
from support.clock import ManualClock  # type: ignore[import-not-found]

from calmopsd.config.logs import UploadsConfig
from calmopsd.record.database import Database, database_path
from calmopsd.record.logstate import load_log_state, save_log_state
from calmopsd.sense.logs import LogWatcher
from calmopsd.sense.logs.blocks import BlockCounter
from calmopsd.sense.logs.jsonlines import JsonFields, JsonFormat
from calmopsd.sense.logs.lines import Uploads
from calmopsd.sense.logs.nginx import NginxFormat
from calmopsd.sense.logs.tailer import HEAD_SIZE


def write_requests(path: Path, maker: LogMaker, count: int, start: datetime = START) -> None:
    with path.open("a") as f:
        for at in maker.times(count, start=start, spread_s=55):
            req = maker.request(at)
            maker.account(req)
            f.write(combined(req))


def test_the_daemon_loop_resumes_exactly_after_a_restart(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    config = logs_config(tmp_path, nginx=[nginx_source("web", log)])
    clock = ManualClock(START)
    database = Database.open(database_path(tmp_path / "state"))
    maker = LogMaker(seed=11)
    write_requests(log, maker, 1000)

    watcher = LogWatcher(config, clock, state=load_log_state(database))
    watcher.poll()
    save_log_state(database, watcher.state())
    split = maker.request(START + timedelta(seconds=56))
    maker.account(split)
    with log.open("a") as f:
        f.write(combined(split)[:50])  # a line half written at the kill
    # The process dies here: more lines arrive while it is down, and are polled
    # (but never saved) by the dying process: they must be counted once, after.
    watcher.poll()
    watcher.close()
    database.close()
    with log.open("a") as f:
        f.write(combined(split)[50:])
    write_requests(log, maker, 500, start=START + timedelta(seconds=1))

    database = Database.open(database_path(tmp_path / "state"))
    watcher = LogWatcher(config, clock, state=load_log_state(database))
    clock.advance(timedelta(minutes=1))
    reading = watcher.poll()
    save_log_state(database, watcher.state())
    watcher.close()
    database.close()

    assert reading.sampler == "logs"
    web = reading.values["sources"]["web"]
    truth = {name: sum(v for (_, _, n), v in maker.truth.items() if n == name) for name in NAMES}
    assert truth["requests"] == 1501
    for name in NAMES:
        assert web["totals"][name] == truth[name], (web["totals"], truth)
        assert reading.values["platform"]["1m"][name] == truth[name]


def test_two_organizations_have_their_own_rates_and_the_platform_has_both(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    lines = []
    for second in range(60):
        for org, status in (("acme", 500 if second < 6 else 200), ("globex", 200)):
            at = int((START + timedelta(seconds=second)).timestamp() * 1000)
            lines.append(
                f'{{"time":{at},"level":"info","method":"POST","url":"/api/upload/x",'
                f'"status":{status},"org_id":"{org}"}}\n'
            )
    log.write_text("".join(lines))
    config = logs_config(tmp_path, apps=[app_source("api", log, fields={"organization": "org_id"})])
    clock = ManualClock(START + timedelta(minutes=1))
    watcher = LogWatcher(config, clock)
    values = watcher.poll().values
    watcher.close()

    acme, globex = values["organizations"]["acme"]["1m"], values["organizations"]["globex"]["1m"]
    assert (acme["requests"], acme["server_errors"], acme["uploads"]) == (60, 6, 60)
    assert acme["upload_failure_rate"] == 0.1
    assert (globex["requests"], globex["server_errors"], globex["upload_failure_rate"]) == (
        60,
        0,
        0.0,
    )
    assert values["platform"]["1m"]["requests_per_min"] == 120
    assert values["platform"]["5m"]["requests_per_min"] == 24
    assert values["platform"]["1m"]["upload_failures"] == 6


def test_organizations_beyond_the_limit_count_for_the_platform_only(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    at = int(START.timestamp() * 1000)
    log.write_text("".join(f'{{"time":{at},"status":200,"org_id":"org{i}"}}\n' for i in range(20)))
    config = logs_config(
        tmp_path,
        max_organizations=5,
        apps=[app_source("api", log, fields={"organization": "org_id"})],
    )
    watcher = LogWatcher(config, ManualClock(START + timedelta(minutes=1)))
    values = watcher.poll().values
    watcher.close()
    assert len(values["organizations"]) == 5
    assert values["platform"]["1m"]["requests"] == 20
    assert values["organizations_over_limit"] == 15


def test_memory_stays_bounded_over_a_day_of_minutes(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.touch()
    config = logs_config(tmp_path, nginx=[nginx_source("web", log)])
    clock = ManualClock(START)
    watcher = LogWatcher(config, clock)
    maker = LogMaker(seed=12)
    for minute in range(120):
        write_requests(log, maker, 20, start=START + timedelta(minutes=minute))
        clock.advance(timedelta(minutes=1))
        watcher.poll()
    assert len(watcher.state().buckets) <= 11
    assert watcher.state().totals[0].requests == 2400
    watcher.close()


UPLOADS = Uploads(UploadsConfig())
NAMES = ("requests", "server_errors", "uploads", "upload_failures")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=30))
def test_the_parsers_never_raise_on_arbitrary_bytes(chunks: list[bytes]) -> None:
    text = b"\n".join(chunks) + b"\n"
    line = combined(LogMaker().request(START)).encode()
    for line_format in (
        NginxFormat("combined", UPLOADS),
        JsonFormat(JsonFields(time="time", status="status", organization="org"), UPLOADS),
    ):
        BlockCounter(line_format).count(text, len(text), {}, 0)
        mixed = line + text + line
        BlockCounter(line_format).count(mixed, len(mixed), {}, 0)


def test_a_source_matching_no_file_is_said_once_and_again_when_it_appears(tmp_path: Path) -> None:
    missing = tmp_path / "later.log"
    config = logs_config(tmp_path, nginx=[nginx_source("web", missing)])
    watcher = LogWatcher(config, ManualClock())
    with structlog.testing.capture_logs() as logs:
        watcher.poll()
        watcher.poll()
        missing.write_text("")
        watcher.poll()
    watcher.close()
    assert [(e["event"], e["source"]) for e in logs] == [
        ("logs.source_empty", "web"),
        ("logs.source_found", "web"),
    ]
    assert logs[0]["paths"] == [str(missing)]


def test_a_glob_that_also_takes_the_error_log_is_said_once_until_it_reads_clean(
    tmp_path: Path,
) -> None:
    """``*.log`` matches nginx's error.log too: its lines are counted as malformed and
    skipped, and the operator is told, once, why the parse errors climb."""
    access, error = tmp_path / "access.log", tmp_path / "error.log"
    maker = LogMaker(seed=3)
    write_requests(access, maker, 10)
    oops = "2025/03/01 12:00:01 [error] 12#12: *1 connect() failed (111) while connecting\n"
    error.write_text(oops * 30)
    config = logs_config(tmp_path, nginx=[nginx_source("web", tmp_path / "*.log")])
    watcher = LogWatcher(config, ManualClock(START + timedelta(minutes=1)))
    with structlog.testing.capture_logs() as logs:
        first = watcher.poll()
        with error.open("a") as f:
            f.write(oops * 30)
        watcher.poll()  # still unparsable: not said again
        write_requests(access, maker, 10)
        watcher.poll()  # a clean round
        with error.open("a") as f:
            f.write(oops * 25)
        watcher.poll()  # unparsable again: said again
    watcher.close()
    said = [(e["malformed"], e["parsed"]) for e in logs if e["event"] == "logs.unparsable"]
    assert said == [(30, 10), (25, 0)]
    assert first.values["sources"]["web"]["totals"]["parse_errors"] == 30  # counted, skipped


def test_tampered_state_rows_are_dropped_and_the_watcher_keeps_working(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    config = logs_config(tmp_path, nginx=[nginx_source("web", log)])
    clock = ManualClock(START)
    database = Database.open(database_path(tmp_path / "state"))
    maker = LogMaker(seed=5)
    write_requests(log, maker, 100)
    watcher = LogWatcher(config, clock)
    watcher.poll()
    save_log_state(database, watcher.state())
    watcher.close()
    with database.write() as tx:
        tx.db.execute("UPDATE log_counts SET requests = 'x' WHERE minute = -1")
        tx.db.execute("UPDATE log_positions SET head_size = ?", (10**12,))

    with structlog.testing.capture_logs() as events:
        state = load_log_state(database)
    dropped = [e["table"] for e in events if e["event"] == "logs.state_row_dropped"]
    assert dropped == ["log_positions", "log_counts"]
    assert state.files == () and state.totals == ()
    watcher = LogWatcher(config, clock, state=state)
    write_requests(log, maker, 10, start=START + timedelta(seconds=1))
    clock.advance(timedelta(minutes=1))
    reading = watcher.poll()
    watcher.close()
    database.close()
    # Its position gone, the file is read as a new one (from its start, in this config).
    assert reading.values["sources"]["web"]["totals"]["requests"] == 110


def test_the_stored_head_limit_is_the_tailers_head_size() -> None:
    from calmopsd.record.logstate import HEAD_MAX

    assert HEAD_MAX == HEAD_SIZE


def test_the_organization_limit_is_not_shortened_by_lines_without_one(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    at = int(START.timestamp() * 1000)
    log.write_text(f'{{"time":{at},"status":200}}\n')
    config = logs_config(
        tmp_path,
        max_organizations=2,
        apps=[app_source("api", log, fields={"organization": "org_id"})],
    )
    watcher = LogWatcher(config, ManualClock(START + timedelta(minutes=1)))
    watcher.poll()  # the platform's own line is kept first
    with log.open("a") as f:
        f.write("".join(f'{{"time":{at},"status":200,"org_id":"org{i}"}}\n' for i in range(3)))
    values = watcher.poll().values
    watcher.close()
    assert sorted(values["organizations"]) == ["org0", "org1"]
    assert values["organizations_over_limit"] == 1
    assert values["platform"]["1m"]["requests"] == 4


def same_requests(tmp_path: Path, count: int) -> tuple[Path, Path, int]:
    """nginx's access log and the app's log, each holding the same ``count`` requests;
    the app also logs one error line. Returns both paths and the 5xx among them."""
    maker = LogMaker(seed=7)
    nginx_log, app_log = tmp_path / "access.log", tmp_path / "app.log"
    errors = 0
    with nginx_log.open("w") as web, app_log.open("w") as app:
        for at in maker.times(count, start=START, spread_s=55):
            req = maker.request(at)
            errors += int(str(req["status"]).startswith("5"))
            web.write(combined(req))
            app.write(app_line(req))
        app.write(app_line(maker.request(START + timedelta(seconds=56)), level="error"))
    return nginx_log, app_log, errors


def test_requests_seen_by_nginx_and_the_app_count_once_for_the_platform(tmp_path: Path) -> None:
    nginx_log, app_log, errors = same_requests(tmp_path, 200)
    config = logs_config(
        tmp_path, nginx=[nginx_source("web", nginx_log)], apps=[app_source("api", app_log)]
    )
    assert config.counting() == {"web"}
    watcher = LogWatcher(config, ManualClock(START + timedelta(minutes=1)))
    values = watcher.poll().values
    watcher.close()
    platform = values["platform"]["1m"]
    assert (platform["requests"], platform["server_errors"]) == (200, errors)  # not 400
    assert platform["error_lines"] == 1  # the app's error line still counts
    assert values["sources"]["api"]["1m"]["requests"] == 201  # its own rates are whole


def test_both_sources_said_to_count_requests_are_warned_about(tmp_path: Path) -> None:
    nginx_log, app_log, _ = same_requests(tmp_path, 10)
    config = logs_config(
        tmp_path,
        nginx=[nginx_source("web", nginx_log)],
        apps=[app_source("api", app_log, counts_requests=True)],
    )
    assert config.counting() == {"web", "api"}
    (warning,) = config.overlaps()
    assert "nginx (web) and from app logs (api)" in warning


def test_an_app_log_alone_counts_requests(tmp_path: Path) -> None:
    _, app_log, _ = same_requests(tmp_path, 10)
    config = logs_config(tmp_path, apps=[app_source("api", app_log)])
    assert (config.counting(), config.overlaps()) == (frozenset({"api"}), [])
