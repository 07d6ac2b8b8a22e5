"""Key paths → lines, and the messages for error types our schema cannot produce from a file."""

from __future__ import annotations

import textwrap

from calmopsd.config.lines import Duplicate, map_lines
from calmopsd.config.load import key_path
from calmopsd.config.messages import describe
from calmopsd.typed import ConfigDict, ValidationError
from calmopsd.typed import Model as BaseModel


def test_list_items_are_mapped_by_index() -> None:
    text = textwrap.dedent(
        """\
        foo:
          bar:
            - baz: 1
            - baz: 2
            -
              baz: 3
        """
    )
    lines = map_lines(text)
    assert lines.lines[("foo", "bar", 2, "baz")] == 6
    assert key_path(("foo", "bar", 2, "baz")) == "foo.bar[2].baz"


def test_a_missing_key_points_at_its_parent_mapping() -> None:
    lines = map_lines("# header\nlog:\n  format: json\n")
    assert lines.line_of(("log", "level")) == 2
    assert lines.line_of(("absent",)) == 2
    assert key_path(()) == "(top level)"


def test_duplicates_are_found_at_any_depth() -> None:
    lines = map_lines("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n")
    assert lines.duplicates == [Duplicate(("b", "c"), 4, 3), Duplicate(("a",), 5, 1)]


def test_self_referencing_aliases_do_not_recurse_forever() -> None:
    lines = map_lines("a: &x [*x, 1]\n")
    assert lines.lines[("a", 1)] == 1


class _Required(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    enabled: bool = True


def _describe_first(data: object) -> str:
    try:
        _Required.model_validate(data)
    except ValidationError as exc:
        return describe(exc.errors(include_url=False)[0], _Required)
    raise AssertionError("expected a validation error")


def test_a_missing_required_key_is_named() -> None:
    assert _describe_first({}) == "required key is missing"


def test_a_non_boolean_for_a_flag_says_true_or_false() -> None:
    assert _describe_first({"name": "x", "enabled": "maybe"}) == (
        "must be true or false (got 'maybe')"
    )
