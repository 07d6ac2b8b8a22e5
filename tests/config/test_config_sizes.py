"""Sizes in the config (``retention.max_store_size``): binary units, never a bare number."""

from __future__ import annotations

import pytest

from calmopsd.config.sensing import RetentionConfig
from calmopsd.config.sizes import format_size, parse_size
from calmopsd.typed import ValidationError


@pytest.mark.parametrize(
    ("text", "size"),
    [("512MiB", 512 * 2**20), ("1 GiB", 2**30), ("64KiB", 65536), ("4096B", 4096), ("2TiB", 2**41)],
)
def test_a_size_is_read_in_its_unit_and_spelt_back_the_same(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert parse_size(format_size(size)) == size


@pytest.mark.parametrize("text", ["512", "512MB", "1.5GiB", "GiB", "-1MiB", ""])
def test_anything_but_a_whole_number_and_a_binary_unit_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="must be a size like 512MiB or 1GiB"):
        parse_size(text)


def test_the_cap_has_a_default_and_a_floor() -> None:
    assert RetentionConfig().max_store_size == 512 * 2**20
    assert RetentionConfig.model_validate({"max_store_size": "1GiB"}).max_store_size == 2**30
    with pytest.raises(ValidationError, match="must be at least 16MiB \\(got 1MiB\\)"):
        RetentionConfig.model_validate({"max_store_size": "1MiB"})
    with pytest.raises(ValidationError, match="must be a size like 512MiB"):
        RetentionConfig.model_validate({"max_store_size": 536870912})
