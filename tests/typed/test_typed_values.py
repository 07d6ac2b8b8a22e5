"""calmopsd.typed reads single values as the config and the API rely on: lax where a
file writes a value in a common form, strict where a request must mean one thing.

The expected results are pydantic 2's, which calmopsd used before (checked against
pydantic 2.14 when this package replaced it: docs/decisions.md)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest

from calmopsd.typed import (
    AfterValidator,
    BeforeValidator,
    Field,
    HttpUrl,
    Model,
    TypeAdapter,
    ValidationError,
)


def made(annotation: Any, value: Any, *, strict: bool = False) -> Any:
    return TypeAdapter(annotation).validate_python(value, strict=strict)


def refused(annotation: Any, value: Any, *, strict: bool = False) -> list[tuple[str, tuple]]:
    with pytest.raises(ValidationError) as raised:
        TypeAdapter(annotation).validate_python(value, strict=strict)
    return [(e["type"], e["loc"]) for e in raised.value.errors()]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.0, 1), ("5", 5), (" 5 ", 5), ("5.0", 5), ("1_000", 1000), ("+5", 5),
     (10**30, 10**30)],
)  # fmt: skip
def test_an_int_is_made_from_the_forms_a_file_writes_it_in(value: Any, expected: int) -> None:
    result = made(int, value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    ("value", "error"),
    [(1.5, "int_from_float"), ("0x10", "int_parsing"), ("five", "int_parsing"),
     (None, "int_type"), ([1], "int_type"), (1e300, "int_parsing_size"),
     (True, "int_type")],  # pydantic took true for 1; a config meant no number
)  # fmt: skip
def test_an_int_that_cannot_be_made_says_why(value: Any, error: str) -> None:
    assert refused(int, value) == [(error, ())]


def test_strict_takes_only_the_type_itself_but_an_int_is_a_float() -> None:
    assert refused(int, True, strict=True) == [("int_type", ())]
    assert refused(int, 1.0, strict=True) == [("int_type", ())]
    assert refused(int, "5", strict=True) == [("int_type", ())]
    assert refused(str, b"x", strict=True) == [("string_type", ())]
    assert refused(float, True, strict=True) == [("float_type", ())]
    assert made(float, 1, strict=True) == 1.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, True), (0, False), ("yes", True), ("Off", False), ("t", True), ("TRUE", True),
     (1.0, True)],
)  # fmt: skip
def test_a_boolean_is_made_from_the_words_people_write(value: Any, expected: bool) -> None:
    assert made(bool, value) is expected


def test_a_boolean_refuses_what_is_neither() -> None:
    assert refused(bool, 2) == [("bool_parsing", ())]
    assert refused(bool, "2") == [("bool_parsing", ())]
    assert refused(bool, None) == [("bool_type", ())]


def test_text_is_never_made_from_a_number_or_a_path() -> None:
    assert refused(str, 1) == [("string_type", ())]
    assert refused(str, Path("/a")) == [("string_type", ())]
    assert made(str, b"x") == "x"


def test_floats_take_numbers_and_numeric_text() -> None:
    assert made(float, "1e3") == 1000.0
    assert made(float, " 2 ") == 2.0
    assert refused(float, True) == [("float_type", ())]  # pydantic took it for 1.0
    assert refused(float, "abc") == [("float_parsing", ())]


def test_a_path_is_made_from_text_only() -> None:
    assert made(Path, "/var/lib") == Path("/var/lib")
    assert refused(Path, 5) == [("path_type", ())]


def test_a_union_takes_the_member_the_value_already_is_then_the_first_that_can_make_it() -> None:
    threshold = bool | float | str
    assert made(threshold, True) is True
    assert made(threshold, 1) == 1.0 and type(made(threshold, 1)) is float
    assert made(threshold, "high") == "high"
    assert made(str | int, 5.0) == 5
    assert made(str | int | float | bool, 1.5) == 1.5
    assert made(str | int | float | bool, True) is True
    # A value that is none of them is one error, which lists what each member said.
    with pytest.raises(ValidationError) as raised:
        made(threshold, [1])
    (error,) = raised.value.errors()
    assert (error["type"], error["loc"]) == ("union_type", ())
    assert error["msg"] == "Input should be a valid boolean or a valid number or a valid string"
    assert [e["type"] for e in error["ctx"]["errors"]] == ["bool_type", "float_type", "string_type"]


def test_a_union_of_models_says_each_members_errors_under_its_name() -> None:
    class Disk(Model):
        mount: str

    class Memory(Model):
        percent: float

    assert refused(Disk | Memory, {"mount": 1, "percent": "x"}) == [
        ("string_type", ("Disk", "mount")),
        ("float_parsing", ("Memory", "percent")),
    ]


def test_optional_errors_are_the_members_own() -> None:
    assert refused(int | None, "x") == [("int_parsing", ())]
    assert made(int | None, None) is None


def test_lists_take_other_sequences_lax_and_locate_each_wrong_item() -> None:
    assert made(list[int], (1, "2")) == [1, 2]
    assert refused(list[int], [1, "x", "y"]) == [("int_parsing", (1,)), ("int_parsing", (2,))]
    assert refused(list[int], "ab") == [("list_type", ())]
    assert refused(list[int], {1: 2}) == [("list_type", ())]
    assert refused(list[int], (1,), strict=True) == [("list_type", ())]


def test_a_mapping_locates_a_wrong_key_and_still_checks_its_value() -> None:
    assert refused(dict[str, str], {1: "a"}) == [("string_type", (1, "[key]"))]
    assert refused(dict[str, int], {1: "x"}) == [
        ("string_type", (1, "[key]")),
        ("int_parsing", (1,)),
    ]
    assert refused(dict[str, str], ["a"]) == [("dict_type", ())]


def test_a_literal_matches_its_choices_and_lists_them() -> None:
    with pytest.raises(ValidationError) as raised:
        made(Literal["a", "b", "c"], "d")
    (error,) = raised.value.errors()
    assert error["ctx"] == {"expected": "'a', 'b' or 'c'"}
    assert error["msg"] == "Input should be 'a', 'b' or 'c'"
    # Unlike pydantic, which takes true for 1: a boolean is no number here.
    assert refused(Literal[1, 2], True) == [("literal_error", ())]
    assert refused(Literal[True], 1) == [("literal_error", ())]
    assert made(Literal[1, 2], 2.0) == 2


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


def test_an_enum_is_its_member_or_its_value_unless_strict() -> None:
    assert made(Colour, "red") is Colour.RED
    assert made(Colour, Colour.BLUE, strict=True) is Colour.BLUE
    assert refused(Colour, "red", strict=True) == [("enum", ())]
    with pytest.raises(ValidationError) as raised:
        made(Colour, "green")
    assert raised.value.errors()[0]["msg"] == "Input should be 'red' or 'blue'"


def test_a_time_is_iso_8601_or_seconds_since_the_epoch() -> None:
    assert made(datetime, "2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    assert made(datetime, "2026-01-01") == datetime(2026, 1, 1)
    assert made(datetime, "1700000000") == datetime.fromtimestamp(1700000000, UTC)
    assert refused(datetime, "2026-W01") == [("datetime_from_date_parsing", ())]
    assert refused(datetime, " 5 ") == [("datetime_from_date_parsing", ())]
    assert refused(datetime, "2026-01-01", strict=True) == [("datetime_type", ())]


def test_a_timedelta_is_one_or_a_number_of_seconds() -> None:
    assert made(timedelta, 90) == timedelta(seconds=90)
    assert refused(timedelta, "90s") == [("timedelta_type", ())]


@pytest.mark.parametrize(
    ("text", "normal"),
    [("https://Status.Example.com", "https://status.example.com/"),
     ("HTTPS://example.com:443/a?b=1", "https://example.com/a?b=1"),
     ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
     ("http://[::1]:9093/x", "http://[::1]:9093/x")],
)  # fmt: skip
def test_a_url_is_kept_in_its_normal_spelling(text: str, normal: str) -> None:
    url = made(HttpUrl, text)
    assert str(url) == normal
    assert url == HttpUrl(normal)


@pytest.mark.parametrize(
    ("text", "error"),
    [("example.com", "url_parsing"), ("ftp://example.com", "url_scheme"),
     ("http://", "url_parsing"), ("http://exa mple.com", "url_parsing"),
     ("http://[zz]/", "url_parsing"), ("http://x:99999/", "url_parsing"),
     ("http://x/" + "a" * 2100, "url_too_long"), (5, "url_type")],
)  # fmt: skip
def test_a_url_that_is_no_http_url_says_why(text: Any, error: str) -> None:
    assert refused(HttpUrl, text) == [(error, ())]


def _double(value: int) -> int:
    return value * 2


def _text_to_int(value: Any) -> Any:
    return int(value.removesuffix("%")) if isinstance(value, str) else value


def _mark(mark: str) -> Any:
    return BeforeValidator(lambda value: f"{value}{mark}")


def test_annotated_parts_wrap_what_precedes_them() -> None:
    # A later BeforeValidator runs first; a later AfterValidator runs last.
    assert made(Annotated[str, _mark("1"), _mark("2")], "x") == "x21"
    after = Annotated[int, AfterValidator(_double), AfterValidator(lambda v: v + 1)]
    assert made(after, 3) == 7


def test_a_constraint_reports_the_value_as_it_was_written() -> None:
    percent = Annotated[float, BeforeValidator(_text_to_int), Field(ge=0, le=100)]
    with pytest.raises(ValidationError) as raised:
        made(percent, "150%")
    (error,) = raised.value.errors()
    assert (error["type"], error["input"], error["ctx"]) == ("less_than_equal", "150%", {"le": 100})
    port = Annotated[int, Field(ge=1)]
    with pytest.raises(ValidationError) as raised:
        made(port, False)
    assert raised.value.errors()[0]["input"] is False


def test_a_patterns_end_is_the_end_of_the_text_not_a_last_newline() -> None:
    # Python's $ matches before a final newline; an app name ends up in an argv.
    name = Annotated[str, Field(pattern=r"^[a-z$]+$")]
    assert refused(name, "api\n") == [("string_pattern_mismatch", ())]
    assert made(name, "a$b") == "a$b"  # a $ in a class is a character
    with pytest.raises(ValidationError) as raised:
        made(name, "API")
    assert raised.value.errors()[0]["ctx"] == {"pattern": "^[a-z$]+$"}


def test_length_and_pattern_constraints() -> None:
    name = Annotated[str, Field(min_length=2, max_length=3, pattern=r"^[a-z]+$")]
    assert refused(name, "a") == [("string_too_short", ())]
    assert refused(name, "abcd") == [("string_too_long", ())]
    assert refused(name, "A1") == [("string_pattern_mismatch", ())]
    items = Annotated[list[int], Field(min_length=1)]
    with pytest.raises(ValidationError) as raised:
        made(items, [])
    assert raised.value.errors()[0]["ctx"] == {
        "field_type": "List",
        "actual_length": 0,
        "min_length": 1,
    }
    assert raised.value.errors()[0]["msg"] == (
        "List should have at least 1 item after validation, not 0"
    )


def test_a_validator_raising_value_error_is_a_value_error_at_its_place() -> None:
    def no_zero(value: int) -> int:
        if value == 0:
            raise ValueError("must not be zero")
        return value

    with pytest.raises(ValidationError) as raised:
        made(list[Annotated[int, AfterValidator(no_zero)]], [1, 0])
    (error,) = raised.value.errors()
    assert (error["type"], error["loc"], error["msg"]) == (
        "value_error",
        (1,),
        "Value error, must not be zero",
    )


def test_a_validator_raising_anything_else_is_not_hidden() -> None:
    def broken(value: int) -> int:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        made(Annotated[int, AfterValidator(broken)], 1)


def test_an_unknown_annotation_is_refused_when_it_is_built() -> None:
    with pytest.raises(TypeError, match="cannot validate"):
        TypeAdapter(complex)


def test_json_text_is_parsed_strictly() -> None:
    adapter: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
    assert adapter.validate_json(b'{"a": [1, 2]}') == {"a": [1, 2]}
    for raw in (b"{", b'{"a": "\\ud800"}', b'{"a": "\xff"}', b"\xef\xbb\xbf{}", b"[" * 2000,
                b'{"a": NaN}'):  # fmt: skip
        with pytest.raises(ValidationError) as raised:
            adapter.validate_json(raw)
        assert raised.value.errors()[0]["type"] == "json_invalid"


@pytest.mark.parametrize(
    ("annotation", "value", "error"),
    [(int, "1" * 5000, "int_parsing_size"), (float, 10**400, "finite_number"),
     (timedelta, float("nan"), "timedelta_type"), (datetime, 10**400, "datetime_from_date_parsing"),
     (set[list[int]], [[1]], "set_item_not_hashable"), (int, "5.", "int_parsing"),
     (float, True, "float_type")],
)  # fmt: skip
def test_an_input_python_itself_cannot_convert_is_an_error_never_a_crash(
    annotation: Any, value: Any, error: str
) -> None:
    assert refused(annotation, value) == [(error, ())]


def test_a_constraint_on_an_optional_field_lets_none_through() -> None:
    assert made(Annotated[int | None, Field(ge=1)], None) is None
    assert refused(Annotated[int | None, Field(ge=1)], 0) == [("greater_than_equal", ())]


@pytest.mark.parametrize(
    ("text", "normal", "host"),
    [("http://evil.example\\@good.example/", "http://evil.example/@good.example/",
      "evil.example"),
     ("https://bücher.example/x", "https://xn--bcher-kva.example/x", "xn--bcher-kva.example")],
)  # fmt: skip
def test_a_url_names_the_host_a_client_would_reach(text: str, normal: str, host: str) -> None:
    url = made(HttpUrl, text)
    assert (str(url), url.host) == (normal, host)


@pytest.mark.parametrize("text", ["http://a<b>.example/", "http://x%41.example/"])
def test_a_url_with_a_character_no_host_may_hold_is_refused(text: str) -> None:
    assert refused(HttpUrl, text) == [("url_parsing", ())]
