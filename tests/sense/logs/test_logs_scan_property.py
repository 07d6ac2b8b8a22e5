"""The compiled scanner counts every JSON line as parse() does, whatever the line holds.

Lines are assembled as raw text from pieces chosen to sit on the edges the scanner has to
get right or leave to Python: escapes and surrogates, duplicate keys, statuses and levels as
floats, booleans, big integers and strings, organizations that are not ids, separators with
spaces, times of every spelling parse accepts or refuses (offsets, no zone, day 31 of
February, epoch seconds and milliseconds), PM2's prefix, invalid UTF-8, nested objects
holding the same keys, and lines that are not JSON at all. Whatever the scanner counts and
whatever it leaves, the block's counts must equal parsing each line on its own.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_logs_bulk_property import UPLOADS, count_in_blocks, line_by_line

from calmopsd.sense.logs.compiled import SCANNER
from calmopsd.sense.logs.jsonlines import JsonFields, JsonFormat

TIMES = [
    '"2025-03-01T12:00:31.123Z"',
    '"2025-03-01T12:01:02Z"',
    '"2025-03-01 12:00:31"',
    '"2025-03-01T12:00"',
    '"2025-03-01T13:30:00+01:30"',
    '"2025-03-01T06:00:00-0600"',
    '"2025-03-01T12:00:00 Z"',
    '"2025-02-31T12:00:00Z"',  # calendar.timegm counts on: 3 March
    '"2025-13-01T12:00:00Z"',  # refused
    '"2025-03-00T12:00:00Z"',  # refused
    '"2025-03-01T12:00:00Zx"',  # refused
    '"2025-03-01T12:00:00\\u005a"',  # an escape: Python decides
    "1740830431123",  # epoch milliseconds
    "1740830431",  # epoch seconds
    "1740830431.5",  # a float: Python decides
    "-1740830431",
    "100000000000001",  # beyond 10^14: refused
    "true",
    "null",
    '"1740830431"',  # a string that is no ISO time
]
STATUSES = [
    "200",
    "500",
    "503",
    "599",
    "404",
    "413",
    '"500"',
    '"050"',
    '"5000"',
    "500.0",
    "5e2",
    "true",
    "null",
    "-500",
    "99",
    "1000",
    '"\\u0035\\u0030\\u0030"',
    "123456789012345678901",
    "{}",
    "[500]",
]
LEVELS = [
    '"error"',
    '"info"',
    '"fatal"',
    '"err\\u006fr"',
    "50",
    "30",
    "50.0",
    "true",
    "false",
    "null",
    '"50"',
    "60",
]
ORGS = [
    '"acme"',
    '"acme" ',
    '"a-b_c"',
    '"Acme"',
    '"a b"',
    '"org.1"',
    '""',
    "42",
    "-5",
    "1.5",
    "null",
    "true",
    '"\\u0061cme"',
    '"x' + "y" * 70 + '"',
    '"caf\u00e9"',
    "{}",
]
METHODS = ['"POST"', '"PUT"', '"GET"', '"post"', '"P\\u004fST"', "1"]
URLS = [
    '"/api/uploads"',
    '"/api/uploads/7?x=1"',
    '"/api/uploads?x=1"',
    '"/api/uploadsx"',
    '"/"',
    '"/api/uploads/a/b"',
    '"/api/upl\\u006fads"',
    "null",
]
OTHERS = [
    '"msg":"request completed"',
    '"msg":"caf\u00e9 \u2603"',
    '"msg":"say \\"time"',
    '"msg":"a \\ud83d\\ude00"',
    '"msg":"lone \\ud800"',
    '"tags":["a",{"b":1}]',
    '"err":{"status":503,"org_id":"nested","time":1}',
    '"n":1e400',
    '"deep":[[[[[]]]]]',
    '"x":"\\t\\/\\b"',
    '"bad":"\\q"',
    '"pid":1',
    '"raw":"a\tb"',
]

GOOD_TIME = '"2025-03-01T12:00:10Z"'
TWICE = [
    '"status":500',
    '"org_id":"zzz"',
    '"org_id":null',
    '"time":1740830431',
    '"level":"error"',
    '"a":{"time":"x"}',
    '"a":{"org_id":null}',
    '"a":{"org_id":"b"}',
    '"st\\u0061tus":500',
]
SEPARATORS = [":", ": ", " : ", ":\t"]
PREFIXES = [
    "",
    "",
    "",
    "2025-03-01T12:00:00: ",
    "2025-03-01 12:00:00.123+01:00: ",
    " ",
    "2025-03-01T12:00: ",
    "not json ",
]
ENDINGS = ["", "", "", " ", "\r", "\t", "x", ",", "}"]


def maybe(values: list[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.sampled_from(values))


Line = tuple[
    str, str | None, str | None, str | None, str | None, str | None, list[str], int, str, str, str
]
lines = st.lists(
    st.tuples(
        st.sampled_from(TIMES + [GOOD_TIME] * len(TIMES)),
        maybe(STATUSES),
        maybe(LEVELS),
        maybe(ORGS),
        maybe(METHODS),
        maybe(URLS),
        st.lists(st.sampled_from(OTHERS + TWICE), max_size=2),
        st.integers(0, 7),  # the order of the keys
        st.sampled_from(SEPARATORS),
        st.sampled_from(PREFIXES),
        st.sampled_from(ENDINGS),
    ),
    min_size=1,
    max_size=40,
)


def line_of(line: Line, nested: bool) -> bytes:
    """One line; ``nested``: status under ``res``, method and url under ``req`` (pino)."""
    time, status, level, org, method, url, others, order, sep, prefix, ending = line

    def pair(key: str, value: str) -> str:
        return f'"{key}"{sep}{value}'

    parts = [pair("time", time)]
    parts += [pair(k, v) for k, v in (("level", level), ("org_id", org)) if v is not None]
    request = [pair(k, v) for k, v in (("method", method), ("url", url)) if v is not None]
    if nested:
        if request:
            parts.append(pair("req", "{" + ",".join(request) + "}"))
        if status is not None:
            parts.append(pair("res", "{" + pair("statusCode", status) + "}"))
    else:
        parts += request + ([pair("status", status)] if status is not None else [])
    parts += [other.replace(":", sep, 1) for other in others]
    parts = parts[order % len(parts) :] + parts[: order % len(parts)]
    if order >= 4:
        parts.reverse()
    return (prefix + "{" + ",".join(parts) + "}" + ending).encode()


# Where each layout keeps the request: flat keys, one "METHOD PATH" string, pino's objects.
KEYS = {
    "flat": {"status": "status", "method": "method", "route": "url"},
    "request": {"status": "status", "request": "url"},
    "nested": {"status": "res.statusCode", "method": "req.method", "route": "req.url"},
}


def app_format(organization: str, compiled: bool, layout: str = "flat") -> JsonFormat:
    fields = JsonFields(time="time", level="level", organization=organization, **KEYS[layout])
    return JsonFormat(fields, UPLOADS, ["error", "fatal", 50, 60], compiled=compiled)


def test_the_scanner_is_built() -> None:
    """`make test` installs a C compiler, so the scanner must be what the tests count with."""
    if os.environ.get("CALMOPS_NO_SCANNER") == "1":
        pytest.skip("CALMOPS_NO_SCANNER=1: counting without the scanner")
    assert SCANNER is not None
    assert app_format("org_id", True).block_scan() is not None
    assert app_format("org_id", False).block_scan() is None


GOOD: Line = (GOOD_TIME, "500", None, '"acme"', None, None, [], 0, ":", "", "")
LAYOUTS = st.sampled_from(sorted(KEYS))


# Lines beyond the regex path's contract (a key twice in a line): the scanner's to count.
@pytest.mark.skipif(SCANNER is None, reason="the compiled scanner is not in use")
@settings(max_examples=400, deadline=None)
@given(lines, st.sampled_from([64, 4096, 1 << 20]), st.booleans(), LAYOUTS)
@example([GOOD], 4096, True, "flat")
@example([(*GOOD[:6], ['"a":{"org_id":null}'], *GOOD[7:])], 64, True, "nested")
@example([(*GOOD[:6], ['"status":500'], *GOOD[7:])], 64, False, "flat")
@example([(*GOOD[:6], ['"msg":"lone \\ud800"'], *GOOD[7:])], 64, False, "flat")
@example([("1740830431123", *GOOD[1:6], ['"a":{"time":"x"}'], 4, *GOOD[8:])], 64, False, "nested")
@example([(*GOOD[:6], ['"a":{"org_id":null}'], 4, *GOOD[8:])], 64, True, "nested")
@example([(*GOOD[:3], None, *GOOD[4:6], ['"a":{"org_id":"b"}'], *GOOD[7:])], 64, True, "flat")
@example([(GOOD[0], None, *GOOD[2:6], ['"st\\u0061tus":500'], *GOOD[7:])], 64, False, "flat")
@example([(*GOOD[:3], '"acme" ', *GOOD[4:])], 64, True, "flat")
@example([(*GOOD[:4], '"POST"', '"/api/uploads?x=1"', *GOOD[6:])], 64, False, "flat")
def test_the_scanner_counts_every_line_as_parse_does(
    found: list[Line], block: int, orgs: bool, layout: str
) -> None:
    text = b"".join(line_of(line, layout == "nested") + b"\n" for line in found)
    org = "org_id" if orgs else ""
    scanned, plain = app_format(org, True, layout), app_format(org, False, layout)
    assert count_in_blocks(scanned, text, block) == line_by_line(plain, text)


def test_the_scanner_counts_what_it_is_sure_of_and_leaves_the_rest() -> None:
    """It must not leave everything to Python: plain lines are counted in C."""
    plain = b'{"time":"2025-03-01T12:00:31Z","status":500,"level":"error","org_id":"acme"}\n'
    upload = b'{"time":"2025-03-01T12:00:32Z","status":413,"method":"PUT","url":"/api/uploads/1"}\n'
    odd = b'{"time":"2025-03-01T12:00:33Z","status":200,"status":500}\n'
    text = plain + upload + odd + b"Error: a stack line\n"
    scan = app_format("org_id", True).block_scan()
    if scan is None:
        pytest.skip("the scanner is not built")
    counts, left, before = scan(text, len(text))
    minute = 29_013_840  # 2025-03-01T12:00Z in epoch minutes
    assert counts == {(minute, b"acme"): [1, 1, 1, 0, 0], (minute, None): [1, 0, 0, 1, 1]}
    assert left == [len(plain + upload), len(plain + upload + odd)]
    assert before == [minute, minute]


def test_the_scanner_refuses_what_it_cannot_read_safely() -> None:
    """It reads with the GIL released and at fixed offsets: a buffer that may change, or a
    spec whose keys or variables are not what they claim, is an error, never a read."""
    if SCANNER is None:
        pytest.skip("the scanner is not built")
    paths = ((b"status",), (), (), (), (), (b"time",))
    spec = (paths, None, b'"time"', (), (), (), (), (), True)
    line = b'{"time":"2025-03-01T12:00:31Z","status":503}\n'
    assert SCANNER.scan_json(line, len(line), spec)[0] == {(29_013_840, None): [1, 1, 0, 0, 0]}
    with pytest.raises(TypeError, match="bytes"):
        SCANNER.scan_json(bytearray(line), len(line), spec)
    with pytest.raises(ValueError, match="stop"):
        SCANNER.scan_json(line, len(line) + 1, spec)
    for short in ((paths, None, b'"', *spec[3:]), (paths, b"x", *spec[2:])):
        with pytest.raises(ValueError, match="key"):
            SCANNER.scan_json(line, len(line), short)
    # nginx: the status index pointing at a variable that is not $status.
    elements = ((3, b""), (0, b" "), (7, b""), (0, b" "), (6, b""))
    nginx = (elements, False, (0, 0, 1, -1, -1, -1, -1), (), (), ())
    with pytest.raises(ValueError, match="kinds"):
        SCANNER.scan_nginx(b"x\n", 2, nginx)
