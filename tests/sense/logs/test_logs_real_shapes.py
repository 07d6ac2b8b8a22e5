"""Logs shaped as users' are: nginx's ``main`` and trailing fields under ``combined``, Fastify's
two lines per request, PM2 out logs mixing plain text with JSON (``--time`` prefixed).

Every count is checked against the truth the generator kept, fed in blocks as the tailer
feeds them, and through the real watcher on real files, rotated included.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import structlog
from logmaker import (
    START,
    LogMaker,
    app_line,
    app_source,
    combined,
    logs_config,
    nginx_source,
    truth_totals,
)
from support.clock import ManualClock  # type: ignore[import-not-found]
from test_logs_counts import UPLOADS, count, truth_of

from calmopsd.sense.logs import LogWatcher
from calmopsd.sense.logs.nginx import NginxFormat

NAMES = ("requests", "server_errors", "error_lines", "uploads", "upload_failures", "parse_errors")


def main_line(req: dict[str, object]) -> str:
    return combined(req)[:-1] + ' "198.51.100.7, 10.0.0.2"\n'


def trailing_lines(req: dict[str, object], i: int) -> str:
    """combined, main, a trailing space, and fields after it that look like a status."""
    shapes = (
        combined(req),
        main_line(req),
        combined(req)[:-1] + " \n",
        combined(req)[:-1] + ' 503 0.012 "-" upstream=" 502 "\n',
        combined(req)[:-1] + '\t"POST /api/uploads/1 HTTP/1.1" 201\n',
    )
    return shapes[i % len(shapes)] if i % 3 else shapes[0]


@pytest.mark.parametrize("block", [300, 4096, 1 << 20])
@pytest.mark.parametrize("shape", ["main", "mixed"])
def test_combined_is_read_as_a_prefix(block: int, shape: str) -> None:
    maker = LogMaker(seed=21)
    lines = []
    for i, at in enumerate(maker.times(3000)):
        req = maker.request(at)
        maker.account(req)
        lines.append(main_line(req) if shape == "main" else trailing_lines(req, i))
    found = count(NginxFormat("combined", UPLOADS), "".join(lines).encode(), block)
    assert found == truth_of(maker)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("block", [300, 1 << 20])
def test_crlf_lines_under_combined_count_exactly(block: int, compiled: bool) -> None:
    """Found by a tester: a combined line ending in CRLF was a parse error, its 5xx lost."""
    maker = LogMaker(seed=24)
    lines = []
    for i, at in enumerate(maker.times(2000)):
        req = maker.request(at)
        maker.account(req)
        lines.append(combined(req)[:-1] + ("\r\n" if i % 2 else "\n"))
    found = count(NginxFormat("combined", UPLOADS, compiled=compiled), "".join(lines).encode(),
                  block)  # fmt: skip
    assert found == truth_of(maker)


RETRIED = '$remote_addr [$time_local] "$request" $status "$http_x_org_id" $request_time '


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize(
    ("tail", "upstream"),
    [
        ("$upstream_response_time", "0.010, 0.020"),  # retried on a second upstream
        ("$upstream_response_time", "0.010 : 0.020"),  # an internal redirect
        ("$upstream_response_time $upstream_status", "0.010, 0.020 502, 502"),
        ('$upstream_response_time "$http_user_agent"', '0.010, 0.020 "curl/8"'),
    ],
)
def test_upstream_times_of_a_retried_request_count(
    tail: str, upstream: str, compiled: bool
) -> None:
    """Found by a tester: nginx writes one time per upstream tried (``0.010, 0.020``),
    exactly what a 502 burst makes, and each such line was a parse error."""
    line = (f'10.0.0.1 [01/Mar/2025:12:00:31 +0000] "GET /x HTTP/1.1" 502 "gamma" 0.030 '
            f"{upstream}\n").encode()  # fmt: skip
    fmt = NginxFormat(RETRIED + tail, UPLOADS, "http_x_org_id", compiled=compiled)
    found = count(fmt, line * 30, 4096)
    assert sum(v for (_, org, name), v in found.items() if name == "server_errors") == 30
    assert ("parse_errors",) not in found


def test_the_main_format_by_name_counts_exactly() -> None:
    maker = LogMaker(seed=22)
    lines = []
    for at in maker.times(2000):
        req = maker.request(at)
        maker.account(req)
        lines.append(main_line(req))
    assert count(NginxFormat("main", UPLOADS), "".join(lines).encode()) == truth_of(maker)


def test_main_lines_under_combined_count_on_a_rotated_real_file(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    config = logs_config(tmp_path, nginx=[nginx_source("web", log)])
    clock = ManualClock(START)
    maker = LogMaker(seed=23)

    def write(count: int, start_s: float) -> None:
        with log.open("a") as f:
            for at in maker.times(count, start=START + timedelta(seconds=start_s), spread_s=20):
                req = maker.request(at)
                maker.account(req)
                f.write(main_line(req))

    watcher = LogWatcher(config, clock)
    write(700, 0)
    watcher.poll()
    write(300, 20)
    log.rename(tmp_path / "access.log.1")  # logrotate's rename, then nginx reopens
    write(400, 40)
    clock.advance(timedelta(minutes=2))
    with structlog.testing.capture_logs() as logs:
        reading = watcher.poll()
    watcher.close()
    totals = reading.values["sources"]["web"]["totals"]
    assert totals == truth_totals(maker, NAMES)
    assert totals["requests"] == 1400 and totals["parse_errors"] == 0
    assert not [e for e in logs if e["event"] == "logs.unparsable"]


NGINX_MAIN_CONF = """\
{user}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log notice;
events {{ worker_connections 64; }}
http {{
    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';
    access_log {prefix}/logs/access.log main;
    client_body_temp_path {prefix}/temp/body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    server {{
        listen {host}:{port};
        location / {{ return 200 "up"; }}
        location /broken {{ return 502 "bad"; }}
    }}
}}
"""


def test_a_real_nginx_writing_main_is_read_in_it_as_nginx_T_says(tmp_path: Path) -> None:
    import os

    from support.nginx import LOOPBACK, Nginx
    from support.pm2 import wait_for

    from calmopsd.discover import Host, nginx_log_sources

    class MainNginx(Nginx):
        def write_conf(self, body: str = "up", extra_port: int | None = None,
                       broken: bool = False) -> None:  # fmt: skip
            values = {"user": "user root root;" if os.geteuid() == 0 else "",
                      "prefix": self.prefix, "host": LOOPBACK, "port": self.port}  # fmt: skip
            self.conf.write_text(NGINX_MAIN_CONF.format(**values), encoding="utf-8")

    server = MainNginx(tmp_path / "nginx")
    try:
        server.start()
        log = server.prefix / "logs" / "access.log"
        host = Host(server.binary, server.conf, server.prefix, (tmp_path / "no-pm2",))
        config = logs_config(tmp_path, nginx=[nginx_source("web", log)])  # left at combined
        clock = ManualClock(START)
        with structlog.testing.capture_logs() as logs:
            watcher = LogWatcher(config, clock, nginx_formats=lambda: nginx_log_sources(host))
        said = [e for e in logs if e["event"] == "logs.format_from_nginx"]
        assert said and said[0]["format"].endswith('"$http_x_forwarded_for"')
        for path in ("/", "/broken", "/", "/broken", "/"):
            server.get(path)
        wait_for(lambda: log.read_bytes().count(b"\n") >= 5 or None, "5 lines", timeout=10)
        written = log.read_bytes()
        assert written.count(b'"') == 8 * written.count(b"\n")  # nginx's own main lines
        clock.advance(timedelta(minutes=1))
        totals = watcher.poll().values["sources"]["web"]["totals"]
        watcher.close()
    finally:
        server.stop()
    assert totals["requests"] == written.count(b"\n") and totals["server_errors"] == 2
    assert totals["parse_errors"] == 0


# -- Fastify: two lines per request, joined by reqId ---------------------------------------

DATA = Path(__file__).parent / "data"
FASTIFY = {
    "time": "time",
    "status": "res.statusCode",
    "method": "req.method",
    "route": "req.url",
    "level": "level",
    "request_id": "reqId",
}


def fastify_lines(maker: LogMaker, count: int, start_s: float = 0, pid: int = 4242) -> list[str]:
    """Lines as Fastify 4.29's default logger (pino 9) writes them, requests interleaved;
    a failed upload also gets Fastify's error line (with res.statusCode) in between."""
    lines: list[str] = []
    open_requests: list[tuple[dict[str, object], str]] = []
    for i, at in enumerate(maker.times(count, start=START + timedelta(seconds=start_s))):
        req = maker.request(at)
        maker.account(req)
        rid = f"req-{maker.rnd.randrange(1 << 30):x}"
        ms = int(at.timestamp() * 1000)
        head = f'{{"level":30,"time":{ms},"pid":{pid},"hostname":"web-1","reqId":"{rid}"'
        lines.append(
            f'{head},"req":{{"method":"{req["method"]}","url":"{req["path"]}",'
            '"hostname":"127.0.0.1:3000","remoteAddress":"127.0.0.1","remotePort":50412},'
            '"msg":"incoming request"}\n'
        )
        open_requests.append((req, rid))
        if len(open_requests) > 3 or i == count - 1:  # complete a few later, out of order
            for done, done_id in reversed(open_requests):
                dhead = head.replace(rid, done_id)
                status = done["status"]
                if status in (500, 413):
                    lines.append(
                        dhead.replace('"level":30', '"level":50')
                        + f',"res":{{"statusCode":{status}}},"err":{{"type":"FastifyError",'
                        '"message":"x","stack":"Error: x\\n    at a.js:1:1",'
                        f'"statusCode":{status}}}'
                        ',"msg":"x"}\n'
                    )
                    maker.truth[(minute_of(at), None, "error_lines")] += 1
                lines.append(
                    f'{dhead},"res":{{"statusCode":{status}}},"responseTime":1.23456789,'
                    '"msg":"request completed"}\n'
                )
            open_requests.clear()
    return lines


