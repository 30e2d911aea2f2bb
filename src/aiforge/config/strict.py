"""The base of every config section: a misspelled key or a boolean where a number belongs is an
error, never silently accepted."""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

# Floats that must be real numbers: ``.inf`` is as much a mistake as ``.nan`` for these.
FinitePositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
FiniteNonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def _numbers_only(annotation: Any) -> bool:
    """True when a field takes int or float but not bool (``Optional`` and ``Annotated`` unwrapped)."""
    leaves: set[Any] = set()

    def collect(tp: Any) -> None:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            collect(typing.get_args(tp)[0])
        elif origin is Union or origin is types.UnionType:
            for arg in typing.get_args(tp):
                collect(arg)
        else:
            leaves.add(tp)

    collect(annotation)
    return bool(leaves & {int, float}) and not leaves & {bool, Any, object}


class StrictSection(BaseModel):
    """Unknown keys are errors: a misspelled option must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """pydantic reads ``true`` as 1 for an int field; ``epochs: yes`` (YAML 1.1's true) is a mistake."""
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _numbers_only(field.annotation):
            raise ValueError(
                "expected a number, not a boolean (YAML reads yes/no/on/off/true/false as booleans)"
            )
        return value
