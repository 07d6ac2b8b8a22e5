"""Durations are bounded, so no accepted config can overflow the scheduler's clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from calmopsd.config import load_config
from calmopsd.errors import ConfigError


def test_a_duration_beyond_ten_years_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "calmops.yaml"
    path.write_text("sensing:\n  memory:\n    interval: 3000000d\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        f"{path}:3: sensing.memory.interval: must be at most 3650d (got '3000000d')"
    ]


def test_ten_years_exactly_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "calmops.yaml"
    path.write_text("retention:\n  rollups: 3650d\n")
    assert load_config(path).retention.rollups.days == 3650


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "logs:\n  nginx:\n    - name: web\n      paths: /var/log/x.log\n",
            "4: logs.nginx[0].paths: must be a list (e.g. [a, b] or one '- item' per line)"
            " (got '/var/log/x.log')",
        ),
        (
            "logs:\n  nginx:\n    - name: web\n      paths: []\n",
            "4: logs.nginx[0].paths: must list at least 1 item",
        ),
        (
            "sensing:\n  dependencies:\n    probes:\n      - {name: 'my db', host: h, port: 1}\n",
            "4: sensing.dependencies.probes[0].name: must be a name of letters, digits, '.', '_'"
            " or '-' (got 'my db')",
        ),
    ],
)
def test_list_and_name_mistakes_read_as_plain_words(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "calmops.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{path}:{expected}"]


def test_a_path_with_a_nul_character_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "calmops.yaml"
    path.write_text('state_dir: "st\\0ate"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [f"{path}:1: state_dir: must not contain a NUL character"]


def test_a_tab_says_to_indent_with_spaces(tmp_path: Path) -> None:
    path = tmp_path / "calmops.yaml"
    path.write_text("log:\n\tlevel: info\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        f"{path}:2: yaml: found character '\\t' that cannot start any token"
        " (indent with spaces: YAML does not allow tabs)"
    ]


def test_a_misspelt_key_inside_a_list_item_gets_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "calmops.yaml"
    path.write_text(
        "sensing:\n  http:\n    checks:\n      - name: app\n        url: http://127.0.0.1/\n"
        "        timout: 3s\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        f"{path}:6: sensing.http.checks[0].timout: unknown key (did you mean 'timeout'?)"
    ]


@pytest.mark.parametrize(
    ("directory", "problem"),
    [
        ("/home/..", "/home/..: a temp upload directory is named without '..'"),
        ("/srv/uploads/../../etc", "/srv/uploads/../../etc: a temp upload directory is named"),
        ("/tmp", "/tmp is too close to / to be a temp upload directory"),
        ("/usr/lib", "/usr/lib is under /usr, not a temp upload directory"),
        ("/var/lib/dpkg", "/var/lib/dpkg is under /var/lib, not a temp upload directory"),
        ("/etc/nginx/conf.d", "/etc/nginx/conf.d is under /etc, not a temp upload directory"),
    ],
)
def test_a_temp_upload_dir_that_is_no_such_thing_is_refused_with_its_line(
    tmp_path: Path, directory: str, problem: str
) -> None:
    path = tmp_path / "calmops.yaml"
    path.write_text(f"actions:\n  clear_temp:\n    dirs: [{directory}]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (said,) = caught.value.problems
    assert said.startswith(f"{path}:3: actions.clear_temp.dirs[0]: {problem}"), said


@pytest.mark.parametrize("directory", ["/var/tmp/uploads", "/srv/app/tmp", "/home/app/uploads"])
def test_ordinary_temp_upload_dirs_are_accepted(tmp_path: Path, directory: str) -> None:
    path = tmp_path / "calmops.yaml"
    path.write_text(f"actions:\n  clear_temp:\n    dirs: [{directory}]\n")
    assert load_config(path).actions.clear_temp.dirs == [Path(directory)]


def test_a_memory_or_disk_threshold_written_as_a_fraction_is_refused_with_a_hint(
    tmp_path: Path,
) -> None:
    path = tmp_path / "calmops.yaml"
    path.write_text("thresholds:\n  memory_percent: 90\n  disk_percent: 0.8\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        f"{path}:3: thresholds.disk_percent: is a percent: 0.8 means 0.8 %; for 80 %, write 80"
    ]