def minute_of(at: object) -> int:
    from logmaker import minute_of as of

    return of(at)  # type: ignore[arg-type]


def test_fastify_lines_are_paired_by_request_id_so_uploads_count(tmp_path: Path) -> None:
    maker = LogMaker(seed=31)
    log = tmp_path / "api.log"
    log.write_text("".join(fastify_lines(maker, 900)))
    config = logs_config(tmp_path, apps=[app_source("api", log, fields=FASTIFY)])
    clock = ManualClock(START)
    watcher = LogWatcher(config, clock)
    watcher.poll()
    with log.open("a") as f:
        f.writelines(fastify_lines(maker, 400, start_s=20))
    log.rename(tmp_path / "api.log.1")  # rotated mid-traffic, pino reopens
    log.write_text("".join(fastify_lines(maker, 300, start_s=40, pid=4243)))
    clock.advance(timedelta(minutes=2))
    reading = watcher.poll()
    watcher.close()
    totals = reading.values["sources"]["api"]["totals"]
    truth = truth_totals(maker, NAMES)
    assert totals == truth
    assert truth["uploads"] > 50 and truth["upload_failures"] > 10


def test_the_real_fastify_log_counts_its_upload_and_failures(tmp_path: Path) -> None:
    """A log a real Fastify 4.29.1 app wrote (data/fastify4.log): GET /, GET /api/items?q=1,
    GET /boom (500, its error line between), GET /missing (404), POST /api/uploads/7 (201),
    POST /api/uploads/bad (502), POST /api/uploads/big past bodyLimit (413, its error line)."""
    from calmopsd.config.logs import UploadsConfig
    from calmopsd.sense.logs.jsonlines import JsonFields, JsonFormat
    from calmopsd.sense.logs.lines import Uploads

    keys = {k: v for k, v in FASTIFY.items()}
    fields = JsonFields(**keys)
    uploads = Uploads(UploadsConfig(routes=["/api/uploads/*"]))
    found = count(JsonFormat(fields, uploads, [50, 60]), (DATA / "fastify4.log").read_bytes())
    totals = {name: sum(v for k, v in found.items() if k[-1] == name) for name in NAMES}
    assert totals == {
        "requests": 7,
        "server_errors": 2,
        "error_lines": 1,
        "uploads": 3,
        "upload_failures": 2,
        "parse_errors": 0,
    }


