"""Lines written to mislead the block counter: planted times, nested and repeated keys."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from logmaker import START, app_source, logs_config, nginx_source
from support.clock import ManualClock  # type: ignore[import-not-found]

from calmopsd.config.logs import LogsConfig, UploadsConfig
from calmopsd.sense.logs import LogWatcher
from calmopsd.sense.logs.blocks import REQUESTS, SERVER_ERRORS, BlockCounter, Tally
from calmopsd.sense.logs.jsonlines import JsonFields, JsonFormat
from calmopsd.sense.logs.lines import BlockPatterns, LineCounts, Probe, Uploads
from calmopsd.sense.logs.nginx import NginxFormat

UPLOADS = Uploads(UploadsConfig(routes=["/upload*"]))
UA = "Mozilla/5.0 " + "x" * 300


def poll_bounded(config: LogsConfig, seconds: float = 10) -> dict[str, Any]:
    """One poll, in a thread so a counter that never returns fails the test instead."""
    watcher = LogWatcher(config, ManualClock(START + timedelta(minutes=1)))
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(watcher.poll().values), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "poll() did not return"
    watcher.close()
    return result


def normal_nginx(second: int, status: int = 200) -> str:
    return (
        f'1.2.3.4 - - [01/Mar/2025:12:00:{second:02d} +0000] "GET / HTTP/1.1" {status} 5 '
        f'"-" "{UA}"\n'
    )


def test_a_time_planted_in_the_nginx_user_name_neither_hangs_nor_miscounts(
    tmp_path: Path,
) -> None:
    log = tmp_path / "access.log"
    planted = (
        "6.6.6.6 - x [01/Jan/2030:00:00:00 +0000 [01/Mar/2025:12:00:06 +0000] "
        f'"GET / HTTP/1.1" 500 5 "-" "{UA}"\n'
    )
    log.write_text("".join(normal_nginx(s) for s in range(5)) + planted + normal_nginx(7))
    values = poll_bounded(logs_config(tmp_path, nginx=[nginx_source("web", log)]))
    totals = values["sources"]["web"]["totals"]
    assert (totals["requests"], totals["server_errors"], totals["parse_errors"]) == (7, 1, 0)
    assert values["platform"]["1m"]["requests"] == 7


def normal_app(second: int) -> str:
    return f'{{"msg":"{"m" * 300}","time":"2025-03-01T12:00:{second:02d}Z","status":200}}\n'


def test_a_time_in_a_nested_json_object_neither_hangs_nor_miscounts(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    nested = (
        f'{{"msg":"{"m" * 300}","job":{{"time":"2030-01-01T00:00:00Z"}},'
        '"time":"2025-03-01T12:00:06Z","status":200}\n'
    )
    log.write_text("".join(normal_app(s) for s in range(5)) + nested + normal_app(7))
    values = poll_bounded(logs_config(tmp_path, apps=[app_source("api", log)]))
    totals = values["sources"]["api"]["totals"]
    assert (totals["requests"], totals["parse_errors"]) == (7, 0)
    assert values["platform"]["1m"]["requests"] == 7


def test_minute_reads_the_same_field_as_probe() -> None:
    nginx = NginxFormat("combined", UPLOADS)
    planted = (
        b"6.6.6.6 - x [01/Jan/2030:00:00:00 +0000 [01/Mar/2025:13:55:02 +0000] "
        b'"GET / HTTP/1.1" 200 5 "-" "ua"'
    )
    app = JsonFormat(JsonFields(time="time", status="status"), UPLOADS)
    nested = b'{"msg":"m","job":{"time":"2030-01-01T00:00:00Z"},"time":"2025-03-01T13:55:01Z"}'
    for line_format, line in ((nginx, planted), (app, nested)):
        probe = line_format.probe(line)
        assert probe is not None
        assert line_format.minute(line) == probe.minute == 29_013_955


class Disagreeing:
    """A format whose minute() says every line is later than its probe() does."""

    def __init__(self) -> None:
        self.inner = NginxFormat("combined", UPLOADS)

    def probe(self, line: bytes) -> Probe | None:
        return self.inner.probe(line)

    def minute(self, line: bytes) -> int | None:
        return 10**9

    def parse(self, line: bytes) -> LineCounts | None:
        return self.inner.parse(line)

    def patterns(self, line: bytes) -> BlockPatterns:
        return self.inner.patterns(line)


def test_the_counter_makes_progress_when_minute_and_probe_disagree() -> None:
    text = "".join(normal_nginx(s) for s in range(6)).encode()
    tally: Tally = {}
    thread = threading.Thread(
        target=BlockCounter(Disagreeing()).count, args=(text, len(text), tally, 0), daemon=True
    )
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "count() did not return"
    assert sum(counts[REQUESTS] for counts in tally.values()) == 6


FIELDS = ("requests", "server_errors", "error_lines", "uploads", "upload_failures", "parse_errors")
APP_UPLOADS = Uploads(UploadsConfig(routes=["/upload/*"]))


def app_format(organization: str = "") -> JsonFormat:
    fields = JsonFields(
        time="time",
        status="status",
        method="method",
        route="url",
        level="level",
        organization=organization,
    )
    return JsonFormat(fields, APP_UPLOADS, ["error", "fatal"])


def totals(line_format: JsonFormat, lines: list[str]) -> dict[tuple[str | None, str], int]:
    """Counted in one block among 200 plain lines, so the bulk does the counting."""
    plain = '{"time":"2025-03-01T12:00:30Z","level":"info","status":200,"org_id":"acme"}\n'
    text = (plain * 100 + "".join(lines) + plain * 100).encode()
    tally: Tally = {}
    BlockCounter(line_format).count(text, len(text), tally, 0)
    found: dict[tuple[str | None, str], int] = {}
    for (_, org), counts in tally.items():
        for name, value in zip(FIELDS, counts, strict=True):
            if value:
                found[(org, name)] = found.get((org, name), 0) + value
    return found


def per_line(line_format: JsonFormat, lines: list[str]) -> dict[tuple[str | None, str], int]:
    found: dict[tuple[str | None, str], int] = {}
    for line in lines:
        counts = line_format.parse(line.rstrip("\n").encode())
        assert counts is not None
        for name, value in zip(FIELDS, counts[2:], strict=False):
            if value:
                key = (counts.organization_id, name)
                found[key] = found.get(key, 0) + value
    return found


HOSTILE = [
    '{"time":"2025-03-01T12:00:31Z","level":"info","body":{"status":503}}\n',
    '{"time":"2025-03-01T12:00:31Z","level":"info","status":200,"body":{"status":503}}\n',
    '{"time":"2025-03-01T12:00:32Z","level":"info","ctx":{"level":"error"},"status":201}\n',
    '{"time":"2025-03-01T12:00:33Z","level":"info","status":null,"method":"POST",'
    '"url":"/upload/a"}\n',
]


@pytest.mark.parametrize("organization", ["", "org_id"])
def test_nested_status_and_level_keys_count_for_nothing(organization: str) -> None:
    line_format = app_format(organization)
    org = "acme" if organization else None
    found = totals(line_format, HOSTILE)
    # 200 plain requests, plus the three lines with a top-level status (null included).
    expected = {(org, "requests"): 200}
    expected[(None, "requests")] = expected.get((None, "requests"), 0) + 3
    assert found == expected
    assert per_line(line_format, HOSTILE) == {(None, "requests"): 3}


@pytest.mark.parametrize("organization", ["", "org_id"])
def test_a_null_status_is_a_request_and_nothing_else_in_bulk_and_line_by_line(
    organization: str,
) -> None:
    line_format = app_format(organization)
    null = HOSTILE[3]
    assert per_line(line_format, [null]) == {(None, "requests"): 1}
    found = totals(line_format, [null])
    assert found[(None, "requests")] == (1 if organization else 201)
    assert {name for _, name in found} == {"requests"}


def test_the_organization_is_the_top_level_key() -> None:
    line_format = app_format("org_id")
    lines = [
        '{"time":"2025-03-01T12:00:31Z","job":{"org_id":"evil"},"status":500,"org_id":"globex"}\n',
        '{"time":"2025-03-01T12:00:32Z","status":200,"job":{"org_id":"evil"}}\n',
        '{"time":"2025-03-01T12:00:33Z","status":200,"org_id":null}\n',
    ]
    found = totals(line_format, lines)
    assert found == {
        ("acme", "requests"): 200,
        ("globex", "requests"): 1,
        ("globex", "server_errors"): 1,
        (None, "requests"): 2,
    }
    assert per_line(line_format, lines) == {
        ("globex", "requests"): 1,
        ("globex", "server_errors"): 1,
        (None, "requests"): 2,
    }


def test_a_round_with_5000_organizations_keeps_a_tally_of_eleven_keys() -> None:
    lines = "".join(
        f'{{"time":"2025-03-01T12:00:{i % 60:02d}Z","status":{500 if i % 2 else 200},'
        f'"org_id":"org{i}"}}\n'
        for i in range(5000)
    ).encode()
    counter = BlockCounter(app_format("org_id"), max_organizations=10)
    counter.start_round({"org4999"})
    tally: Tally = {}
    counter.count(lines, len(lines), tally, 0)
    orgs = {org for _, org in tally}
    assert orgs == {None, "org4999"} | {f"org{i}" for i in range(9)}
    assert sum(counts[REQUESTS] for counts in tally.values()) == 5000
    assert sum(counts[SERVER_ERRORS] for counts in tally.values()) == 2500
    assert counter.folded > 0


def test_a_status_in_other_scripts_digits_is_no_server_error() -> None:
    line_format = app_format("")
    ascii_status = '{"time":"2025-03-01T12:00:31Z","level":"info","status":"503"}\n'
    fullwidth = '{"time":"2025-03-01T12:00:31Z","level":"info","status":"５０３"}\n'
    assert per_line(line_format, [ascii_status])[(None, "server_errors")] == 1
    assert "server_errors" not in {name for _, name in per_line(line_format, [fullwidth])}
    assert "server_errors" not in {name for _, name in totals(line_format, [fullwidth])}


@pytest.mark.parametrize("compiled", [True, False])
def test_an_epoch_time_with_an_exponent_is_counted_not_a_crash(compiled: bool) -> None:
    """orjson reads ``1.7408304e9`` as a float time; its needles were taken from its digits
    by int(), which raised and stopped the whole block (found by review)."""
    fields = JsonFields(time="time", status="status")
    line_format = JsonFormat(fields, APP_UPLOADS, compiled=compiled)
    lines = b"".join(
        b'{"time":%s,"status":%d}\n' % (time, status)
        for time, status in ((b"1.7408304e9", 500), (b"1740830400", 200), (b"17408304E2", 200))
    )
    tally: Tally = {}
    BlockCounter(line_format).count(lines * 50, len(lines) * 50, tally, 0)
    minute = 1_740_830_400 // 60
    assert tally == {(minute, None): [150, 50, 0, 0, 0, 0]}
