"""Broken config files: each must produce exactly the `file:line: key.path: message` lines."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from calmopsd.config import Config, load_config
from calmopsd.errors import ConfigError

NAME = "calmops.yaml"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A relative file name keeps the expected messages readable: "calmops.yaml:3: ...".
    monkeypatch.chdir(tmp_path)


def problems_for(text: str) -> list[str]:
    Path(NAME).write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(Path(NAME))
    return raised.value.problems


def test_broken_yaml_syntax_points_at_the_offending_line() -> None:
    text = """\
        log:
          level: info
           format: json
        """
    assert problems_for(text) == [
        "calmops.yaml:3: yaml: mapping values are not allowed here (a line indented under a "
        "key that already has a value, or a value with ': ' in it that needs quotes)"
    ]


def test_a_line_indented_off_its_siblings_is_named_with_what_that_means() -> None:
    """Found by a tester: PyYAML's own "expected <block end>" was all the message said."""
    text = """\
        incidents:
          stale_after: 24h
          # reopens a resolved incident this soon after
           reopen_within: 1h
        """
    (problem,) = problems_for(text)
    assert problem.startswith("calmops.yaml:4: yaml: ")
    assert problem.endswith("(this line is indented differently from the keys beside it)")


def test_an_unknown_top_level_key_is_refused_with_a_suggestion() -> None:
    text = """\
        state_dir: /srv/calmops
        logging:
          level: debug
        """
    assert problems_for(text) == ["calmops.yaml:2: logging: unknown key (did you mean 'log'?)"]


def test_an_unknown_key_with_no_near_match_lists_the_known_keys() -> None:
    assert problems_for("colour: blue\n") == [
        "calmops.yaml:1: colour: unknown key "
        "(known keys: state_dir, log, audit, thresholds, rules, rule_defaults, incidents, "
        "playbook, actions, sensing, logs, retention, api, notify, alertmanager, customers)"
    ]


def test_a_misspelt_nested_key_names_the_full_path_and_the_key_it_resembles() -> None:
    text = """\
        # a comment first, so the line is not simply 1 or 2
        log:
          levle: debug
        """
    assert problems_for(text) == ["calmops.yaml:3: log.levle: unknown key (did you mean 'level'?)"]


def test_a_string_where_a_whole_number_belongs_is_refused() -> None:
    text = """\
        thresholds:
          server_error_min_requests: abc
        """
    assert problems_for(text) == [
        "calmops.yaml:2: thresholds.server_error_min_requests: must be a whole number (got 'abc')"
    ]


def test_a_yaml_boolean_is_not_taken_for_a_count() -> None:
    text = """\
        thresholds:
          server_error_min_requests: yes
        """
    assert problems_for(text) == [
        "calmops.yaml:2: thresholds.server_error_min_requests: must be a whole number (got true)"
    ]


def test_a_percent_above_100_is_out_of_range() -> None:
    text = """\
        thresholds:
          disk_percent: 80
          memory_percent: 150
        """
    assert problems_for(text) == [
        "calmops.yaml:3: thresholds.memory_percent: must be ≤ 100 (got 150)"
    ]


def test_a_negative_percent_is_out_of_range() -> None:
    text = """\
        thresholds:
          disk_percent: -5
        """
    assert problems_for(text) == ["calmops.yaml:2: thresholds.disk_percent: must be ≥ 0 (got -5)"]


def test_a_percent_that_is_not_a_number_says_how_to_write_one() -> None:
    text = """\
        thresholds:
          upload_failure_percent: lots
        """
    assert problems_for(text) == [
        "calmops.yaml:2: thresholds.upload_failure_percent: "
        "must be a percentage like 85 or 85% (got 'lots')"
    ]


def test_a_duration_with_an_unknown_unit_is_refused() -> None:
    text = """\
        incidents:
          stale_after: 5y
        """
    assert problems_for(text) == [
        "calmops.yaml:2: incidents.stale_after: must be a duration like 30s, 5m or 24h (got '5y')"
    ]


def test_a_bare_number_is_not_guessed_to_be_seconds() -> None:
    text = """\
        audit:
          head_log_interval: 30
        """
    assert problems_for(text) == [
        "calmops.yaml:2: audit.head_log_interval: must be a duration like 30s, 5m or 24h (got 30)"
    ]


