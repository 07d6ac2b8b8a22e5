"""calmopsd init: a starting config from a real nginx (nginx -T on its conf, or its files) and a
real PM2 (its socket and dump.pm2), checked by loading it with the real loader; an existing file
kept without --force; a host with nothing still gets a valid config saying what was not found."""

from __future__ import annotations

import http.client
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from support.nginx import LOOPBACK, Nginx, free_port
from support.pm2 import Pm2, wait_for
from support.process import calmopsd
from test_layout import calmopsd_imports

from calmopsd.cli.init import initialize, write
from calmopsd.config import Config, load_config
from calmopsd.config.logs import NginxSourceConfig, UploadsConfig
from calmopsd.customers.served import ServedNames
from calmopsd.discover import Host, nginx_server_names, pm2_daemons
from calmopsd.discover.document import Item, Key, render
from calmopsd.discover.nginx_conf import DumpFiles, parse
from calmopsd.discover.pm2 import Pm2Host, daemon_home
from calmopsd.discover.pm2 import discover as discover_pm2
from calmopsd.record.database import Database
from calmopsd.sense.logs.lines import Uploads
from calmopsd.sense.logs.watcher import line_format
from calmopsd.serve.messages import message_rules

MAIN = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_x_org_id"'
)
CONF = """\
{user}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log notice;
events {{ worker_connections 64; }}
http {{
    log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                    '$status $body_bytes_sent "$http_x_org_id"';
    log_format jsonlog escape=json '{{"ts":"$time_iso8601","code":$status,'
                                   '"req":"$request","took":$request_time}}';
    log_format nostatus '$remote_addr [$time_local] "$request"';
    access_log {prefix}/logs/access.log main;
    access_log syslog:server=127.0.0.1:9 main;
    client_body_temp_path {prefix}/temp/body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    server {{
        listen {host}:{port};
        location / {{ return 200 "up"; }}
        server_name _ *.shop.example ~^(?<org>.+)\\.example$;
    }}
    include sites/*.conf;
}}
"""
SITE = """\
# the API, in a file of its own: its access logs replace the http block's
server {{
    listen {host}:{api_port};
    access_log {prefix}/logs/api.json.log jsonlog;
    access_log {prefix}/logs/$server_port.bare.log nostatus;
    location = /healthz {{ return 200 "ok"; }}
    location /broken {{ return 502 "bad gateway"; }}
    location /quiet {{ access_log off; return 200 "shh"; }}
    server_name api.internal.example grafana-acme;
}}
"""
WEB_JS = """\
const http = require('http');
http.createServer((req, res) => {
  res.statusCode = req.url === '/health' ? 200 : 404;
  res.end('ok');
}).listen(Number(process.env.PORT), '127.0.0.1');
"""


class SiteNginx(Nginx):
    """The support nginx with this test's conf: three log formats, an included site file."""

    def __init__(self, prefix: Path):
        super().__init__(prefix)
        self.api_port = free_port()

    def write_conf(
        self, body: str = "up", extra_port: int | None = None, broken: bool = False
    ) -> None:
        values = {"user": "user root root;" if os.geteuid() == 0 else "", "prefix": self.prefix,
                  "host": LOOPBACK, "port": self.port, "api_port": self.api_port}  # fmt: skip
        (self.prefix / "sites").mkdir(exist_ok=True)
        (self.prefix / "sites" / "api.conf").write_text(SITE.format(**values), encoding="utf-8")
        self.conf.write_text(CONF.format(**values), encoding="utf-8")


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[SiteNginx]:
    server = SiteNginx(tmp_path / "nginx")
    try:
        server.start()
        yield server
    finally:
        server.stop()
    assert server.leftovers() == []


@pytest.fixture
def pm2(tmp_path: Path) -> Iterator[tuple[Pm2, int]]:
    """api (cluster, 2), web (PORT, answers /health), mail-worker, report-jobs (dump.pm2 only)."""
    daemon = Pm2(tmp_path / "pm2")
    try:
        daemon.start_daemon()
        port = free_port()
        web = daemon.app("web")
        web.script.write_text(WEB_JS, encoding="utf-8")
        daemon.start(daemon.app("api"), "-i", "2")
        daemon.start(web, PORT=str(port))
        daemon.start(daemon.app("mail-worker"))
        daemon.start(daemon.app("report-jobs"))
        daemon.run("save")
        daemon.run("delete", "report-jobs")
        wait_for(lambda: _get(port, "/health")[0] == 200, "web answering /health")
        yield daemon, port
    finally:
        daemon.kill()
    assert daemon.leftovers() == []