def test_pairing_memory_is_bounded() -> None:
    from calmopsd.config.logs import UploadsConfig
    from calmopsd.sense.logs import jsonlines
    from calmopsd.sense.logs.jsonlines import JsonFields, JsonFormat
    from calmopsd.sense.logs.lines import Uploads

    line_format = JsonFormat(JsonFields(**FASTIFY), Uploads(UploadsConfig()))
    ms = int(START.timestamp() * 1000)
    for i in range(jsonlines.MAX_PENDING * 2):  # requests that never complete
        line_format.parse(
            f'{{"level":30,"time":{ms},"reqId":"req-{i}","req":{{"method":"POST",'
            '"url":"/upload"},"msg":"incoming request"}'.encode()
        )
    assert len(line_format._pending) == jsonlines.MAX_PENDING


# -- PM2 out logs: plain text among JSON, --time prefixes -----------------------------------

PM2_PLAIN = (
    "[dotenv@16.4.5] injecting env (12) from .env -- tip: encrypt with dotenvx\n",
    "(node:4242) Warning: Setting the NODE_TLS_REJECT_UNAUTHORIZED environment variable to "
    "'0' makes TLS connections and HTTPS requests insecure.\n",
    "Error: connect ECONNREFUSED 127.0.0.1:6379\n",
    "    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16) {\n",
    "  errno: -111,\n",
    "}\n",
    "{ code: 'ECONNREFUSED', port: 6379 }\n",
    "Server listening on :3000\n",
)