def test_a_zero_interval_is_refused_where_it_must_be_positive() -> None:
    text = """\
        audit:
          head_log_interval: 0m
        """
    assert problems_for(text) == ["calmops.yaml:2: audit.head_log_interval: must be longer than 0s"]


def test_a_level_outside_the_enum_lists_the_allowed_values() -> None:
    text = """\
        log:
          level: loud
        """
    assert problems_for(text) == [
        "calmops.yaml:2: log.level: must be one of: debug, info, warning, error (got 'loud')"
    ]


def test_a_section_given_as_a_scalar_must_be_a_mapping() -> None:
    assert problems_for("log: debug\n") == [
        "calmops.yaml:1: log: must be a mapping of keys (got 'debug')"
    ]


def test_a_section_given_as_a_list_must_be_a_mapping() -> None:
    text = """\
        state_dir: /srv/calmops
        thresholds:
          - memory_percent: 90
        """
    assert problems_for(text) == [
        "calmops.yaml:2: thresholds: must be a mapping of keys (got a list)"
    ]


def test_a_mapping_where_a_value_belongs_is_refused() -> None:
    text = """\
        state_dir:
          path: /srv/calmops
        """
    assert problems_for(text) == ["calmops.yaml:1: state_dir: must be a path (got a mapping)"]


def test_a_duplicate_key_is_refused_rather_than_last_one_wins() -> None:
    text = """\
        log:
          level: info
          format: json
          level: debug
        """
    assert problems_for(text) == ["calmops.yaml:4: log.level: duplicate key (first at line 2)"]


def test_a_list_at_the_top_level_is_not_a_config() -> None:
    text = """\
        # calmops
        - log
        - audit
        """
    assert problems_for(text) == ["calmops.yaml:2: (top level): must be a mapping of keys"]


def test_a_missing_file_is_reported_without_a_line() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(Path("nowhere.yaml"))
    assert raised.value.problems == ["nowhere.yaml: cannot read config: No such file or directory"]


def test_a_python_tag_is_refused_by_the_safe_loader() -> None:
    problems = problems_for("log: !!python/object/apply:os.system [true]\n")
    assert problems == [
        "calmops.yaml:1: yaml: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'"
    ]


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    text = """\
        incidents:
          stale_after: 0s
        log:
          level: loud
        thresholds:
          memory_percent: 150
          bogus: 1
          memory_percent: 90
        audit: hourly
        """
    assert problems_for(text) == [
        "calmops.yaml:2: incidents.stale_after: must be longer than 0s",
        "calmops.yaml:4: log.level: must be one of: debug, info, warning, error (got 'loud')",
        "calmops.yaml:7: thresholds.bogus: unknown key (known keys: memory_percent, "
        "disk_percent, upload_failure_percent, server_error_percent, "
        "server_error_min_requests, clear_gap_points, rate_clear_fraction)",
        "calmops.yaml:8: thresholds.memory_percent: duplicate key (first at line 6)",
        "calmops.yaml:9: audit: must be a mapping of keys (got 'hourly')",
    ]


def test_the_error_text_joins_the_problems_without_pydantic_noise() -> None:
    Path(NAME).write_text("log:\n  level: loud\nthresholds: []\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(Path(NAME))
    text = str(raised.value)
    assert text.count("\n") == 1
    assert "pydantic" not in text
    assert "http" not in text


def test_a_relative_state_dir_is_resolved_against_the_config_files_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / NAME).write_text("state_dir: ./var\n", encoding="utf-8")
    config = load_config(Path("etc") / NAME)
    assert config.state_dir == tmp_path / "etc" / "var"
    assert not config.state_dir.exists()


@pytest.mark.parametrize(
    "text", ["", "\n  \n", "# nothing set yet\n", "null\n", "~\n", "{}\n", "---\n# cut\n"]
)
def test_an_empty_document_is_refused_naming_the_file(text: str) -> None:
    Path(NAME).write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(Path(NAME))
    assert raised.value.problems == [
        "calmops.yaml: the config is empty (no keys: an empty file, only comments, or null): "
        "refused, because running on all defaults would revoke every API token and reset the "
        "rules; to run on the defaults, set one key, e.g. state_dir: /var/lib/calmopsd"
    ]


