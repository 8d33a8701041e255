"""Settings classes: frozen dataclasses whose fields pydantic validates on construction.

Declare bounds with :func:`pydantic.Field` in ``Annotated`` types (``Annotated[int, Field(ge=1)]``)
and cross-field rules with ``@pydantic.model_validator(mode="after")``. A bad value raises
:class:`SettingsError` (a ValueError) in one line naming the field, which the commands print as
they are; everything else is a standard frozen dataclass (positional or keyword construction,
``dataclasses.replace``, equality, hashing).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar, dataclass_transform

from pydantic import Field, ValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting out of its bounds, naming the field, the rule and the value."""


def describe(error: ValidationError) -> str:
    """A pydantic error in one line: ``field: rule, got value`` for each field that failed."""
    parts = []
    for detail in error.errors(include_url=False):
        where = ".".join(str(part) for part in detail["loc"])
        rule = detail["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        rule = rule[:1].lower() + rule[1:]
        shown = "" if detail["type"] in ("value_error", "assertion_error") else f", got {detail['input']!r}"
        parts.append(f"{where}: {rule}{shown}" if where else f"{rule}{shown}")
    return "; ".join(parts)


@dataclass_transform(frozen_default=True, field_specifiers=(Field, dataclasses.field))
def settings(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen, pydantic-validated dataclass whose errors are :class:`SettingsError`."""
    validated: Any = pydantic_dataclass(frozen=True)(cls)
    validate = validated.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            validate(self, *args, **kwargs)
        except ValidationError as error:
            raise SettingsError(describe(error)) from None

    __init__.__signature__ = validated.__signature__  # type: ignore[attr-defined]
    validated.__init__ = __init__
    return validated
