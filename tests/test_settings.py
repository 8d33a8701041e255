"""abkit.settings: frozen dataclasses validated by pydantic, with one-line errors naming the field."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import pytest
from pydantic import Field, model_validator

from abkit.settings import SettingsError, settings


@settings
class Inner:
    size: Annotated[int, Field(ge=1)] = 32
    wait_s: Annotated[float, Field(ge=0)] = 0.0


@settings
class Outer:
    inner: Inner = dataclasses.field(default_factory=Inner)
    low: int = 0
    high: int = 1

    @model_validator(mode="after")
    def _ordered(self) -> Outer:
        if self.low >= self.high:
            raise ValueError(f"low must be below high ({self.low} >= {self.high})")
        return self


def test_a_settings_class_is_a_frozen_dataclass():
    assert Inner(3, 0.5) == Inner(size=3, wait_s=0.5) == dataclasses.replace(Inner(), size=3, wait_s=0.5)
    assert hash(Inner()) == hash(Inner(32, 0.0)) and Outer().inner == Inner()
    with pytest.raises(dataclasses.FrozenInstanceError):
        Inner().size = 2  # type: ignore[misc]
    assert Inner(wait_s=1).wait_s == 1.0  # lax: an int is a float


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Inner(size=0), "size: input should be greater than or equal to 1, got 0"),
        (
            lambda: Inner(size=0, wait_s=-1),
            "size: input should be greater than or equal to 1, got 0; wait_s: input should be greater than or equal "
            "to 0, got -1",
        ),
        (lambda: Inner(size="many"), "size: input should be a valid integer"),
        (lambda: dataclasses.replace(Inner(), size=0), "size: input should be greater than or equal to 1"),
        (lambda: Outer(low=2, high=1), "low must be below high (2 >= 1)"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_field(make, message):
    with pytest.raises(SettingsError) as caught:
        make()
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)
