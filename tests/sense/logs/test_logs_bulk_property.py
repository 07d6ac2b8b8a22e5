"""The bulk counts of every shape equal parsing every line on its own, for any mix of lines.

The fast paths count whole minutes at a time (needles, regexes over the run, a split on
quotes, organizations found per line only where a line matters); these properties hold
them to the plain truth, :meth:`LineFormat.parse` line by line, on generated logs mixing
request lines with other lines, key orders, trailing fields, lines out of order, malformed
lines and organizations with odd characters.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from calmopsd.config.logs import UploadsConfig
from calmopsd.sense.logs.blocks import BlockCounter, Tally
from calmopsd.sense.logs.jsonlines import JsonFields, JsonFormat
from calmopsd.sense.logs.lines import OTHER, LineFormat, Uploads
from calmopsd.sense.logs.nginx import NginxFormat

NAMES = ("requests", "server_errors", "error_lines", "uploads", "upload_failures")
UPLOADS = Uploads(UploadsConfig(routes=["/api/uploads", "/api/uploads/*"]))
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
CUSTOM = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_time "$http_x_org_id"'
)
CUSTOM_MIDDLE = '$remote_addr [$time_local] "$http_x_org" "$request" $status $bytes_sent "$http_x"'
# Valid ids, ids the store refuses (upper case, dots, spaces, too long), empty and absent.
ORGS = ["acme", "globex", "a-b_c", "Acme", "org.1", "a b", "-", "", "x" * 70, None]

Event = tuple[int, str, str, int, str | None, int, int]


def count_in_blocks(
    line_format: LineFormat, text: bytes, block: int
) -> Counter[tuple[object, ...]]:
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
        for name, value in zip(NAMES, counts, strict=False):
            if value:
                found[(minute, org, name)] += value
        if counts[5]:
            found[("parse_errors",)] += counts[5]
    return found


def line_by_line(line_format: LineFormat, text: bytes) -> Counter[tuple[object, ...]]:
    found: Counter[tuple[object, ...]] = Counter()
    for line in text.split(b"\n")[:-1]:
        counts = line_format.parse(line)
        if counts is None:
            found[("parse_errors",)] += 1
        elif counts is not OTHER:
            for name, value in zip(NAMES, counts[2:], strict=True):
                if value:
                    found[(counts.minute, counts.organization_id, name)] += value
    return found


# second offset, method, path, status, organization, kind (0-9), variant (0-2)
events = st.lists(
    st.tuples(
        st.integers(0, 290),
        st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
        st.sampled_from(["/", "/api/uploads", "/api/uploads/7?x=1", "/api/uploadsx", "/a?b"]),
        st.sampled_from([200, 201, 304, 404, 408, 413, 499, 500, 502, 599]),
        st.sampled_from(ORGS),
        st.integers(0, 9),
        st.integers(0, 2),
    ),
    min_size=1,
    max_size=160,
)


def ordered(found: list[Event]) -> list[Event]:
    """Mostly in time order, as a log is; a few lines a little out of it (kind 9)."""
    return sorted(found, key=lambda e: e[0] - (3 if e[5] == 9 else 0))


def garbage(kind: int, line: bytes) -> bytes | None:
    """A malformed line instead of ``line`` for some kinds: no time, or cut inside it."""
    if kind == 7:
        return b"\x00\xff garbage without a time"
    if kind == 8:
        return line[:20]
    return None


def iso(second: int) -> str:
    return (START + timedelta(seconds=second)).isoformat(timespec="milliseconds")[:-6] + "Z"


def flat_json(found: list[Event]) -> bytes:
    out = []
    for second, method, path, status, org, kind, variant in ordered(found):
        record: dict[str, object] = {"time": iso(second), "level": "info", "msg": "request"}
        if kind == 1:  # a job line: no status, so no request
            record.update(msg="job done", job="mail")
        else:
            record.update(method=method, url=path, status=status)
        if status >= 500 or kind == 2:
            record["level"] = "error"
        if org is not None:
            record["org_id"] = org
        if kind == 3:
            record["extra"] = {"status": 503, "org_id": "nested"}  # nested: parsed alone
        if kind == 4 and "status" in record:
            record["status"] = str(status)  # a quoted status
        keys = list(record)
        if variant == 1:
            keys.reverse()
        elif variant == 2:
            keys = keys[1:] + keys[:1]
        line = orjson.dumps({k: record[k] for k in keys})
        if kind == 5:
            line = b"2025-03-01T12:00:00: " + line  # PM2 --time
        if kind == 6:
            line = b"Error: a stack trace line"
        out.append(garbage(kind, line) or line)
    return b"\n".join(out) + b"\n"


def pino(found: list[Event]) -> bytes:
    out = []
    for second, method, path, status, org, kind, variant in ordered(found):
        ms = int((START + timedelta(seconds=second)).timestamp() * 1000)
        level = 50 if status >= 500 or kind == 2 else 30
        bound = f',"orgId":"{org}"' if org is not None else ""
        res = f',"res":{{"statusCode":{status},"headers":{{"a":"1"}}}}' if kind != 1 else ""
        err = f',"err":{{"statusCode":{status}}}' if kind == 3 else ""
        line = (
            f'{{"level":{level},"time":{ms},"pid":1{bound},"req":{{"id":{variant},'
            f'"method":"{method}","url":"{path}","headers":{{"host":"x"}}}}{res}{err},'
            f'"msg":"request completed"}}'
        ).encode()
        out.append(garbage(kind, line) or line)
    return b"\n".join(out) + b"\n"


def time_local(second: int) -> str:
    d = START + timedelta(seconds=second)
    return f"{d.day:02d}/{MONTHS[d.month - 1]}/{d.year}:{d:%H:%M:%S} +0000"


def nginx_custom(found: list[Event], middle: bool = False) -> bytes:
    out = []
    for second, method, path, status, org, kind, variant in ordered(found):
        value = "-" if org is None else org.replace(" ", "\\x20")
        if kind == 3:
            value = "x\\x22 500 y"  # an escaped quote and a status planted in the value
        agent = ["curl/8", "Mozilla/5.0 (X11)", "a\\x22b"][variant]
        if middle:
            line = (
                f'10.0.0.{variant} [{time_local(second)}] "{value}" "{method} {path} HTTP/1.1" '
                f'{status} 512 "{agent}"'
            )
        else:
            line = (
                f'10.0.0.{variant} - - [{time_local(second)}] "{method} {path} HTTP/1.1" '
                f'{status} 512 "https://e.com/" "{agent}" 0.{variant}12 "{value}"'
            )
        out.append(garbage(kind, line.encode()) or line.encode())
    return b"\n".join(out) + b"\n"


def json_format(organization: str, nested: bool = False, compiled: bool = True) -> JsonFormat:
    if nested:
        fields = JsonFields(
            time="time",
            status="res.statusCode",
            method="req.method",
            route="req.url",
            level="level",
            organization=organization,
        )
        return JsonFormat(fields, UPLOADS, [50, 60], compiled=compiled)
    fields = JsonFields(
        time="time",
        status="status",
        method="method",
        route="url",
        level="level",
        organization=organization,
    )
    return JsonFormat(fields, UPLOADS, ["error", "fatal"], compiled=compiled)


def agree(line_format: LineFormat, fresh: LineFormat, text: bytes, block: int) -> None:
    assert count_in_blocks(line_format, text, block) == line_by_line(fresh, text)


blocks = st.sampled_from([200, 4096, 1 << 20])


@settings(max_examples=60, deadline=None)
@given(events, blocks, st.booleans(), st.booleans())
# A job line (no status) and a nested line holding "status" twice: as many status keys as
# lines, yet not one per line.
@example([(0, "GET", "/", 200, "acme", 0, 0)] * 9 + [(0, "GET", "/", 200, "acme", 1, 0),
          (0, "GET", "/", 200, "acme", 3, 0)], 4096, True, False)  # fmt: skip
def test_flat_json_in_bulk_is_every_line_parsed(
    found: list[Event], block: int, orgs: bool, compiled: bool
) -> None:
    org = "org_id" if orgs else ""
    agree(json_format(org, compiled=compiled), json_format(org), flat_json(found), block)


@settings(max_examples=60, deadline=None)
@given(events, blocks, st.booleans(), st.booleans())
def test_nested_json_in_bulk_is_every_line_parsed(
    found: list[Event], block: int, orgs: bool, compiled: bool
) -> None:
    org = "orgId" if orgs else ""
    agree(json_format(org, True, compiled), json_format(org, True), pino(found), block)


@settings(max_examples=60, deadline=None)
@given(events, blocks, st.booleans(), st.booleans(), st.booleans())
def test_nginx_custom_in_bulk_is_every_line_parsed(
    found: list[Event], block: int, orgs: bool, middle: bool, compiled: bool
) -> None:
    log_format = CUSTOM_MIDDLE if middle else CUSTOM
    variable = ("http_x_org" if middle else "http_x_org_id") if orgs else ""
    text = nginx_custom(found, middle)
    agree(
        NginxFormat(log_format, UPLOADS, variable, compiled=compiled),
        NginxFormat(log_format, UPLOADS, variable, compiled=False),
        text,
        block,
    )