def test_it_writes_what_a_real_nginx_and_pm2_run_and_the_loader_accepts_it(
    tmp_path: Path, nginx: SiteNginx, pm2: tuple[Pm2, int]
) -> None:
    daemon, web_port = pm2
    out = tmp_path / "etc" / "calmops.yaml"
    out.parent.mkdir()
    result = calmopsd("init", "--output", str(out), "--pm2-home", str(daemon.home),
                      "--nginx-conf", str(nginx.conf),
                      "--nginx-prefix", str(nginx.prefix))  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    config = load_config(out)
    assert result.stdout.splitlines() == [
        f"wrote {out}: 4 PM2 apps ({daemon.home}), 2 nginx log sources (and 1 commented out: "
        f"unreadable), {len(config.sensing.disk.mounts)} mounts, 2 health checks",
        f"Review each guess (marked in a comment), then: calmopsd check-config {out}",
    ]
    prefix, conf = nginx.prefix, nginx.conf
    assert config.actions.mode == "shadow"
    assert config.actions.pm2_restart.apps == ["api", "web", "mail-worker", "report-jobs"]
    assert config.actions.pause_jobs.apps == ["mail-worker", "report-jobs"]
    assert (config.sensing.pm2.home, config.sensing.pm2.user) == (daemon.home, "root")
    assert (config.actions.nginx.conf, config.actions.nginx.prefix) == (conf, prefix)
    assert config.actions.nginx.pid_file == prefix / "nginx.pid"
    assert config.actions.nginx.error_log == prefix / "logs" / "error.log"
    assert Path("/") in config.sensing.disk.mounts
    main, as_json = config.logs.nginx
    assert (main.name, main.paths, main.format, main.organization) == (
        "nginx-main", [prefix / "logs" / "access.log"], MAIN, "http_x_org_id",
    )  # fmt: skip
    assert (as_json.name, as_json.paths, as_json.format, as_json.organization) == (
        "nginx-jsonlog", [prefix / "logs" / "api.json.log"], "json", "",
    )  # fmt: skip
    fields = as_json.fields
    assert (fields.time, fields.status, fields.request) == ("ts", "code", "req")
    checks = [(c.name, c.url, c.via_nginx) for c in config.sensing.http.checks]
    assert checks == [
        ("nginx", f"http://127.0.0.1:{nginx.api_port}/healthz", True),
        ("web", f"http://127.0.0.1:{web_port}/health", False),
    ]
    said = _comments(out.read_text(encoding="utf-8"))
    for comment in (
        f"- nginx: nginx -T -p {prefix} -c {conf}",
        f"- PM2: the daemon's socket {daemon.home}/rpc.sock and {daemon.home}/dump.pm2",
        f"guessed from nginx -T: access_log {prefix}/logs/access.log main ({conf}:13) "
        f"log_format main ({conf}:8) organization: http_x_org_id is a guess from its name.",
        f"guessed from nginx -T: access_log {prefix}/logs/api.json.log jsonlog "
        f"({prefix}/sites/api.conf:4) log_format jsonlog, escape=json ({conf}:10)",
        f"access_log syslog:server=127.0.0.1:9 main ({conf}:14): sent to syslog, not a file "
        "calmopsd can read",
        f"Not read: nginx-nostatus ({prefix}/logs/*.bare.log): format must hold $status. "
        f'- name: "nginx-nostatus" paths: - "{prefix}/logs/*.bare.log"',
        f"guessed from nginx -T: location = /healthz ({prefix}/sites/api.conf:6) answered 200 "
        "when calmopsd init tried it",
        f"guessed from PM2: PORT={web_port} in the environment of web answered 200",
        "Review before enforcing: calmopsd may restart each of these",
        '- "api"  # cluster_mode, 2 instances: reloaded one by one',
        "A guess from their names (worker, queue, jobs, cron…) and no PORT",
        f'guessed: the PM2_HOME of a running PM2 daemon home: "{daemon.home}"',
    ):
        assert comment in said
    # Not told where: the daemon in the process table says where its home is.
    around = discover_pm2(Pm2Host(None, {}, pm2_daemons, lambda: [], timeout_s=10))
    assert str(daemon.home) in around.looked_at
    text = out.read_text(encoding="utf-8")
    assert '- "report-jobs"  # fork_mode: restarted (a brief gap); saved in dump.pm2, not ' in text
    checked = calmopsd("check-config", str(out))
    assert (checked.returncode, checked.stdout) == (0, "config OK\n")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in out.parent.iterdir()) == ["calmops.yaml"]


