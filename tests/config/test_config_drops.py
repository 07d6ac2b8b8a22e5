"""What a config drops that the one before it had, and check-config saying so: an empty
file refused, a cut-off one warned about, compared with the config calmopsd reads."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from support.process import calmopsd, clean_env, write_config

from calmopsd.config import dropped, load_config

HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
OTHER = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"

FULL = f"""\
state_dir: /var/lib/calmopsd
sensing:
  memory:
    interval: 10s
rules:
  - {{name: hot, sampler: memory, metric: used_percent, op: ">", threshold: 90, type: memory}}
  - {{name: full, sampler: disk, metric: "mounts.{{mount}}.used_percent", op: ">",
     threshold: 80, type: disk}}
api:
  listen: 127.0.0.1:8800
  tokens:
    - {{name: ops, super_admin: true, role: operator, sha256: {HASH}}}
    - {{name: acme, organization: acme, role: viewer, sha256: {OTHER}}}
"""
CUT_OFF = FULL[: FULL.index("rules:")]  # the file as a write cut off mid-way leaves it


def config(tmp_path: Path, text: str, name: str = "calmops.yaml") -> Path:
    return write_config(tmp_path / name, textwrap.dedent(text))


def drops(tmp_path: Path, before: str, after: str) -> list[str]:
    old = load_config(config(tmp_path, before, "old.yaml"))
    return dropped(old, load_config(config(tmp_path, after, "new.yaml")))


def test_a_file_cut_off_before_its_rules_drops_every_token_every_rule_and_the_api(
    tmp_path: Path,
) -> None:
    assert drops(tmp_path, FULL, CUT_OFF) == [
        "api.tokens: every API token (2: ops, acme); only the local CLI's is left",
        "rules: every rule of your own (2: hot, full); the shipped rules apply instead",
        "api: every setting of the section; its defaults apply instead",
    ]


def test_rules_emptied_turn_detection_off_and_say_so(tmp_path: Path) -> None:
    assert drops(tmp_path, "state_dir: /s\n", "state_dir: /s\nrules: []\n") == [
        "rules: every detection rule (11: memory_used, disk_used, disk_filling, "
        "organization_upload_failures, upload_failures and 6 more); none is left"
    ]


def test_an_edit_that_keeps_one_token_rule_and_setting_drops_nothing(tmp_path: Path) -> None:
    edited = FULL.replace(
        f"    - {{name: acme, organization: acme, role: viewer, sha256: {OTHER}}}\n", ""
    )
    edited = edited.replace("interval: 10s", "interval: 20s")
    edited = edited[: edited.index("  - {name: full")] + edited[edited.index("api:") :]
    assert drops(tmp_path, FULL, edited) == []
    assert drops(tmp_path, CUT_OFF, FULL) == []  # adding is never dropping


def test_a_whole_section_gone_is_named_but_state_dir_is_not_a_section(tmp_path: Path) -> None:
    assert (
        drops(tmp_path, FULL, FULL.replace("state_dir: /var/lib/calmopsd", "state_dir: /x")) == []
    )
    no_sensing = FULL.replace("sensing:\n  memory:\n    interval: 10s\n", "")
    assert drops(tmp_path, FULL, no_sensing) == [
        "sensing: every setting of the section; its defaults apply instead"
    ]


def test_check_config_refuses_an_empty_file_with_exit_2(tmp_path: Path) -> None:
    empty = config(tmp_path, "# the file as a failed copy left it\n")
    result = calmopsd("check-config", str(empty))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"{empty}: the config is empty (no keys: an empty file, only comments, or null): "
        "refused, because running on all defaults would revoke every API token and reset the "
        "rules; to run on the defaults, set one key, e.g. state_dir: /var/lib/calmopsd\n"
    )


def test_check_config_warns_what_a_new_file_drops_from_the_one_calmopsd_reads(
    tmp_path: Path,
) -> None:
    in_force = config(tmp_path, FULL)
    new = config(tmp_path, CUT_OFF, "calmops.yaml.new")
    result = calmopsd("check-config", str(new), env=clean_env(CALMOPS_CONFIG=str(in_force)))
    assert (result.returncode, result.stdout) == (0, "config OK\n")
    assert result.stderr.splitlines() == [
        f"warning: compared with {in_force}, this drops api.tokens: every API token "
        "(2: ops, acme); only the local CLI's is left",
        f"warning: compared with {in_force}, this drops rules: every rule of your own "
        "(2: hot, full); the shipped rules apply instead",
        f"warning: compared with {in_force}, this drops api: every setting of the section; "
        "its defaults apply instead",
    ]


@pytest.mark.parametrize("how", ["--config", "--against"])
def test_check_config_compares_with_the_file_given(tmp_path: Path, how: str) -> None:
    before = config(tmp_path, FULL, "before.yaml")
    new = config(tmp_path, FULL.replace("sensing:\n  memory:\n    interval: 10s\n", ""))
    result = calmopsd("check-config", str(new), how, str(before))
    assert result.returncode == 0
    assert result.stderr == (
        f"warning: compared with {before}, this drops sensing: every setting of the "
        "section; its defaults apply instead\n"
    )


def test_check_config_of_the_file_calmopsd_reads_compares_with_nothing(tmp_path: Path) -> None:
    path = config(tmp_path, CUT_OFF)
    for args in (("--config", str(path)), (str(path), "--config", str(path))):
        result = calmopsd("check-config", *args)
        assert (result.returncode, result.stdout, result.stderr) == (0, "config OK\n", "")


def test_check_config_says_when_the_file_to_compare_with_does_not_load(tmp_path: Path) -> None:
    broken = config(tmp_path, "log:\n  level: loud\n", "broken.yaml")
    new = config(tmp_path, CUT_OFF)
    result = calmopsd("check-config", str(new), "--against", str(broken))
    assert (result.returncode, result.stdout) == (0, "config OK\n")
    assert result.stderr == (
        f"warning: not compared with {broken}, which does not load itself: {broken}:2: "
        "log.level: must be one of: debug, info, warning, error (got 'loud')\n"
    )


def test_check_config_refuses_a_listen_address_the_daemon_cannot_bind(tmp_path: Path) -> None:
    scoped = config(tmp_path, 'api:\n  listen: "[::1%lo]:8787"\n')
    result = calmopsd("check-config", str(scoped))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"{scoped}:2: api.listen: '::1%lo' has a scope (%lo), which the API cannot bind "
        "with: write the address alone, e.g. [::1]:8787 (a link-local fe80:: address, which "
        "needs one, cannot be used)\n"
    )
