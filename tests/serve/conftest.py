"""Fixtures of the API tests: the scenario-filled template store, and served copies of it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from support.api import Stack, StackMaker, Template, build_template, serve_copy

from calmopsd.model import Reading


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def make_stack(template: Template, tmp_path: Path) -> Iterator[StackMaker]:
    """Fresh served copies of the template; each stopped and closed at teardown."""
    made: list[Stack] = []

    def make(latest: Mapping[str, Reading] | None = None, name: str = "copy") -> Stack:
        stack = serve_copy(template, tmp_path / f"{name}{len(made)}", latest)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.close()