def test_the_guessed_formats_read_the_lines_that_nginx_really_writes(
    tmp_path: Path, nginx: SiteNginx
) -> None:
    out = tmp_path / "calmops.yaml"
    initialize(_host(tmp_path, nginx.conf, nginx.prefix, "nginx"), out, False)
    main, as_json = load_config(out).logs.nginx
    for org in ("acme", "acme", "globex"):
        _get(nginx.port, "/", {"X-Org-Id": org})
    for path in ("/healthz", "/broken", "/broken", "/quiet"):
        _get(nginx.api_port, path)
    # The oracle: nginx's own lines, once they are all written.
    main_lines = _lines(nginx.prefix / "logs" / "access.log", at_least=3)
    json_lines = _lines(nginx.prefix / "logs" / "api.json.log", at_least=3)
    assert [_count(main, line)[:2] for line in main_lines[-3:]] == [
        ("acme", 1), ("acme", 1), ("globex", 1),
    ]  # fmt: skip
    assert [_count(as_json, line)[1:] for line in json_lines[-3:]] == [(1, 0), (1, 1), (1, 1)]


def test_without_nginx_T_it_reads_the_conf_files_nginx_would_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = SiteNginx(tmp_path / "nginx")
    server.write_conf()  # never started: nothing answers its health location either
    out = tmp_path / "calmops.yaml"
    initialize(_host(tmp_path, server.conf, server.prefix, "/bin/false"), out, False)
    config = load_config(out)
    assert [(s.name, s.format) for s in config.logs.nginx] == [
        ("nginx-main", MAIN), ("nginx-jsonlog", "json"),
    ]  # fmt: skip
    assert config.sensing.http.checks == []
    said = _comments(out.read_text(encoding="utf-8"))
    for comment in (
        f"- nginx: nginx's config files from {server.conf}, as nginx -T failed (exit 1)",
        f"guessed from nginx's config files: access_log {server.prefix}/logs/access.log main",
        f"Not switched on: http://127.0.0.1:{server.api_port}/healthz: guessed from nginx's "
        f"config files: location = /healthz ({server.prefix}/sites/api.conf:6); did not pass "
        f"when calmopsd init tried it: connection_refused: http://127.0.0.1:{server.api_port}",
        f'- name: "nginx" url: "http://127.0.0.1:{server.api_port}/healthz" through_nginx: true',
        "- a health URL that answered 200 (the ones tried are commented out)",
    ):
        assert comment in said
    assert config.actions.nginx.binary == "/bin/false"  # not the nginx on PATH
    assert capsys.readouterr().out.startswith(f"wrote {out}: no PM2, 2 nginx log sources")


def test_a_host_with_nothing_gets_a_valid_minimal_config_saying_what_was_not_found(
    tmp_path: Path,
) -> None:
    out = tmp_path / "calmops.yaml"
    nothing = _host(tmp_path, None, None, None)
    initialize(nothing, out, False)
    config = load_config(out)
    assert config.actions.mode == "shadow"
    assert (config.actions.pm2_restart.apps, config.logs.nginx, config.sensing.http.checks) == (
        [], [], [],
    )  # fmt: skip
    assert config.sensing.pm2.home is None
    assert Path("/") in config.sensing.disk.mounts
    text = out.read_text(encoding="utf-8")
    assert "\n#\n# Not found:\n# - PM2: " in text
    said = _comments(text)
    for comment in (
        f"Not found: - PM2: no running daemon and no dump.pm2 (looked at: {tmp_path}/no-pm2) "
        "- a health URL: no nginx location like /health, no PM2 app with a PORT "
        f"- nginx: no nginx program found, and {tmp_path}/no-access.log does not exist",
        "pm2: none found; the pm2 sampler says not_running until PM2 runs (set home).",
        "http: no health URL found; add yours under checks.",
        "logs: no nginx access log found; add yours under logs.nginx or logs.apps.",
    ):
        assert comment in said
    assert "Read:" not in said


