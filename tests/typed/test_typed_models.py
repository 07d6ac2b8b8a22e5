"""A model finds every problem of a mapping in one pass, runs checks across keys on
what validated, and behaves as a frozen value afterwards."""

from __future__ import annotations

import copy
import pickle
import threading
from datetime import timedelta
from typing import Annotated, Any, ClassVar

import pytest

from calmopsd.typed import (
    CROSS_CHECK,
    ConfigDict,
    CrossCheck,
    Field,
    Model,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    across_items,
    field_validator,
)


class Strict(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Token(Strict):
    name: str
    role: str = "viewer"
    owner: str | None = None
    admin: bool = False

    def _one_owner(self) -> None:
        if (self.owner is None) == (not self.admin):
            raise ValueError(f"give an owner or admin: true (token {self.name!r})")

    cross_checks = (CrossCheck(("name", "owner", "admin"), _one_owner),)


def _unique(tokens: list[tuple[int, Any]]) -> None:
    names = [token.name for _, token in tokens if token.name is not None]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"repeated: {', '.join(repeated)}")


class Api(Strict):
    public: bool = False
    listen: str = "127.0.0.1:8787"
    tokens: Annotated[list[Token], across_items(_unique)] = Field(default_factory=list)
    hold: int = Field(default=3, alias="for", ge=1)

    @field_validator("listen")
    @classmethod
    def _loopback_unless_public(cls, value: str, info: ValidationInfo) -> str:
        if not value.startswith("127.") and info.data.get("public") is False:
            raise ValueError("not loopback")
        return value

    def _public_has_tokens(self) -> None:
        if self.public and not self.tokens:
            raise ValueError("public, but no token")

    cross_checks = (CrossCheck(("public", "tokens"), _public_has_tokens, at="tokens"),)


def errors_of(model: type[Model], data: Any) -> list[tuple[str, tuple, str]]:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(data)
    return [(e["type"], e["loc"], e["msg"]) for e in raised.value.errors()]


def test_every_problem_is_found_in_one_pass_fields_first_then_keys_in_input_order() -> None:
    found = errors_of(Token, {"role": 5, 7: "x", "colour": "red"})
    assert found == [
        ("missing", ("name",), "Field required"),
        ("string_type", ("role",), "Input should be a valid string"),
        ("invalid_key", (7,), "Keys should be strings"),
        ("extra_forbidden", ("colour",), "Extra inputs are not permitted"),
    ]


def test_a_mapping_is_required() -> None:
    assert errors_of(Token, ["name"]) == [
        ("model_type", (), "Input should be a valid dictionary or instance of Token")
    ]


def test_an_alias_is_the_key_in_the_input_and_the_name_is_the_attribute() -> None:
    api = Api.model_validate({"for": "2"})
    assert api.hold == 2
    assert errors_of(Api, {"hold": 2}) == [
        ("extra_forbidden", ("hold",), "Extra inputs are not permitted")
    ]
    assert api.model_dump(by_alias=True)["for"] == 2
    assert Api.model_fields["hold"].alias == "for"


def test_a_field_validator_sees_the_fields_before_it_that_validated() -> None:
    assert errors_of(Api, {"public": False, "listen": "0.0.0.0:1"})[0][2] == (
        "Value error, not loopback"
    )
    # public is wrong itself: not in info.data, so listen is not judged against it.
    assert [loc for _, loc, _ in errors_of(Api, {"public": "maybe", "listen": "0.0.0.0:1"})] == [
        ("public",)
    ]


def test_a_check_across_keys_runs_on_a_valid_model_and_reports_at_its_key() -> None:
    assert errors_of(Api, {"public": True, "listen": "0.0.0.0:1"}) == [
        (CROSS_CHECK, ("tokens",), "public, but no token")
    ]


def test_a_check_runs_past_an_error_in_a_key_it_does_not_read() -> None:
    found = errors_of(Api, {"public": True, "listen": "0.0.0.0:1", "for": 0})
    assert [(kind, loc) for kind, loc, _ in found] == [
        ("greater_than_equal", ("for",)),
        (CROSS_CHECK, ("tokens",)),
    ]


def test_a_check_waits_for_a_key_it_reads_that_is_wrong() -> None:
    found = errors_of(Api, {"public": "maybe"})
    assert [kind for kind, _, _ in found] == ["bool_parsing"]


def test_a_list_check_compares_the_right_items_and_the_wrong_ones_with_their_wrong_keys_none() -> (
    None
):
    data = {
        "tokens": [
            {"name": "ops", "admin": True},
            {"name": "ops", "owner": "acme", "role": 5},  # wrong role, right name
            {"name": 7, "admin": True},  # wrong name: None, not compared
            "not a token",
        ]
    }
    found = errors_of(Api, data)
    assert found == [
        ("string_type", ("tokens", 1, "role"), "Input should be a valid string"),
        ("string_type", ("tokens", 2, "name"), "Input should be a valid string"),
        (
            "model_type",
            ("tokens", 3),
            "Input should be a valid dictionary or instance of Token",
        ),
        (CROSS_CHECK, ("tokens",), "repeated: ops"),
    ]


def test_an_items_own_check_does_not_make_it_wrong_for_the_list_or_the_model() -> None:
    data = {"public": True, "tokens": [{"name": "a"}, {"name": "a", "admin": True}]}
    found = errors_of(Api, data)
    assert found == [
        (CROSS_CHECK, ("tokens", 0), "give an owner or admin: true (token 'a')"),
        (CROSS_CHECK, ("tokens",), "repeated: a"),
    ]


