"""Known.from_config: every place the config keeps a name, and what the host adds."""

from __future__ import annotations

import socket
from pathlib import Path

from leak_support import CORPUS, MACHINE, corpus_known

from calmopsd.config import Config, load_config
from calmopsd.customers.known import Known, machine_names
from calmopsd.customers.leaks import find_leaks


def test_it_gathers_every_name_the_config_holds() -> None:
    known = corpus_known()
    assert {"web-1", "web-1.prod.acme.internal", "db-primary.acme.internal", "db-primary"} <= (
        known.hostnames
    )
    assert {"hooks.ops.acme.internal", "ops-dashboard.acme.internal"} <= known.hostnames
    assert {"10.20.0.15", "127.0.0.1"} <= known.addresses
    assert {
        "/var/lib/calmopsd", "/srv/acme/tmp/uploads", "/srv/acme/storage",
        "/srv/acme/shared/pause-jobs.flag", "/etc/nginx/calmopsd/uploads-limit.conf",
        "/etc/nginx/calmopsd/organizations.map", "/run/nginx.pid", "/var/log/nginx/error.log",
        "/var/log/nginx/access.log", "/home/deploy/.pm2", "/home/deploy/.pm2/logs",
        "/run/calmopsd-helper/helper.sock", "/healthz", "access.log", "pause-jobs.flag",
    } <= known.paths  # fmt: skip
    assert "/" not in known.paths
    assert {
        "api", "web", "uploads-worker", "thumbnailer", "mailer-queue", "cron-sweeper",
        "deploy", "calmopsd", "nginx", "pm2", "edge-access", "api-json", "app-health",
        "public-home", "postgres-primary", "object-store",
    } <= known.processes  # fmt: skip
    assert known.organizations == {
        "globex", "initech", "Initech", "Globex Corporation", "Umbrella Health"
    }  # fmt: skip
    assert known.tokens == {"acme-oncall", "globex-viewer", "platform-admin", "local-cli"}
    assert {
        "upload_failures",
        "ops-webhook",
        "initech-chat",
        "calmopsd_uploads",
        "pm2_restart",
    } <= (known.internal_names)
    assert known.public == {"https://status.acme.example/", "support@acme.example"}
    assert known.own == {"acme"}


def test_a_secret_in_an_apprise_url_is_never_copied_as_a_host(tmp_path: Path) -> None:
    config = Config.model_validate(
        {"notify": {"targets": [{"name": "chat", "url": "slack://T1234ABCD/B5678EFGH/s3cretpart"}]}}
    )
    known = Known.from_config(config, machine=())
    assert "T1234ABCD" not in known.hostnames
    assert not any("s3cret" in name for name in known.hostnames)


def test_nginx_server_names_are_hosts_without_wildcards_or_first_labels() -> None:
    known = Known.from_config(
        Config(),
        hostnames=["app.acme.example", "*.cdn.acme.example", ".acme.example", "_", "~^x.*$"],
        machine=(),
    )
    assert known.hostnames == {"app.acme.example", "cdn.acme.example", "acme.example"}


def test_the_own_organization_is_taken_out_of_the_others_whatever_its_case() -> None:
    known = Known.from_config(
        Config(), organizations=["Acme", "globex"], own_organization="acme", machine=()
    )
    assert known.organizations == {"globex"}
    assert known.own == {"acme"}
    assert find_leaks("Acme and Globex.", known)[0].excerpt == "Globex"


def test_without_an_own_organization_every_organization_is_another_one() -> None:
    known = Known.from_config(Config(), organizations=["acme"], machine=())
    assert [leak.excerpt for leak in find_leaks("Acme uploads fail.", known)] == ["Acme"]


def test_this_machines_names_are_its_host_name_and_fully_qualified_name() -> None:
    names = machine_names()
    assert socket.gethostname() in names
    assert socket.getfqdn() in names
    assert Known.from_config(Config()).hostnames >= {socket.gethostname()}


def test_the_corpus_config_is_a_real_file_the_loader_takes() -> None:
    config = load_config(CORPUS / "calmops.yaml")
    assert config.actions.pm2_restart.apps == ["api", "web", "uploads-worker", "thumbnailer"]
    assert set(MACHINE) <= corpus_known().hostnames
