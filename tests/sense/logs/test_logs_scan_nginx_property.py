"""The compiled scanner counts every nginx line as parse() does, in every format.

Lines are written from a format by giving each variable a value drawn from pieces that sit
on the edges of the line regex: values with spaces, escaped and raw quotes, dashes, empty
values, statuses out of shape, times parse refuses (a month nginx never writes, day 32, an
hour of 24), msec with too many decimals, requests with two spaces or no protocol, upload
routes with queries, and text after the last field (which ``combined`` accepts and other
formats refuse). Whatever the scanner counts and leaves, the block's counts must equal
parsing each line on its own.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_logs_bulk_property import (
    CUSTOM,
    CUSTOM_MIDDLE,
    UPLOADS,
    count_in_blocks,
    line_by_line,
)

from calmopsd.config.logs import NAMED_FORMATS
from calmopsd.sense.logs.compiled import SCANNER
from calmopsd.sense.logs.nginx import NginxFormat

FORMATS = {
    "combined": "combined",
    "main": "main",
    "custom": CUSTOM,
    "custom_middle": CUSTOM_MIDDLE,
    "iso": '$time_iso8601 $remote_addr "$request_method $request_uri" $status $request_time '
    "$upstream_response_time $http_x_org",
    "msec": '$msec|$status|$request_method|$uri|"$http_x_org"|$bytes_sent|$pipe|$connection',
    "lazy": "[$time_local] $request $status $http_x_org$remote_user end",
}
ORGANIZATION = {"custom": "http_x_org_id", "custom_middle": "http_x_org", "iso": "http_x_org",
                "msec": "http_x_org", "lazy": "http_x_org", "combined": "remote_user",
                "main": "http_x_forwarded_for"}  # fmt: skip
GOOD = {
    "time_local": "01/Mar/2025:12:00:31 +0000",
    "time_iso8601": "2025-03-01T12:00:31+00:00",
    "msec": "1740830431.123",
    "status": "500",
    "request": "POST /api/uploads HTTP/1.1",
    "request_method": "POST",
    "request_uri": "/api/uploads",
    "uri": "/api/uploads/7",
}
VALUES = {
    "time_local": ["01/Mar/2025:12:00:31 +0000", "01/Mar/2025:13:30:31 +0130",
                   "28/Feb/2025:23:59:59 -0800", "01/Foo/2025:12:00:31 +0000",
                   "32/Mar/2025:12:00:31 +0000", "01/Mar/2025:24:00:31 +0000",
                   "01/Mar/2025:12:00:31"],
    "time_iso8601": ["2025-03-01T12:00:31+00:00", "2025-03-01T12:00:31Z",
                     "2025-03-01T13:00:31+01:00", "2025-03-01 12:00:31+00:00",
                     "2025-13-01T12:00:31Z"],
    "msec": ["1740830431.123", "1740830431.1", "1740830431.1234", "174083043.5", "12.5",
             "1740830431", "1740830431123.5"],
    "status": ["200", "500", "503", "413", "099", "5000", "abc", "-"],
    "request": ["GET / HTTP/1.1", "POST /api/uploads HTTP/1.1", "PUT /api/uploads/7?x=1 HTTP/2.0",
                "POST /api/uploads?x=1 HTTP/1.1", "POST  /api/uploads HTTP/1.1",
                "POST /api/uploads", "-", "GARBAGE", 'POST /api/uploads/a\\x22b HTTP/1.1',
                "POST /api/uploadsx HTTP/1.1", 'POST /a" 500 "b HTTP/1.1'],
    "request_method": ["POST", "PUT", "GET", "-", ""],
    "request_uri": ["/api/uploads", "/api/uploads/1?x=1", "/", "/api/uploads?x", "-"],
    "uri": ["/api/uploads/7", "/api/uploads", "/x", ""],
    "remote_addr": ["10.0.0.1", "::1", "", "a b"],
    "body_bytes_sent": ["512", "-", "0", "x"],
    "bytes_sent": ["512", "-", "12a"],
    "request_time": ["0.123", "-", "1.", "..", ""],
    "upstream_response_time": ["0.100", "-", "0.1, 0.2", "", "0.1 : 0.2, 0.3"],
    "pipe": ["p", ".", "x"],
    "connection": ["12", "", "1x"],
}  # fmt: skip
OTHER = ["-", "curl/8", "Mozilla/5.0 (X11)", "a b", "a\\x22b", "", '"', "acme", "a-b_c", "Acme",
         "x\\x22 500 y", "org.1", " 500 ", "end"]  # fmt: skip
ENDINGS = ["", "", "", " ", "\tx", ' "fwd"', "x", '"', "\r", ' "fwd"\r']

Choice = tuple[int, ...]
lines = st.lists(
    st.tuples(
        st.lists(st.integers(0, 1000), min_size=12, max_size=12),  # a pick for each variable
        st.integers(0, 3),  # 0: every variable as GOOD has it; else picked
        st.sampled_from(ENDINGS),
    ),
    min_size=1,
    max_size=40,
)
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def line_of(log_format: str, picks: list[int], mode: int, ending: str) -> bytes:
    text = NAMED_FORMATS.get(log_format, log_format)
    out, at = [], 0
    for n, match in enumerate(_VARIABLE.finditer(text)):
        name = match.group(1) or match.group(2)
        out.append(text[at : match.start()])
        pool = VALUES.get(name, OTHER)
        good = GOOD.get(name)
        pick = picks[n % len(picks)]
        out.append(good if mode == 0 and good is not None else pool[pick % len(pool)])
        at = match.end()
    out.append(text[at:])
    return ("".join(out) + ending).encode()


# Lines beyond the regex path's contract (a key twice in a line): the scanner's to count.
@pytest.mark.skipif(SCANNER is None, reason="the compiled scanner is not in use")
@settings(max_examples=250, deadline=None)
@given(lines, st.sampled_from(sorted(FORMATS)), st.sampled_from([64, 4096, 1 << 20]),
       st.booleans())  # fmt: skip
@example([([0] * 12, 0, "")], "combined", 4096, True)
@example([([0] * 12, 0, ' "fwd"')], "combined", 64, False)
@example([([1] * 12, 1, "")], "lazy", 64, True)
def test_the_scanner_counts_every_nginx_line_as_parse_does(
    found: list[tuple[list[int], int, str]], name: str, block: int, orgs: bool
) -> None:
    log_format = FORMATS[name]
    variable = ORGANIZATION[name] if orgs else ""
    text = b"".join(line_of(log_format, *line) + b"\n" for line in found)
    scanned = NginxFormat(log_format, UPLOADS, variable)
    plain = NginxFormat(log_format, UPLOADS, variable, compiled=False)
    assert count_in_blocks(scanned, text, block) == line_by_line(plain, text)


def test_the_scanner_counts_nginx_lines_it_is_sure_of() -> None:
    scan = NginxFormat("combined", UPLOADS, "remote_user").block_scan()
    if scan is None:
        pytest.skip("the scanner is not built")
    good = (
        b'10.0.0.1 - acme [01/Mar/2025:12:00:31 +0000] "PUT /api/uploads/1 HTTP/1.1" 413 5 '
        b'"-" "curl/8" "fwd"\n'
    )
    bad = b'10.0.0.1 - acme [01/Foo/2025:12:00:31 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"\n'
    counts, left, before = scan(good + bad, len(good + bad))
    assert counts == {(29_013_840, b"acme"): [1, 0, 0, 1, 1]}
    assert left == [len(good)]
    assert before == [29_013_840]
