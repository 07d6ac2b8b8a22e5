"""Exact counts: the block counter against the truth the generator kept, for every format."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from logmaker import START, LogMaker, app_line, combined, json_access, minute_of

from calmopsd.config.logs import UploadsConfig
from calmopsd.sense.logs.blocks import BlockCounter, Tally
from calmopsd.sense.logs.jsonlines import JsonFields, JsonFormat
from calmopsd.sense.logs.lines import LineFormat, Uploads
from calmopsd.sense.logs.nginx import NginxFormat

NAMES = ("requests", "server_errors", "error_lines", "uploads", "upload_failures", "parse_errors")
UPLOADS = Uploads(UploadsConfig(routes=["/api/uploads", "/api/uploads/*"]))
CUSTOM = '$remote_addr [$time_iso8601] "$request" $status $request_time "$http_x_org"'


def count(line_format: LineFormat, text: bytes, block: int = 4096) -> Counter[tuple[object, ...]]:
    """Count ``text`` fed in blocks of about ``block`` bytes, as the tailer would."""
    counter = BlockCounter(line_format)
    tally: Tally = {}
    pos = 0
    while pos < len(text):
        end = text.rfind(b"\n", pos, pos + block) + 1
        if end <= pos:
            end = text.index(b"\n", pos) + 1
        chunk = text[pos:end]
        counter.count(chunk, len(chunk), tally, 0)
        pos = end
    found: Counter[tuple[object, ...]] = Counter()
    for (minute, org), counts in tally.items():
        for name, value in zip(NAMES, counts, strict=True):
            if value and name != "parse_errors":
                found[(minute, org, name)] += value
            elif value:
                found[("parse_errors",)] += value
    return found


def truth_of(maker: LogMaker) -> Counter[tuple[object, ...]]:
    return Counter({k: v for k, v in maker.truth.items() if v})


@pytest.mark.parametrize("block", [300, 4096, 1 << 20])
def test_combined_counts_equal_the_truth_with_out_of_order_lines(block: int) -> None:
    maker = LogMaker(seed=3)
    lines = []
    for at in maker.times(3000):
        req = maker.request(at)
        maker.account(req)
        lines.append(combined(req))
    assert count(NginxFormat("combined", UPLOADS), "".join(lines).encode(), block) == truth_of(
        maker
    )


def test_a_custom_log_format_with_organizations_counts_per_organization() -> None:
    maker = LogMaker(seed=4, orgs=("acme", "globex", "-"))
    lines = []
    for at in maker.times(2000):
        req = maker.request(at)
        text = combined(req)  # for its request and status
        stamp = req["at"].isoformat(timespec="seconds")  # type: ignore[union-attr]
        org = req["org"]
        req["org"] = None if org == "-" else org
        maker.account(req)
        lines.append(
            f'10.0.0.1 [{stamp}] "{req["method"]} {req["path"]} HTTP/1.1" {req["status"]} '
            f'0.012 "{org}"\n'
        )
        del text
    found = count(NginxFormat(CUSTOM, UPLOADS, "http_x_org"), "".join(lines).encode())
    assert found == truth_of(maker)
    assert {key[1] for key in found if len(key) == 3} == {"acme", "globex", None}


def test_json_access_logs_count_exactly() -> None:
    maker = LogMaker(seed=5, orgs=("acme", "globex"))
    lines = []
    for at in maker.times(2000):
        req = maker.request(at)
        maker.account(req)
        lines.append(json_access(req))
    fields = JsonFields(time="time", status="status", request="request", organization="org")
    assert count(JsonFormat(fields, UPLOADS), "".join(lines).encode()) == truth_of(maker)


@pytest.mark.parametrize("orgs", [(), ("acme", "globex")])
def test_app_logs_count_requests_and_error_lines_exactly(orgs: tuple[str, ...]) -> None:
    maker = LogMaker(seed=6, orgs=orgs)
    lines = []
    for i, at in enumerate(maker.times(2000)):
        req = maker.request(at)
        maker.account(req)
        level = "error" if i % 7 == 0 else "info"
        if level == "error":
            maker.truth[(minute_of(at), req["org"], "error_lines")] += 1  # type: ignore[index]
        lines.append(app_line(req, level))
        if i % 11 == 0:  # a plain message: no status, so not a request
            lines.append(f'{{"level":"warn","time":{int(at.timestamp() * 1000)},"msg":"x"}}\n')
    fields = JsonFields(
        time="time",
        status="status",
        method="method",
        route="url",
        level="level",
        organization="org_id" if orgs else "",
    )
    line_format = JsonFormat(fields, UPLOADS, ["error", "fatal"])
    assert count(line_format, "".join(lines).encode()) == truth_of(maker)


def test_malformed_lines_are_counted_as_parse_errors_and_skipped() -> None:
    maker = LogMaker(seed=7)
    lines = []
    for i, at in enumerate(maker.times(500)):
        req = maker.request(at)
        maker.account(req)
        lines.append(combined(req))
        if i % 50 == 0:
            lines.append("\x00\xff garbage without a time\n")
        if i % 120 == 0:
            lines.append(combined(req)[:24] + "\n")  # cut short inside its time
    expected = truth_of(maker)
    expected[("parse_errors",)] = 10 + 5
    found = count(NginxFormat("combined", UPLOADS), "".join(lines).encode("latin-1"))
    assert found == expected


def test_a_json_line_cut_short_after_its_time_is_a_parse_error() -> None:
    maker = LogMaker(seed=10)
    lines = []
    for i, at in enumerate(maker.times(300)):
        req = maker.request(at)
        maker.account(req)
        lines.append(app_line(req))
        if i % 100 == 0:
            lines.append(app_line(req)[:60] + "\n")
    expected = truth_of(maker)
    expected[("parse_errors",)] = 3
    fields = JsonFields(time="time", status="status", method="method", route="url")
    assert count(JsonFormat(fields, UPLOADS), "".join(lines).encode()) == expected


def test_a_line_stamped_in_an_earlier_minute_counts_in_that_minute() -> None:
    maker = LogMaker(seed=8)
    late = maker.request(START + timedelta(seconds=59.5))
    reqs = [maker.request(START + timedelta(seconds=60 + i)) for i in range(50)]
    reqs.insert(25, late)  # written in the middle of the next minute
    text = "".join(combined(r) for r in reqs).encode()
    found = count(NginxFormat("combined", UPLOADS), text, block=1 << 20)
    assert found[(minute_of(START), None, "requests")] == 1
    assert found[(minute_of(START) + 1, None, "requests")] == 50


@pytest.mark.skipif(shutil.which("mawk") is None, reason="mawk not installed")
def test_combined_counts_agree_with_mawk_on_the_same_file(tmp_path: Path) -> None:
    maker = LogMaker(seed=9)
    path = tmp_path / "access.log"
    path.write_text("".join(combined(maker.request(at)) for at in maker.times(5000)))
    program = Path(__file__).resolve().parents[3] / "bench" / "nginx.awk"
    result = subprocess.run(
        ["mawk", "-f", str(program), str(path)], capture_output=True, text=True, check=True
    )
    by_mawk = {}
    for row in result.stdout.split("\n"):
        if row:
            stamp, _organization, *counts = row.split()
            at = datetime.strptime(stamp, "%d/%b/%Y:%H:%M").replace(tzinfo=UTC)
            by_mawk[minute_of(at)] = [int(c) for c in counts]
    found = count(NginxFormat("combined", UPLOADS), path.read_bytes(), 1 << 16)
    ours: dict[int, list[int]] = {}
    for key, value in found.items():
        minute, _, name = key  # type: ignore[misc]
        row = ours.setdefault(int(minute), [0, 0, 0, 0])  # type: ignore[call-overload]
        row[("requests", "server_errors", "uploads", "upload_failures").index(name)] += value
    assert ours == by_mawk
