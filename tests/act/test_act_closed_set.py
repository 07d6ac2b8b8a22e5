"""The closed set: the config's actions, the playbook's and the executor's are the same five."""

from __future__ import annotations

from calmopsd.act import ACTIONS
from calmopsd.config.actions import ActionsConfig
from calmopsd.config.incidents import PlaybookConfig
from calmopsd.model import SafeAction


def test_the_executor_knows_exactly_the_five_safe_actions() -> None:
    assert set(ACTIONS) == set(SafeAction)
    assert {a.value for a in SafeAction} == {
        "pm2_restart", "nginx_reload", "pause_jobs", "rate_limit_uploads", "clear_temp",
    }  # fmt: skip
    assert all(action.name is name for name, action in ACTIONS.items())


def test_every_action_has_its_config_section_and_only_they_have_budgets() -> None:
    sections = {name for name, field in ActionsConfig.model_fields.items() if field.annotation}
    assert {a.value for a in SafeAction} <= sections
    assert sections - {a.value for a in SafeAction} == {
        "mode", "dry_run", "paused", "timeout", "ineffective_within", "backend", "helper",
        "nginx",
    }  # fmt: skip


def test_only_reversible_actions_are_undone_and_deleting_files_is_not_one() -> None:
    reversible = {name.value for name, action in ACTIONS.items() if action.reversible}
    assert reversible == {"pause_jobs", "rate_limit_uploads"}


def test_the_playbook_can_name_nothing_else() -> None:
    annotation = str(PlaybookConfig.model_fields["memory"].annotation)
    assert "SafeAction" in annotation