def test_a_list_wrong_as_a_whole_is_not_compared() -> None:
    assert errors_of(Api, {"tokens": "ops"}) == [
        ("list_type", ("tokens",), "Input should be a valid list")
    ]


def test_a_model_is_frozen_hashable_and_equal_by_its_fields() -> None:
    token = Token(name="ops", admin=True)
    with pytest.raises(ValidationError) as raised:
        token.name = "other"  # type: ignore[misc]
    assert raised.value.errors()[0]["type"] == "frozen_instance"
    assert token == Token.model_validate({"name": "ops", "admin": True})
    assert token != Token(name="ops", owner="acme")
    assert len({token, Token(name="ops", admin=True)}) == 1
    assert repr(token) == "Token(name='ops', role='viewer', owner=None, admin=True)"


def test_a_model_remembers_which_fields_were_written() -> None:
    token = Token.model_validate({"name": "ops", "admin": True})
    assert token.model_fields_set == {"name", "admin"}
    copied = token.model_copy(update={"role": "operator"})
    assert copied.role == "operator" and token.role == "viewer"
    assert copied.model_fields_set == {"name", "admin", "role"}


def test_copies_and_pickles_keep_the_fields_and_what_was_written() -> None:
    api = Api.model_validate({"tokens": [{"name": "ops", "admin": True}]})
    for clone in (copy.copy(api), copy.deepcopy(api), pickle.loads(pickle.dumps(api))):  # noqa: S301
        assert clone == api
        assert clone.model_fields_set == {"tokens"}


def _seconds(value: timedelta) -> str:
    return f"{int(value.total_seconds())}s"


class Timer(Strict):
    every: Annotated[timedelta, PlainSerializer(_seconds, when_used="json")] = timedelta(60)
    token: Token | None = None
    names: list[str] = Field(default_factory=lambda: ["a"])


def test_a_dump_is_python_values_or_json_types() -> None:
    timer = Timer.model_validate({"token": {"name": "x", "admin": True}})
    assert timer.model_dump() == {
        "every": timedelta(60),
        "token": {"name": "x", "role": "viewer", "owner": None, "admin": True},
        "names": ["a"],
    }
    assert timer.model_dump(mode="json")["every"] == "5184000s"
    assert "token" not in timer.model_dump(exclude={"token"})
    assert Timer(names=["b"]).model_dump(exclude_defaults=True) == {"names": ["b"]}


def test_a_default_list_is_never_shared_between_models() -> None:
    first, second = Timer(), Timer()
    assert first.names == second.names
    assert first.names is not second.names


def test_a_model_instance_is_taken_as_it_is() -> None:
    token = Token(name="ops", admin=True)
    assert Api.model_validate({"tokens": [token]}).tokens[0] is token


def test_a_json_body_is_strict_but_takes_text_for_what_json_cannot_spell() -> None:
    class Body(Model):
        model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
        count: int
        when: Annotated[str, Field(max_length=5)] | None = None

    assert Body.model_validate_json(b'{"count": 2}').count == 2
    with pytest.raises(ValidationError) as raised:
        Body.model_validate_json(b'{"count": "2"}')
    assert raised.value.errors()[0]["type"] == "int_type"
    with pytest.raises(ValidationError) as raised:
        Body.model_validate_json(b"[1]")
    assert raised.value.errors()[0]["msg"] == "Input should be an object"


class Lazy(Strict):
    """Fields resolved at the first use; its annotation names a later class."""

    child: Later | None = None


class Later(Strict):
    value: int = 1


def test_fields_are_resolved_once_at_the_first_use_even_from_many_threads_at_once() -> None:
    assert Lazy.__dict__.get("__typed_built__") is None
    results: list[Any] = []
    start = threading.Barrier(8)

    def first_use() -> None:
        start.wait(timeout=10)
        results.append(Lazy.model_validate({"child": {"value": "2"}}).child)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == [Later(value=2)] * 8
    assert Lazy.__dict__["__typed_built__"] is Lazy.built()


def test_a_model_declared_inside_a_function_resolves_its_local_names() -> None:
    class Inner(Strict):
        value: int

    class Outer(Strict):
        inner: Inner
        every: ClassVar[int] = 3

    assert Outer.model_validate({"inner": {"value": 1}}).inner.value == 1
    assert "every" not in Outer.model_fields


def test_an_error_shows_its_input_bounded_even_when_it_is_a_yaml_alias_bomb() -> None:
    bomb: Any = ["x"] * 10
    for _ in range(6):  # a million leaves, each list shared as YAML aliases share them
        bomb = [bomb] * 10
    with pytest.raises(ValidationError) as raised:
        Token.model_validate({"name": "ops", "admin": True, "payload": bomb})
    assert raised.value.errors()[0]["input"] is bomb
    assert len(str(raised.value)) < 1_000


def test_a_json_dump_spells_nested_keys_by_alias_too() -> None:
    class Outer(Strict):
        inner: Api = Field(default_factory=Api)

    assert Outer().model_dump(mode="json", by_alias=True)["inner"]["for"] == 3
    assert Outer().model_dump(by_alias=True)["inner"]["for"] == 3
    assert "hold" in Outer().model_dump(mode="json")["inner"]
