"""Checks that compare parts of the config run on the parts that validated: every problem,
field errors and cross-field ones alike, in one pass, each at its own line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from calmopsd.config import Config, load_config
from calmopsd.config.section import Section
from calmopsd.errors import ConfigError
from calmopsd.typed import Model

NAME = "calmops.yaml"
HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
OTHER = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def problems_for(text: str) -> list[str]:
    Path(NAME).write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(Path(NAME))
    return raised.value.problems


def test_a_duplicate_token_hash_is_said_with_the_wrong_role_of_one_of_the_two() -> None:
    text = f"""\
        api:
          tokens:
            - {{name: ops, super_admin: true, role: viewer, sha256: {HASH}}}
            - {{name: ci, organization: acme, role: admin, sha256: {HASH}}}
        """
    assert problems_for(text) == [
        "calmops.yaml:4: api.tokens[1].role: must be one of: viewer, operator (got 'admin')",
        "calmops.yaml:4: api.tokens[1].sha256: duplicate sha256 (entries [0] and [1]): each "
        "token once, under one name",
    ]


def test_a_value_that_is_wrong_itself_is_not_compared() -> None:
    # Both hashes are wrong: no "duplicate sha256" on top of the two messages.
    text = """\
        api:
          tokens:
            - {name: ops, super_admin: true, role: viewer, sha256: SECRET}
            - {name: ci, super_admin: true, role: viewer, sha256: SECRET}
        """
    problems = problems_for(text)
    assert [p.split(": ")[1] for p in problems] == ["api.tokens[0].sha256", "api.tokens[1].sha256"]


def test_duplicate_rule_names_come_with_the_rules_own_errors_and_the_thresholds_clash() -> None:
    text = """\
        thresholds:
          memory_percent: 90
        rules:
          - {name: hot, sampler: memory, metric: used_percent, op: ">", threshold: 90,
             type: memory}
          - {name: hot, sampler: memory, metric: usedpercent, op: ">", threshold: 95,
             type: memory}
          - {name: cold, sampler: memroy, metric: used_percent, op: "<", threshold: 5,
             type: memory}
        """
    assert problems_for(text) == [
        "calmops.yaml:3: rules: your own rules replace the shipped ones that "
        "thresholds.memory_percent tunes; put the threshold in your rule and remove it "
        "from thresholds",
        "calmops.yaml:6: rules[1].metric: memory readings have no metric 'usedpercent'; "
        "did you mean 'used_percent'?",
        "calmops.yaml:6: rules[1].name: rule names must be unique; 'hot' is also rules[0]'s",
        "calmops.yaml:8: rules[2].sampler: must be one of: memory, disk, pm2, http, "
        "dependencies, logs (got 'memroy')",
    ]


def test_log_source_names_are_compared_across_nginx_and_apps_past_their_errors() -> None:
    text = """\
        logs:
          start_at: middle
          nginx:
            - {name: web, paths: [/var/log/nginx/access.log]}
            - {name: edge}
          apps:
            - {name: web, paths: [/srv/app.log], colour: blue}
            - {name: edge, paths: [/srv/edge.log]}
        """
    assert problems_for(text) == [
        "calmops.yaml:2: logs.start_at: must be one of: end, beginning (got 'middle')",
        "calmops.yaml:5: logs.nginx[1].paths: required key is missing",
        "calmops.yaml:7: logs.apps[0].colour: unknown key (known keys: name, paths, fields, "
        "error_levels, counts_requests)",
        "calmops.yaml:7: logs.apps[0].name: source names must be unique ('web' is also "
        "logs.nginx[0]'s)",
        "calmops.yaml:8: logs.apps[1].name: source names must be unique ('edge' is also "
        "logs.nginx[1]'s)",
    ]


def test_a_check_that_reads_a_wrong_key_waits_for_it_and_never_judges_a_default() -> None:
    # max_line_length is wrong: comparing max_read_per_round with its default would be a
    # made-up problem, so only the key's own is said.
    text = """\
        logs:
          max_read_per_round: 1
          max_line_length: lots
        """
    assert problems_for(text) == [
        "calmops.yaml:3: logs.max_line_length: must be a whole number (got 'lots')"
    ]


def test_a_sections_own_check_runs_past_an_error_in_another_of_its_keys() -> None:
    text = """\
        actions:
          rate_limit_uploads:
            include_file: /etc/nginx/calmopsd/limit.conf
            organizations_map_file: /etc/nginx/calmopsd/limit.conf
            burst: -1
        api:
          listen:
          tokens:
            - {name: ops, role: viewer, sha256: x}
        """
    assert problems_for(text) == [
        "calmops.yaml:2: actions.rate_limit_uploads: include_file and organizations_map_file "
        "must be two files: one holds limit_req lines, the other map entries",
        "calmops.yaml:5: actions.rate_limit_uploads.burst: must be ≥ 0 (got -1)",
        "calmops.yaml:6: api: enabled, but neither listen nor unix_socket is set",
        "calmops.yaml:9: api.tokens[0].sha256: must be 64 lowercase hex digits, the sha256 "
        "`calmopsd token create` prints (never the token itself)",
        "calmops.yaml:9: api.tokens[0]: give exactly one of organization: ORG and "
        "super_admin: true (token 'ops')",
    ]


def test_names_of_checks_probes_actions_and_apps_are_compared_past_wrong_entries() -> None:
    text = """\
        sensing:
          http:
            checks:
              - {name: home, url: "http://127.0.0.1:3000/"}
              - {name: home, url: "ftp://example.com/"}
          dependencies:
            probes:
              - {name: db, host: 127.0.0.1, port: 5432}
              - {name: db, host: 127.0.0.1, port: 99999}
        playbook:
          memory: [pm2_restart, pm2_restart, reboot]
        actions:
          pm2_restart:
            apps: [api, api, "bad name"]
        """
    assert problems_for(text) == [
        # On one line, the entry's own problem comes first, then the comparison's.
        "calmops.yaml:5: sensing.http.checks[1].url: must start with http:// or https://",
        "calmops.yaml:5: sensing.http.checks[1].name: duplicate name 'home' (entries [0] and [1])",
        "calmops.yaml:9: sensing.dependencies.probes[1].port: must be ≤ 65535 (got 99999)",
        "calmops.yaml:9: sensing.dependencies.probes[1].name: duplicate name 'db' (entries [0] "
        "and [1])",
        "calmops.yaml:11: playbook.memory[2]: must be one of: pm2_restart, nginx_reload, "
        "pause_jobs, rate_limit_uploads, clear_temp (got 'reboot')",
        "calmops.yaml:11: playbook.memory[1]: each action at most once; pm2_restart is also "
        "entry [0]",
        "calmops.yaml:14: actions.pm2_restart.apps[2]: must be a name of letters, digits, '.', "
        "'_' or '-' (got 'bad name')",
        "calmops.yaml:14: actions.pm2_restart.apps[1]: each entry at most once; 'api' is also "
        "entry [0]",
    ]


def test_fixing_the_field_errors_reveals_no_problem_that_was_not_already_said() -> None:
    broken = f"""\
        log:
          level: loud
        rules:
          - {{name: a, sampler: memory, metric: used_percent, op: ">", threshold: 90,
             type: memory, severity: dire}}
          - {{name: a, sampler: disk, metric: "mounts.{{mount}}.used_percent", op: ">",
             threshold: 80, type: disk}}
        api:
          tokens:
            - {{name: ops, super_admin: true, role: viewer, sha256: {OTHER}}}
            - {{name: ops, organization: acme, super_admin: true, role: root, sha256: {OTHER}}}
        """
    first_pass = problems_for(broken)
    fixed = broken.replace("loud", "info").replace(", severity: dire", "")
    fixed = fixed.replace("role: root", "role: viewer")
    second_pass = problems_for(fixed)
    assert second_pass == [
        "calmops.yaml:6: rules[1].name: rule names must be unique; 'a' is also rules[0]'s",
        "calmops.yaml:11: api.tokens[1]: give exactly one of organization: ORG and "
        "super_admin: true (token 'ops')",
        "calmops.yaml:11: api.tokens[1].name: duplicate name (entries [0] and [1]): each token "
        "once, under one name",
        "calmops.yaml:11: api.tokens[1].sha256: duplicate sha256 (entries [0] and [1]): each "
        "token once, under one name",
    ]
    assert set(second_pass) < set(first_pass)


def test_every_check_reads_and_reports_at_keys_its_section_has() -> None:
    """Drift: a check is skipped when a key it reads is wrong, so a key misspelt in
    ``reads`` would let it judge a value the file got wrong; ``at`` places its line."""
    wrong = {}
    for model in _models(Config):
        keys = {field.alias or name for name, field in model.model_fields.items()}
        for check in model.cross_checks:
            unknown = sorted({*check.reads, *([check.at] if check.at else [])} - keys)
            if unknown:
                wrong[f"{model.__name__}.{check.check.__name__}"] = unknown
    assert wrong == {}
    assert sum(len(model.cross_checks) for model in _models(Config)) >= 8


def _models(root: type[Model]) -> set[type[Model]]:
    seen: set[type[Model]] = set()
    stack = [root]
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        for field in model.model_fields.values():
            stack.extend(_nested(field.annotation))
    return seen


def _nested(annotation: object) -> list[type[Model]]:
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return [annotation]
    found: list[type[Model]] = []
    for arg in getattr(annotation, "__args__", ()):
        found.extend(_nested(arg))
    return found
