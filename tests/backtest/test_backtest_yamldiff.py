"""Config edits made in the YAML text: comments and layout kept, refusals named."""

from __future__ import annotations

import pytest

from calmopsd.backtest.yamldiff import YamlEditError, set_key, unified

TEXT = """\
# calmopsd
thresholds:
  # memory, in percent
  memory_percent: 85  # the shipped level
rules:
rule_defaults:
  memory:
    # readings in a row
    for: 3
"""


def test_it_replaces_only_the_value_keeping_the_comment_on_its_line() -> None:
    edited = set_key(TEXT, ("thresholds", "memory_percent"), "90")
    assert edited == TEXT.replace("memory_percent: 85  #", "memory_percent: 90  #")


def test_it_inserts_a_missing_key_first_among_its_siblings() -> None:
    edited = set_key(TEXT, ("rule_defaults", "memory", "clear_for"), "30m")
    assert edited == TEXT.replace("  memory:\n", "  memory:\n    clear_for: 30m\n")


def test_it_inserts_a_missing_section_under_its_parent() -> None:
    edited = set_key(TEXT, ("rule_defaults", "disk", "for"), "4")
    assert edited == TEXT.replace("rule_defaults:\n", "rule_defaults:\n  disk:\n    for: 4\n")


def test_it_writes_under_a_key_that_has_no_value() -> None:
    text = "state_dir: /x\nrule_defaults:\n# end\n"
    edited = set_key(text, ("rule_defaults", "logs", "for"), "5m")
    assert edited == "state_dir: /x\nrule_defaults:\n  logs:\n    for: 5m\n# end\n"


def test_it_appends_a_missing_top_level_key() -> None:
    assert set_key("state_dir: /x", ("thresholds", "disk_percent"), "85") == (
        "state_dir: /x\nthresholds:\n  disk_percent: 85\n"
    )


def test_it_edits_a_rule_in_a_list_by_index() -> None:
    text = "rules:\n  - name: a\n    for: 3\n  - name: b\n    threshold: 80\n"
    assert set_key(text, ("rules", 1, "threshold"), "85") == text.replace("80", "85")


def test_it_refuses_a_flow_mapping_rather_than_rewrite_it() -> None:
    with pytest.raises(YamlEditError, match=r"^rule_defaults.memory: not a mapping in block style"):
        set_key("rule_defaults:\n  memory: {for: 3}\n", ("rule_defaults", "memory", "for"), "4")


def test_the_diff_names_the_file_and_the_changed_line() -> None:
    edited = set_key(TEXT, ("thresholds", "memory_percent"), "90")
    diff = unified(TEXT, edited, "config/calmops.yaml")
    assert diff.splitlines()[:2] == ["--- a/config/calmops.yaml", "+++ b/config/calmops.yaml"]
    assert [line for line in diff.splitlines() if line[:1] in "+-" and line[1:2] == " "] == [
        "-  memory_percent: 85  # the shipped level",
        "+  memory_percent: 90  # the shipped level",
    ]