@pytest.mark.parametrize("prefixed", [False, True])
def test_pm2_out_logs_mixing_plain_text_and_json_count_without_parse_errors(
    tmp_path: Path, prefixed: bool
) -> None:
    maker = LogMaker(seed=32, orgs=("acme", "globex"))
    log = tmp_path / "web-out.log"
    lines = []
    for i, at in enumerate(maker.times(2000)):
        req = maker.request(at)
        maker.account(req)
        line = app_line(req)
        if i % 9 == 0:
            lines.append(PM2_PLAIN[i % len(PM2_PLAIN)])
        lines.append(line)
    if prefixed:  # pm2 start app.js --time: dayjs 'YYYY-MM-DDTHH:mm:ss' of the host's clock
        lines = [f"2025-03-01T13:{i % 60:02d}:{i % 60:02d}: {line}" for i, line in enumerate(lines)]
    log.write_text("".join(lines))
    fields = {"organization": "org_id"}
    config = logs_config(tmp_path, apps=[app_source("web", log, fields=fields)])
    clock = ManualClock(START)
    with structlog.testing.capture_logs() as logs:
        watcher = LogWatcher(config, clock)
        clock.advance(timedelta(minutes=11))
        reading = watcher.poll()
        watcher.close()
    totals = reading.values["sources"]["web"]["totals"]
    assert totals == truth_totals(maker, NAMES)
    assert totals["parse_errors"] == 0
    assert not [e for e in logs if e["event"] in ("logs.unparsable", "logs.nothing_parsed")]
    assert reading.values["sources"]["web"]["unparsable"] is False


