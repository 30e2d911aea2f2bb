"""The model plugin's section of a config: its base class and the one rule that validates it.

A leaf: the config schema, the plugin contracts (``BaseModel.config_class``) and plugin discovery
all import it, and it imports none of them, so none of them imports another back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from aiforge.config.strict import StrictSection


class ModelSpecificConfig(StrictSection):
    """Base class for a model plugin's settings; plugins subclass it and add fields.

    ``input_dim`` and ``output_dim``, when a subclass declares them and leaves them
    unset, are filled in from the data (feature count, class count).
    """


SectionT = TypeVar("SectionT", bound=ModelSpecificConfig)


def model_config_as(
    config_class: type[SectionT], value: ModelSpecificConfig | Mapping[str, Any] | None
) -> SectionT:
    """``value`` (a mapping, nothing, or another plugin's config) as an instance of ``config_class``.

    An instance of ``config_class`` is kept as it is; another ``ModelSpecificConfig`` is checked
    by the fields it was given (e.g. a SimpleNNConfig for a plugin whose config has the same
    fields). Raises pydantic's ValidationError; each caller words it for where the value came from.
    """
    if isinstance(value, config_class):
        return value
    if isinstance(value, ModelSpecificConfig):
        value = value.model_dump(exclude_unset=True)
    return config_class.model_validate(value or {})
