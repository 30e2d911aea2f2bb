"""Writes docs/reference/config.md from the pydantic schema, so the reference cannot drift from the code.

mkdocs-gen-files runs this file during `mkdocs build`; `python docs/gen_config_reference.py` prints
the page. tests/test_docs.py calls :func:`render_config_reference` and :func:`missing_descriptions`.
"""

from __future__ import annotations

import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from aiforge.config.model_configs import (
    CompileConfig,
    ExperimentConfig,
    SchedulerConfig,
    SimpleNNConfig,
    TrackingConfig,
    TrainingConfig,
)
from aiforge.config.settings import AppSettings
from aiforge.sweeps.config import CategoricalParam, FloatParam, IntParam, SweepConfig

PAGE = "reference/config.md"

# (class, the key path it sits under in an experiment file, what the section is)
SECTIONS: list[tuple[type[BaseModel], str, str]] = [
    (ExperimentConfig, "", "The top level of an experiment file."),
    (TrainingConfig, "training_config", "The training loop."),
    (SchedulerConfig, "training_config.scheduler", "An optional LR scheduler."),
    (CompileConfig, "training_config.compile", "torch.compile's options, when `compile` is a mapping."),
    (TrackingConfig, "tracking", "MLflow tracking of the run."),
    (
        SimpleNNConfig,
        "model_config",
        "The built-in `simple_nn` model's settings (other model plugins declare their own: "
        "`aiforge plugins` lists their fields).",
    ),
    (SweepConfig, "sweep", "A hyperparameter search, read by `aiforge sweep` only ([Sweeps](../sweeps.md))."),
    (FloatParam, "sweep.space.<key path>", "A real-number range of the search space (`type: float`)."),
    (IntParam, "sweep.space.<key path>", "A whole-number range of the search space (`type: int`)."),
    (
        CategoricalParam,
        "sweep.space.<key path>",
        "A list of values of the search space (`type: categorical`).",
    ),
]
SECTION_OF = {cls: path for cls, path, _ in SECTIONS}


def anchor(cls: type) -> str:
    """The heading id mkdocs gives a section titled by the class name."""
    return cls.__name__.lower()


def type_text(annotation: Any) -> str:
    """A field's type as a reader writes it in YAML: int, true/false, one of 'a' / 'b', a mapping."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        bounds = bounds_text(args[1:])
        return f"{type_text(args[0])} ({bounds})" if bounds else type_text(args[0])
    if origin is typing.Literal:
        return " / ".join(f"`{value}`" for value in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_text(arg) for arg in args)
    if origin is dict:
        values = type_text(args[1]) if len(args) == 2 else ""
        return f"mapping of key path to {values}" if "](#" in values else "mapping"
    if origin is list:
        return f"list of {type_text(args[0])}" if args else "list"
    if annotation is type(None):
        return "null"
    if annotation is bool:
        return "true/false"
    if annotation is Path:
        return "path"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in SECTION_OF:
            return f"[{annotation.__name__}](#{anchor(annotation)})"
        return "mapping"
    return getattr(annotation, "__name__", str(annotation))


def bounds_text(metadata: typing.Iterable[Any]) -> str:
    """Numeric bounds from a field's metadata (PositiveInt, Field(ge=...)), e.g. '> 0, <= 1'."""
    marks = [
        (annotated_types.Gt, ">", "gt"),
        (annotated_types.Ge, ">=", "ge"),
        (annotated_types.Lt, "<", "lt"),
        (annotated_types.Le, "<=", "le"),
    ]
    return ", ".join(
        f"{sign} {getattr(item, attribute)}"
        for item in metadata
        for kind, sign, attribute in marks
        if isinstance(item, kind)
    )


def value_text(value: Any) -> str:
    """A default as it would be written in a YAML experiment file."""
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, BaseModel):
        return f"see [{type(value).__name__}](#{anchor(type(value))})"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, (dict, list)) and not value:
        return "`{}`" if isinstance(value, dict) else "`[]`"
    return f"`{value}`"


# Defaults that a validator fills in, where the declared default (None) would mislead.
FILLED_DEFAULTS = {
    "model_specific_config": "the model plugin's defaults",
    "early_stopping_mode": "follows the monitor",
}


def default_text(field: FieldInfo, name: str = "") -> str:
    if name in FILLED_DEFAULTS:
        return FILLED_DEFAULTS[name]
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return value_text(field.default_factory())  # type: ignore[call-arg]
    return value_text(field.default)


def cell(text: str) -> str:
    """Table-safe text: no pipes or line breaks inside a cell."""
    return " ".join(text.replace("|", "\\|").split())


def field_rows(cls: type[BaseModel]) -> list[str]:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field in cls.model_fields.items():
        key = field.alias or name
        kind = type_text(field.annotation)
        bounds = bounds_text(field.metadata)
        if bounds:
            kind = f"{kind} ({bounds})"
        default = default_text(field, name)
        rows.append(f"| `{key}` | {cell(kind)} | {cell(default)} | {cell(field.description or '')} |")
    return rows


def settings_rows() -> list[str]:
    prefix = AppSettings.model_config.get("env_prefix", "")
    rows = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for name, field in AppSettings.model_fields.items():
        default = "unset" if field.default is None else default_text(field)
        rows.append(
            f"| `{prefix}{name}` | {cell(type_text(field.annotation))} | {default} "
            f"| {cell(field.description or '')} |"
        )
    return rows


def missing_descriptions() -> list[str]:
    """Fields the reference would show without a meaning: each one is a gap in the schema's docs."""
    classes = [cls for cls, _, _ in SECTIONS] + [AppSettings]
    return [
        f"{cls.__name__}.{name}"
        for cls in classes
        for name, field in cls.model_fields.items()
        if not (field.description or "").strip()
    ]


def render_config_reference() -> str:
    """The whole reference page, as Markdown."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from the pydantic schema in `aiforge.config.model_configs`, "
        "`aiforge.sweeps.config` and `aiforge.config.settings` by `docs/gen_config_reference.py` "
        "each time the docs are built, so it always matches the code. `aiforge config schema` "
        "prints the same schema as JSON Schema (for editor completion); "
        "[Configuration](../configuration.md) explains how the pieces fit together.",
        "",
    ]
    for cls, path, what in SECTIONS:
        where = f"`{path}:`" if path else "the top level"
        lines += [f"## {cls.__name__}", "", f"{what} Key path: {where}.", "", *field_rows(cls), ""]
    lines += [
        "## AppSettings",
        "",
        "Environment variables, or the same lines in a `.env` file in the working directory "
        "(`aiforge.config.settings.AppSettings`).",
        "",
        *settings_rows(),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_config_reference())
elif __name__ == "<run_path>":  # run by mkdocs-gen-files (runpy.run_path) during a docs build
    import mkdocs_gen_files

    with mkdocs_gen_files.open(PAGE, "w") as page:
        page.write(render_config_reference())
    mkdocs_gen_files.set_edit_path(PAGE, "docs/gen_config_reference.py")