def test_an_app_log_of_plain_text_only_says_it_parses_nothing(tmp_path: Path) -> None:
    from calmopsd.sense.attention import saw

    log = tmp_path / "web-out.log"
    log.write_text("".join(PM2_PLAIN) * 10)
    config = logs_config(tmp_path, apps=[app_source("web", log)])
    with structlog.testing.capture_logs() as logs:
        watcher = LogWatcher(config, ManualClock(START))
        reading = watcher.poll()
        watcher.close()
    assert [e["event"] for e in logs if e["event"].startswith("logs.")] == ["logs.nothing_parsed"]
    assert reading.values["sources"]["web"]["unparsable"] is True
    assert saw(reading) == "log lines not understood: web"


def test_a_combined_source_given_another_format_says_it_parses_nothing(tmp_path: Path) -> None:
    from calmopsd.sense.attention import saw

    log = tmp_path / "access.log"
    log.write_text('{"time":"2025-03-01T12:00:00Z","status":200}\n' * 50)
    config = logs_config(tmp_path, nginx=[nginx_source("web", log)])
    watcher = LogWatcher(config, ManualClock(START))
    reading = watcher.poll()
    watcher.close()
    assert reading.values["sources"]["web"]["totals"]["parse_errors"] == 50
    assert saw(reading) == "log lines not understood: web"


# -- nested JSON counted in bulk: equal to parsing every line -------------------------------


def line_by_line(line_format: object, text: bytes) -> Counter[tuple[object, ...]]:
    """The slow truth: every line parsed on its own."""
    from calmopsd.sense.logs.lines import OTHER

    found: Counter[tuple[object, ...]] = Counter()
    for line in text.split(b"\n")[:-1]:
        counts = line_format.parse(line)  # type: ignore[attr-defined]
        if counts is None:
            found[("parse_errors",)] += 1
        elif counts is not OTHER:
            for name, value in zip(NAMES[:-1], counts[2:], strict=True):
                if value:
                    found[(counts.minute, counts.organization_id, name)] += value
    return found


def pino_http_line(maker: LogMaker, req: dict[str, object], i: int) -> str:
    at = req["at"]
    ms = int(at.timestamp() * 1000)  # type: ignore[attr-defined]
    status = req["status"]
    org = f',"orgId":"{req["org"]}"' if req["org"] else ""
    err = ""
    if i % 13 == 0:  # an http-errors error: its own statusCode and status
        err = f',"err":{{"type":"HttpError","message":"x","statusCode":{status},"status":{status}}}'
    res = f',"res":{{"statusCode":{status},"headers":{{"x-level":"50"}}}}' if i % 17 else ""
    level = 50 if status >= 500 else 30  # type: ignore[operator]
    nested_level = ',"ctx":{"level":50}' if i % 19 == 0 else ""
    return (
        f'{{"level":{level},"time":{ms},"pid":1,"hostname":"h"{org},"req":{{"id":{i},'
        f'"method":"{req["method"]}","url":"{req["path"]}","headers":{{"host":"x"}}}}'
        f'{res}{err}{nested_level},"responseTime":3,"msg":"request completed"}}\n'
    )


@pytest.mark.parametrize("orgs", [(), ("acme", "globex")])
@pytest.mark.parametrize("block", [4096, 1 << 20])
def test_pino_http_nested_lines_count_in_bulk_as_parsed_one_by_one(
    orgs: tuple[str, ...], block: int
) -> None:
    from calmopsd.sense.logs.jsonlines import JsonFields, JsonFormat

    maker = LogMaker(seed=33, orgs=orgs)
    text = "".join(
        pino_http_line(maker, maker.request(at), i) for i, at in enumerate(maker.times(3000))
    ).encode()
    fields = JsonFields(
        time="time",
        status="res.statusCode",
        method="req.method",
        route="req.url",
        level="level",
        organization="orgId" if orgs else "",
    )
    found = count(JsonFormat(fields, UPLOADS, [50, 60]), text, block)
    assert found == line_by_line(JsonFormat(fields, UPLOADS, [50, 60]), text)
    assert sum(v for k, v in found.items() if k[-1] == "requests") == 3000 - 3000 // 17 - 1