def test_without_nginx_an_existing_default_access_log_is_offered_as_combined(
    tmp_path: Path,
) -> None:
    (tmp_path / "no-access.log").write_text("", encoding="utf-8")
    out = tmp_path / "calmops.yaml"
    initialize(_host(tmp_path, None, None, None), out, False)
    (source,) = load_config(out).logs.nginx
    assert (source.name, source.paths, source.format) == (
        "nginx", [tmp_path / "no-access.log"], "combined",
    )  # fmt: skip
    said = _comments(out.read_text(encoding="utf-8"))
    assert (
        f"no nginx config could be read, but {tmp_path}/no-access.log exists; combined is a guess"
        in said
    )
    assert f"- nginx: only {tmp_path}/no-access.log (no nginx program found)" in said


def test_an_existing_file_is_kept_without_force_and_replaced_with_its_mode_with_it(
    tmp_path: Path,
) -> None:
    out = tmp_path / "calmops.yaml"
    out.write_text("state_dir: mine\n", encoding="utf-8")
    out.chmod(0o604)
    args = ("init", "--output", str(out), "--pm2-home", str(tmp_path / "no-pm2"),
            "--nginx-binary", str(tmp_path / "no-nginx"))  # fmt: skip
    kept = calmopsd(*args)
    assert (kept.returncode, kept.stdout) == (1, "")
    assert kept.stderr == (
        f"init: {out} exists and was kept; --force replaces it, --output - prints the draft\n"
    )
    assert out.read_text(encoding="utf-8") == "state_dir: mine\n"
    forced = calmopsd(*args, "--force")
    assert (forced.returncode, forced.stderr) == (0, "")
    assert out.read_text(encoding="utf-8").startswith("# calmopsd configuration, written by")
    assert stat.S_IMODE(out.stat().st_mode) == 0o604
    assert load_config(out).actions.mode == "shadow"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calmops.yaml"]


def test_a_symlink_is_kept_even_with_force(tmp_path: Path) -> None:
    """Found by a tester: --force replaced the link with a file of its own, so the
    file it pointed at (kept by config management) was no longer the one read."""
    managed = tmp_path / "managed.yaml"
    managed.write_text("state_dir: mine\n", encoding="utf-8")
    link = tmp_path / "calmops.yaml"
    link.symlink_to(managed)
    args = ("init", "--output", str(link), "--pm2-home", str(tmp_path / "no-pm2"),
            "--nginx-binary", str(tmp_path / "no-nginx"), "--force")  # fmt: skip
    refused = calmopsd(*args)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        f"init: {link} is a symlink (to {managed}) and was kept; write its target with "
        "--output, or remove the link\n"
    )
    assert link.is_symlink() and managed.read_text(encoding="utf-8") == "state_dir: mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calmops.yaml", "managed.yaml"]


def test_a_file_that_appears_while_init_looks_is_kept_too(tmp_path: Path) -> None:
    out = tmp_path / "calmops.yaml"
    out.write_text("state_dir: theirs\n", encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        write(out, "actions:\n  mode: shadow\n", force=False)
    assert stopped.value.code == 1
    assert out.read_text(encoding="utf-8") == "state_dir: theirs\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calmops.yaml"]


def test_printing_writes_nothing(tmp_path: Path) -> None:
    printed = calmopsd("init", "--output", "-", "--pm2-home", str(tmp_path / "no-pm2"),
                       "--nginx-binary", str(tmp_path / "no-nginx"))  # fmt: skip
    assert (printed.returncode, printed.stderr) == (0, "")
    assert yaml.safe_load(printed.stdout)["actions"] == {"mode": "shadow"}
    assert list(tmp_path.iterdir()) == []


@given(value=st.text(), note=st.text())
def test_any_text_survives_the_document_as_a_value_and_as_a_comment(value: str, note: str) -> None:
    source = Item((Key("name", "web"), Key("format", value)), (note,))
    text = render((Key("logs", (Key("nginx", (source,), (note,)),)),), (note,))
    assert yaml.safe_load(text) == {"logs": {"nginx": [{"name": "web", "format": value}]}}


def _comments(text: str) -> str:
    """The document as one line, each line's leading ``#`` dropped: wrapped comments read whole."""
    lines = (line.strip().removeprefix("#").strip() for line in text.splitlines())
    return " ".join(line for line in lines if line)