def test_one_key_is_enough_to_run_on_the_defaults() -> None:
    Path(NAME).write_text("state_dir: /var/lib/calmopsd\n", encoding="utf-8")
    assert load_config(Path(NAME)) == Config()


def test_a_section_left_without_keys_means_its_defaults() -> None:
    Path(NAME).write_text("log:\n  # level: debug\nthresholds:\n", encoding="utf-8")
    assert load_config(Path(NAME)) == Config()


def test_loading_changes_nothing_and_repeats_the_same_problems(tmp_path: Path) -> None:
    Path(NAME).write_text("log:\n  level: loud\nstate_dir: var\n", encoding="utf-8")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*")}
    outcomes = []
    for _ in range(2):
        with pytest.raises(ConfigError) as raised:
            load_config(Path(NAME))
        outcomes.append(raised.value.problems)
    assert outcomes[0] == outcomes[1]
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*")} == before


def test_a_value_of_none_of_a_keys_types_is_one_problem_naming_each() -> None:
    text = """\
        rules:
          - {name: m, sampler: memory, metric: used_percent, op: ">", threshold: [85], type: memory}
        sensing:
          http:
            checks:
              - {name: web, url: "http://127.0.0.1/", body: {db: [ok], 7: x}}
        """
    assert problems_for(text) == [
        "calmops.yaml:2: rules[0].threshold: must be true or false, a number or text (got a list)",
        "calmops.yaml:6: sensing.http.checks[0].body.db: must be text, a whole number, "
        "a number or true or false (got a list)",
        "calmops.yaml:6: sensing.http.checks[0].body.7: keys must be text (got 7)",
    ]


def test_a_key_that_is_no_text_is_spelt_and_placed_as_the_file_wrote_it() -> None:
    text = """\
        state_dir: /var/lib/calmopsd
        log: {level: info}
        true: y
        null: x
        """
    assert problems_for(text) == [
        "calmops.yaml:3: true: keys must be text (got true)",
        "calmops.yaml:4: null: keys must be text (got null)",
    ]


def test_each_wrong_item_of_a_list_is_said_at_its_index() -> None:
    text = """\
        actions:
          clear_temp:
            dirs: [/tmp/../etc, "", /etc/foo, /tmp/uploads]
        logs:
          uploads:
            routes: ["/upload?", "/ok*", "upload"]
            methods: [post, PUT, "POST\\n"]
        """
    assert [p.split(": ")[1] for p in problems_for(text)] == [
        "actions.clear_temp.dirs[0]",
        "actions.clear_temp.dirs[1]",
        "actions.clear_temp.dirs[2]",
        "logs.uploads.routes[0]",
        "logs.uploads.routes[2]",
        "logs.uploads.methods[0]",
        "logs.uploads.methods[2]",
    ]


def test_a_rules_wait_is_bounded_like_every_other_duration() -> None:
    text = """\
        rules:
          - {name: a, sampler: memory, metric: used_percent, op: ">", threshold: 85,
             type: memory, for: 999999999d}
          - {name: b, sampler: memory, metric: used_percent, op: ">", threshold: 85,
             type: memory, for: 99999999999999999999999}
        """
    assert problems_for(text) == [
        "calmops.yaml:3: rules[0].for: must be at most 3650d (got '999999999d')",
        "calmops.yaml:5: rules[1].for: must be at most 100000 samples "
        "(got 99999999999999999999999)",
    ]


def test_a_count_is_never_a_boolean() -> None:
    assert problems_for("actions:\n  pm2_restart:\n    max_runs: true\n") == [
        "calmops.yaml:3: actions.pm2_restart.max_runs: must be a whole number (got true)"
    ]


def test_a_url_problem_says_what_to_write_and_never_the_url() -> None:
    text = """\
        alertmanager:
          url: "127.0.0.1:9093"
        notify:
          dashboard_url: "ftp://ops.example.com/"
        customers:
          public_urls: ["https://user:secret@status.example.com/a b", "http://x/\\0"]
        retention:
          max_store_size: 1MiB
        """
    problems = problems_for(text)
    assert problems == [
        "calmops.yaml:2: alertmanager.url: must be a URL like https://host:port/path "
        "(http:// or https:// is missing in front)",
        "calmops.yaml:4: notify.dashboard_url: must be an http:// or https:// URL",
        "calmops.yaml:6: customers.public_urls[0]: must be a URL like https://host:port/path "
        "(it holds a space or a control character)",
        "calmops.yaml:6: customers.public_urls[1]: must be a URL like https://host:port/path "
        "(it holds a space or a control character)",
        "calmops.yaml:8: retention.max_store_size: must be at least 16MiB (got 1MiB)",
    ]
    assert not any("secret" in problem for problem in problems)


