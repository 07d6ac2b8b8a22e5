"""The sensing section's own rules: unique names, sane PM2 user and binary, URLs never echoed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from calmopsd.config import load_config
from calmopsd.config.sensing import url_origin
from calmopsd.errors import ConfigError

NAME = "calmops.yaml"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def problems_for(text: str) -> list[str]:
    Path(NAME).write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(Path(NAME))
    return raised.value.problems


def loads(text: str) -> None:
    Path(NAME).write_text(textwrap.dedent(text), encoding="utf-8")
    load_config(Path(NAME))


def test_two_health_checks_with_one_name_are_refused() -> None:
    text = """\
        sensing:
          http:
            checks:
              - {name: app, url: "http://127.0.0.1:3000/health"}
              - {name: api, url: "http://127.0.0.1:3001/health"}
              - {name: app, url: "http://127.0.0.1:3002/health"}
        """
    assert problems_for(text) == [
        "calmops.yaml:6: sensing.http.checks[2].name: duplicate name 'app' (entries [0] and [2])"
    ]


def test_two_dependency_probes_with_one_name_are_refused() -> None:
    text = """\
        sensing:
          dependencies:
            probes:
              - {name: db, host: 127.0.0.1, port: 5432}
              - {name: db, host: 127.0.0.1, port: 5433}
        """
    assert problems_for(text) == [
        "calmops.yaml:5: sensing.dependencies.probes[1].name: duplicate name 'db' "
        "(entries [0] and [1])"
    ]


def test_a_check_and_a_probe_may_share_a_name() -> None:
    loads(
        """\
        sensing:
          http:
            checks: [{name: db, url: "http://127.0.0.1:3000/db"}]
          dependencies:
            probes: [{name: db, host: 127.0.0.1, port: 5432}]
        """
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "ftp://admin:SECRET123@files.example/x?token=SECRET123",
            "must start with http:// or https://",
        ),
        ("127.0.0.1:3000/health?token=SECRET123", "must start with http:// or https://"),
        ("http:///health?token=SECRET123", "must name a host after http://"),
        (
            "http://app.example:99999/health?token=SECRET123",
            "must have a port from 1 to 65535 (got http://app.example:…)",
        ),
    ],
)
def test_a_bad_url_is_refused_without_quoting_its_path_query_or_credentials(
    url: str, message: str
) -> None:
    text = f"""\
        sensing:
          http:
            checks:
              - name: app
                url: "{url}"
        """
    assert problems_for(text) == [f"calmops.yaml:5: sensing.http.checks[0].url: {message}"]


def test_the_origin_of_a_url_keeps_scheme_host_and_port_only() -> None:
    assert [
        url_origin("http://admin:pw@127.0.0.1:8080/h?token=x#frag"),
        url_origin("https://app.example/health"),
        url_origin("http://[::1]:3000/"),
    ] == ["http://127.0.0.1:8080", "https://app.example:443", "http://[::1]:3000"]


@pytest.mark.parametrize("user", ["deploy", "_pm2", "app-1", "a" * 32])
def test_a_unix_user_name_is_accepted_for_pm2(user: str) -> None:
    loads(f"sensing:\n  pm2:\n    user: {user}\n")


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ('""', "''"),
        ("Deploy", "'Deploy'"),
        ("1app", "'1app'"),
        ('"app user"', "'app user'"),
        ('"root;id"', "'root;id'"),
        ("a" + "b" * 32, repr("a" + "b" * 32)),
    ],
)
def test_pm2_user_must_be_a_unix_user_name(written: str, shown: str) -> None:
    assert problems_for(f"sensing:\n  pm2:\n    user: {written}\n") == [
        "calmops.yaml:3: sensing.pm2.user: must be a Unix user name: up to 32 lowercase "
        f"letters, digits, _ and -, starting with a letter or _ (got {shown})"
    ]


def test_pm2_user_left_empty_means_calmopsds_own_user() -> None:
    loads("sensing:\n  pm2:\n    user:\n")


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ('""', "must not be empty"),
        ('"  "', "must not be empty"),
        ('"pm2\\0"', "must not contain a NUL character"),
    ],
)
def test_pm2_binary_must_be_a_usable_command(written: str, message: str) -> None:
    assert problems_for(f"sensing:\n  pm2:\n    binary: {written}\n") == [
        f"calmops.yaml:3: sensing.pm2.binary: {message}"
    ]
