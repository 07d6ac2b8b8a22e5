"""A broken logs: section is reported like every other config problem: file:line: key: message."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from calmopsd.config import load_config
from calmopsd.errors import ConfigError


def problems_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> list[str]:
    monkeypatch.chdir(tmp_path)
    Path("calmops.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(Path("calmops.yaml"))
    return raised.value.problems


def test_a_log_format_without_a_time_or_a_bad_key_is_reported_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = """\
        logs:
          start_at: middle
          nginx:
            - name: web
              paths: [/var/log/nginx/access.log]
              format: '$remote_addr "$request" $status'
          apps:
            - name: api
              paths: [/srv/api.log]
              feilds: {time: ts}
        """
    problems = problems_for(tmp_path, monkeypatch, text)
    assert problems == [
        "calmops.yaml:2: logs.start_at: must be one of: end, beginning (got 'middle')",
        "calmops.yaml:4: logs.nginx[0]: format must hold $time_local, $time_iso8601 or $msec",
        "calmops.yaml:10: logs.apps[0].feilds: unknown key (did you mean 'fields'?)",
    ]


def test_two_sources_with_one_name_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = """\
        logs:
          nginx: [{name: web, paths: [a.log]}]
          apps: [{name: web, paths: [b.log]}]
        """
    assert problems_for(tmp_path, monkeypatch, text) == [
        "calmops.yaml:3: logs.apps[0].name: source names must be unique ('web' is also "
        "logs.nginx[0]'s)"
    ]


def test_an_upload_route_with_another_wildcard_than_star_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = """\
        logs:
          uploads:
            routes: ['/upload*', '/api/v?/upload']
        """
    assert problems_for(tmp_path, monkeypatch, text) == [
        "calmops.yaml:3: logs.uploads.routes[1]: routes may use * as their only wildcard, "
        "not ?, [ or ] (got '/api/v?/upload')"
    ]
    text = """\
        logs:
          uploads:
            routes: ['/files/[ab]*']
        """
    assert problems_for(tmp_path, monkeypatch, text) == [
        "calmops.yaml:3: logs.uploads.routes[0]: routes may use * as their only wildcard, "
        "not ?, [ or ] (got '/files/[ab]*')"
    ]


def test_a_round_too_small_for_two_long_lines_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = """\
        logs:
          max_line_length: 16777216
          max_read_per_round: 16
        """
    assert problems_for(tmp_path, monkeypatch, text) == [
        "calmops.yaml:1: logs: max_read_per_round (MiB) must hold at least two "
        "max_line_length lines (max_read_per_round 16 MiB < 2 x max_line_length "
        "16777216 bytes)"
    ]