def test_a_yaml_alias_bomb_is_refused_at_once() -> None:
    lines = ["state_dir: /var/lib/calmopsd", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    actions = "actions: {pm2_restart: {apps: *a8}}"
    problems = problems_for("\n".join([*lines, actions, ""]))
    assert len(problems) == 20  # ten unknown keys, and each of the ten apps is no name
    assert all(len(problem) < 300 for problem in problems)


def test_numbers_too_large_for_python_are_problems_of_the_file() -> None:
    assert problems_for(f"thresholds:\n  memory_percent: {'9' * 400}\n") == [
        f"calmops.yaml:2: thresholds.memory_percent: must be a finite number (got {'9' * 400})"
    ]
    quoted = problems_for(f"logs:\n  max_organizations: '{'9' * 5000}'\n")
    assert len(quoted) == 1 and quoted[0].startswith("calmops.yaml:2: logs.max_organizations:")
    (unquoted,) = problems_for(f"logs:\n  max_organizations: {'9' * 5000}\n")
    assert unquoted.startswith("calmops.yaml: yaml: a value cannot be read")


def test_a_key_written_as_the_marker_of_a_bad_key_is_a_key_like_any_other() -> None:
    text = """\
        rules:
          - {name: m, sampler: disk, metric: "mounts.{mount}.used_percent", op: ">",
             threshold: 80, type: disk, where: {"[key]": 5}}
        """
    assert problems_for(text) == [
        "calmops.yaml:3: rules[0].where.[key]: must be text (got 5)",
    ]


def test_a_url_problem_never_quotes_a_password_and_an_impossible_address_is_refused() -> None:
    text = """\
        alertmanager:
          url: "http://admin:s3cr/et@am.example:9093"
        notify:
          dashboard_url: "http://999.1.1.1/"
        customers:
          public_urls: ["http://1.2.3.4.5/", "http://10.0.0.1:8080/status"]
        """
    problems = problems_for(text)
    assert problems == [
        "calmops.yaml:2: alertmanager.url: must be a URL like https://host:port/path "
        "(invalid port number)",
        "calmops.yaml:4: notify.dashboard_url: must be a URL like https://host:port/path "
        "(invalid IPv4 address)",
        "calmops.yaml:6: customers.public_urls[0]: must be a URL like https://host:port/path "
        "(invalid IPv4 address)",
    ]
    assert not any("s3cr" in problem for problem in problems)


def test_relative_paths_are_taken_from_the_files_directory_given_with_dots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a tester: `check-config ../c.yaml` joined `/here/../up/x`, which the temp
    dir check refuses for its '..'."""
    (tmp_path / "sub" / "logs").mkdir(parents=True)
    (tmp_path / "c.yaml").write_text("actions:\n  clear_temp:\n    dirs: [up/x]\n")
    monkeypatch.chdir(tmp_path / "sub" / "logs")
    loaded = load_config(Path("../../c.yaml"))
    assert loaded.actions.clear_temp.dirs == [tmp_path.resolve() / "up" / "x"]
    assert loaded.state_dir == Path("/var/lib/calmopsd")


def test_an_unset_path_may_be_written_empty_and_a_share_as_a_percent() -> None:
    """Found by a tester: the shipped file says `unix_socket` is "empty: none" and that a
    percent may be written 90%; both were refused."""
    Path(NAME).write_text(
        'api:\n  unix_socket: ""\nactions:\n  rate_limit_uploads:\n    include_file: " "\n'
        'incidents:\n  dominant_share: "95%"\n',
        encoding="utf-8",
    )
    loaded = load_config(Path(NAME))
    assert loaded.api.unix_socket is None
    assert loaded.actions.rate_limit_uploads.include_file is None
    assert loaded.incidents.dominant_share == 95.0
    assert problems_for('state_dir: ""\nincidents:\n  dominant_share: 50%\n') == [
        "calmops.yaml:1: state_dir: must not be empty",
        "calmops.yaml:3: incidents.dominant_share: must be > 50 (got '50%')",
    ]