def _host(tmp_path: Path, conf: Path | None, prefix: Path | None, binary: str | None) -> Host:
    return Host(
        nginx_binary=binary,
        nginx_conf=conf,
        nginx_prefix=prefix,
        pm2_homes=(tmp_path / "no-pm2",),
        default_access_log=tmp_path / "no-access.log",
    )


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=2)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    except OSError:
        return 0, ""
    finally:
        connection.close()


def _lines(path: Path, at_least: int) -> list[bytes]:
    def read() -> list[bytes] | None:
        lines = path.read_bytes().splitlines() if path.exists() else []
        return lines if len(lines) >= at_least else None

    return wait_for(read, f"{at_least} lines in {path}", timeout=10)


def _count(source: NginxSourceConfig, line: bytes) -> tuple[str | None, int, int]:
    counts = line_format(source, Uploads(UploadsConfig())).parse(line)
    assert counts is not None, line
    return counts.organization_id, counts.requests, counts.server_errors


def test_the_config_reader_keeps_quoted_semicolons_hashes_and_braced_variables_in_one_word() -> (
    None
):
    text = (
        "# configuration file /etc/nginx/nginx.conf:\n"
        "http { # a comment; with { braces }\n"
        '  log_format x \'"$request" ; # kept\' "${status}\\"";\n'
        "  include conf.d/*.conf;\n"
        "}\n\n"
        "# configuration file /etc/nginx/conf.d/a.conf:\n"
        "server { access_log /var/log/${host}.log x; }\n"
    )
    (http,) = parse(DumpFiles(text))
    log_format, server = http.block or ()
    assert (log_format.name, log_format.args) == (
        "log_format",
        ("x", '"$request" ; # kept', '${status}"'),
    )
    (access_log,) = server.children("access_log")
    assert (access_log.args, access_log.where) == (
        ("/var/log/${host}.log", "x"),
        "/etc/nginx/conf.d/a.conf:1",
    )


def test_discover_reads_the_host_and_nothing_of_the_daemon() -> None:
    package = Path(__file__).resolve().parents[2] / "calmopsd" / "discover"
    used = set().union(*(calmopsd_imports(path) for path in package.glob("*.py")))
    assert used <= {"discover", "config", "sense", "pm2files", "runner", "typed"}


def test_a_pm2_daemon_title_cut_short_is_read_from_its_environment() -> None:
    title = "PM2 v7.0.4: God Daemon ("
    assert daemon_home(title + "/tmp/calmops-bu", {"PM2_HOME": "/tmp/x/home"}) == Path(
        "/tmp/x/home"
    )
    assert daemon_home(title + "/home/app/.pm2)", {}) == Path("/home/app/.pm2")
    assert daemon_home(title + "/home/ap", {"HOME": "/home/app"}) == Path("/home/app/.pm2")
    assert daemon_home("node server.js", {"PM2_HOME": "/x"}) is None


@pytest.mark.parametrize("binary", ["nginx", "/bin/false"], ids=["nginx -T", "its files"])
def test_the_names_nginx_serves_are_internal_names_to_the_leak_check(
    tmp_path: Path, binary: str, database: Database
) -> None:
    """Every server_name nginx reads, from nginx -T or from its files (a site file too), is
    known to the leak check of customer messages. A dotted name is refused by its shape
    anyway; a one-label virtual host (``grafana-acme``) only nginx knows of."""
    server = SiteNginx(tmp_path / "nginx")
    server.write_conf()
    host = _host(tmp_path, server.conf, server.prefix, binary)
    served = nginx_server_names(host)
    assert served == (
        "_", "*.shop.example", "~^(?<org>.+)\\.example$", "api.internal.example", "grafana-acme",
    )  # fmt: skip

    text = "We are looking into slow pages on grafana-acme now."
    before = message_rules(Config(), database)  # what the check knew without nginx
    assert before.leaks(text, "acme") is None
    rules = message_rules(Config(), database, ServedNames(lambda: served))
    assert rules.leaks(text, "acme") == "It names an internal host: 'grafana-acme'."
    for name in ("api.internal.example", "shop.example"):
        refusal = rules.leaks(f"Slow pages on {name} now.", "acme")
        assert refusal is not None and name in refusal, name
    assert rules.leaks("We are looking into slow pages now.", "acme") is None
