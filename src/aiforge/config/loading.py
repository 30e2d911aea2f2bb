"""Read experiment configs (YAML, JSON, TOML), apply dotted overrides, and validate them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ValidationError

from aiforge.config.model_configs import (
    ExperimentConfig,
    ModelSpecificConfig,
    SchedulerConfig,
    TrackingConfig,
    TrainingConfig,
    logged_name_problems,
    model_config_as,
)
from aiforge.errors import ConfigError, PluginError, did_you_mean
from aiforge.mappings import set_at_path

if TYPE_CHECKING:
    from aiforge.config.composition import ComposedConfig


class _YAMLLoader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` and ``1.0e5`` as floats, and refuses duplicate keys.

    PyYAML follows YAML 1.1, where a float needs a dot and a signed exponent, so
    ``weight_decay: 1e-4`` (or ``-o training_config.optimizer_args.weight_decay=1e-4``)
    would arrive as the string ``'1e-4'``; YAML 1.2, JSON and TOML read it as a number.
    PyYAML also keeps the last of two equal keys in one mapping, so an edit to the first
    would be silently lost; YAML itself (and TOML) call that an error.
    """

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:  # the keys as written: merged ``<<`` keys may be overridden
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    first = seen[key].start_mark.line + 1
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key {key!r} appears twice in one mapping (first on line {first})",
                        key_node.start_mark,
                    )
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


_YAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YAMLLoader)  # a SafeLoader subclass: builds no objects


SUFFIXES = {".yaml": "YAML", ".yml": "YAML", ".json": "JSON", ".toml": "TOML"}
DEFAULT_EXAMPLE = "default"
# Limits on a config's shape: a real config is a few levels deep and a few hundred values,
# a hostile one (deep nesting, YAML aliases that expand exponentially) must fail fast.
MAX_DEPTH = 50
MAX_VALUES = 100_000
# A real config is a few kilobytes; PyYAML takes minutes over ten megabytes (a base: may name any file).
MAX_FILE_BYTES = 1_000_000


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The file's top-level mapping; any problem is a ConfigError naming the file."""
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(
            f"{path}: unsupported config format '{path.suffix}'; use .yaml, .yml, .json or .toml"
        )
    try:
        text = _read_text(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the config file: {err}") from None
    # Checked before parsing so that an empty .json or .toml file says so too
    # (JSON would report "Expecting value", TOML an empty mapping).
    data = None if not text.strip() else _parse(text, kind, path)
    if data is None:
        raise ConfigError(f"{path}: the config file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, not {type(data).__name__}")
    return plain_copy(data, str(path))


def _read_text(path: Path) -> str:
    """The file's text, refused when it is not a regular file (a device or pipe never ends) or is
    larger than ``MAX_FILE_BYTES`` (checked on the bytes read, not only on the size it reports)."""
    if path.exists() and not path.is_file() and not path.is_dir():  # checked before open: a pipe blocks
        raise ConfigError(f"{path}: not a regular file (a device, pipe or socket); name a config file")
    with path.open("rb") as file:
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            f"{path}: the config file is larger than {MAX_FILE_BYTES:,} bytes; a config is a few "
            "kilobytes (is this the right file?)"
        )
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text() would


def _parse(text: str, kind: str, path: Path) -> Any:
    try:
        if kind == "YAML":
            return _load_yaml(text)
        if kind == "JSON":
            return json.loads(text, object_pairs_hook=lambda pairs: _unique_keys(pairs, path))
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        return tomllib.loads(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"{path}: invalid JSON (line {err.lineno}, column {err.colno}): {err.msg}"
        ) from None
    except ValueError as err:  # tomllib.TOMLDecodeError; an integer too long to convert
        raise ConfigError(f"{path}: invalid {kind}: {err}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid {kind}: nested too deeply") from None


def _unique_keys(pairs: list[tuple[str, Any]], path: Path) -> dict[str, Any]:
    """A JSON object; a key given twice is an error (json keeps the last one silently)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ConfigError(f"{path}: invalid JSON: key {key!r} appears twice in one object")
        result[key] = value
    return result


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Set ``a.b.c=value`` entries; values are parsed as YAML (``30``, ``true``, ``[1, 2]``)."""
    result = plain_copy(data)
    for override in overrides:
        key, sep, raw = override.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(
                f"override '{override}': expected key.path=value, e.g. training_config.epochs=30"
            )
        if len(parts) > MAX_DEPTH:
            raise ConfigError(f"override '{_clip(override)}': the key path is deeper than {MAX_DEPTH} levels")
        try:
            value = plain_copy(_load_yaml(raw), f"override '{_clip(override)}'") if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        except (ValueError, RecursionError) as err:  # an integer too long to convert, deep nesting
            problem = "nested too deeply" if isinstance(err, RecursionError) else str(err)
            raise ConfigError(f"override '{_clip(override)}': cannot read the value: {problem}") from None
        try:
            set_at_path(result, ".".join(parts), value)
        except ValueError as err:
            raise ConfigError(f"override '{_clip(override)}': {_not_a_mapping(result, parts, err)}") from None
    return result


def _not_a_mapping(data: dict[str, Any], parts: list[str], err: ValueError) -> str:
    """Why an override cannot set ``parts``: a list on the way cannot be entered by index."""
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, list):
            key = ".".join(parts[: depth + 1])
            return (
                f"'{key}' is a list, and an override cannot set one item of a list by index; "
                f"give the whole list, e.g. -o '{key}=[...]', or change it in the config file"
            )
    return str(err)


def plain_copy(data: Any, source: str = "the config") -> Any:
    """A deep copy of parsed config data with no shared parts, as JSON would carry it.

    YAML aliases (``*anchor``) become separate copies, so an override of one place never
    changes another. Keys that are not text become text as JSON writes them (``1`` ->
    ``"1"``, a YAML date -> ``"2024-01-31"``) and values that JSON has no type for (dates,
    sets, bytes) become their text. A recursive alias, nesting deeper than ``MAX_DEPTH``
    or more than ``MAX_VALUES`` values (aliases that expand exponentially) is a ConfigError.
    """
    count = 0
    on_path: set[int] = set()

    def copy(value: Any, depth: int) -> Any:
        nonlocal count
        count += 1
        if count > MAX_VALUES:
            raise ConfigError(f"{source} holds more than {MAX_VALUES:,} values (YAML aliases that expand?)")
        if isinstance(value, str | int | float | bool) or value is None:
            return value
        if not isinstance(value, dict | list | tuple):
            return str(value)
        if depth >= MAX_DEPTH:
            raise ConfigError(f"{source} is nested deeper than {MAX_DEPTH} levels")
        if id(value) in on_path:
            raise ConfigError(f"{source} contains itself (a recursive YAML alias)")
        on_path.add(id(value))
        try:
            if isinstance(value, dict):
                result, original = {}, {}
                for key, item in value.items():
                    text = _text_key(key)
                    if text in original:  # 1 and '1': one key once both are text
                        raise ConfigError(
                            f"{source}: key {text!r} appears twice (as {original[text]!r} and {key!r})"
                        )
                    original[text], result[text] = key, copy(item, depth + 1)
                return result
            return [copy(v, depth + 1) for v in value]
        finally:
            on_path.discard(id(value))

    return copy(data, 0)


def _text_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool | int | float) or key is None:
        return json.dumps(key)  # as json.dumps writes a key: 1 -> "1", None -> "null", True -> "true"
    return str(key)


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _show(value: Any, limit: int = 200) -> str:
    """``repr`` of a user's value for a message, shortened; never fails (a 5000-digit int has no repr)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        text = f"<{type(value).__name__} too large to show>"
    return _clip(text, limit)


def build_experiment_config(
    data: Mapping[str, Any],
    source: str = "config",
    plugins_dir: Path | None = None,
    origin: Callable[[Iterable[Any]], str] | None = None,
) -> ExperimentConfig:
    """Validate a mapping; every problem is collected into one ConfigError naming key paths.

    ``origin`` (a composed config's): the file or override that set a key path; a problem with a
    value set elsewhere than ``source`` (a base file, an ``-o`` override) names it.
    """
    data = dict(data)
    if "sweep" in data:  # `aiforge sweep` takes the section off before validating the rest
        raise ConfigError(
            f"{source}: has a sweep: section; run the sweep with `aiforge sweep {source}` "
            "(`aiforge run` trains one configuration: remove the section to run the base config)"
        )
    model_data = data.pop("model_config", None)
    errors: list[str] = []
    try:
        ExperimentConfig.model_validate({**data, "model_config": ModelSpecificConfig()})
    except ValidationError as err:
        errors += _describe(
            err,
            prefix=(),
            schema=None,
            origin=_elsewhere(origin, source),
            files=origin or (lambda loc: source),
        )
    model_config = None
    config_class = _plugin_config_class(data, plugins_dir, errors)
    if config_class is not None:
        if model_data is not None and not isinstance(model_data, dict):
            expected = f"expected a mapping of {config_class.__name__} fields"
            errors.append(f"  model_config: {expected}, got {_show(model_data)}")
        else:
            try:
                model_config = model_config_as(config_class, model_data)
            except ValidationError as err:
                errors += _describe(
                    err, prefix=("model_config",), schema=config_class, origin=_elsewhere(origin, source)
                )
    if errors:
        raise ConfigError(f"invalid experiment config in {source}:\n" + "\n".join(errors))
    config = ExperimentConfig.model_validate({**data, "model_config": model_config})
    problems = logged_name_problems(config)
    if problems:
        raise ConfigError(f"invalid experiment config in {source}:\n" + "\n".join(f"  {p}" for p in problems))
    return config


def _plugin_config_class(
    data: Mapping[str, Any], plugins_dir: Path | None, errors: list[str]
) -> type[ModelSpecificConfig] | None:
    """Check both plugin names; return the model plugin's config class when it resolves."""
    from aiforge.core.plugins import locate, model_config_class

    config_class = None
    for key in ("model_plugin", "dataset_plugin"):
        name = data.get(key)
        if not isinstance(name, str) or not name:
            continue  # reported by the schema validation
        try:
            if key == "model_plugin":
                config_class = model_config_class(name, plugins_dir)
            else:
                locate(name, plugins_dir)
        except PluginError as err:
            errors.append(f"  {key}: {err}")
    return config_class


_NESTED: dict[tuple[str, ...], type[BaseModel]] = {
    (): ExperimentConfig,
    ("training_config",): TrainingConfig,
    ("training_config", "scheduler"): SchedulerConfig,
    ("tracking",): TrackingConfig,
}


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _elsewhere(
    origin: Callable[[Iterable[Any]], str] | None, source: str
) -> Callable[[tuple[str, ...]], str]:
    """`` (set in FILE)`` for a key path whose value came from elsewhere than ``source``, else ``""``."""

    def where(loc: tuple[str, ...]) -> str:
        found = origin(loc) if origin is not None and loc else source
        if found == source:
            return ""
        return f" (set by {found})" if found.startswith("override ") else f" (set in {found})"

    return where


def _describe(
    err: ValidationError,
    prefix: tuple[str, ...],
    schema: type[BaseModel] | None,
    origin: Callable[[tuple[str, ...]], str] = lambda loc: "",
    files: Callable[[tuple[str, ...]], str] | None = None,
) -> list[str]:
    from aiforge.errors import ConflictingKeys

    lines = []
    for error in err.errors():
        loc = prefix + tuple(str(part) for part in error["loc"])
        path = ".".join(loc)
        where = origin(loc) if path else ""  # at the end: messages still start "key.path: problem"
        conflict = (error.get("ctx") or {}).get("error")
        if isinstance(conflict, ConflictingKeys):  # no dump of the section: say where each key was set
            message = str(conflict)
            if files is not None:
                message += (
                    " [" + ", ".join(f"{key} set in {files((*loc, key))}" for key in conflict.keys) + "]"
                )
            lines.append(f"  {path}: {message}")
            continue
        if error["type"] == "extra_forbidden":
            parent = schema if schema is not None and len(loc) == 2 else _NESTED.get(loc[:-1])
            hint = did_you_mean(loc[-1], _keys_of(parent)) if parent else ""
            if parent is ModelSpecificConfig:
                hint += " (the model plugin's Model does not set config_class, so it takes no settings)"
            lines.append(f"  {path}: unknown key{hint}{where}")
        elif error["type"] == "missing":
            lines.append(f"  {path}: required key is missing{where}")
        else:
            message = error["msg"].removeprefix("Value error, ")
            if not path:  # a check of several keys at once: its message names them
                lines.append(f"  {message}")
                continue
            lines.append(f"  {path}: {message} (got {_show(error.get('input'))}){where}")
    return lines


def compose_file(path: Path, overrides: Iterable[str] = (), *, run_folder: bool = False) -> ComposedConfig:
    """The file's data with its ``base:`` files merged, ``overrides`` applied and ``${...}`` resolved,
    and where each key path came from (see :mod:`aiforge.config.composition`)."""
    from aiforge.config.composition import compose

    return compose(path, overrides, read_config_file, apply_overrides, run_folder=run_folder)


def load_experiment_config(
    path: str | Path,
    overrides: Iterable[str] = (),
    plugins_dir: Path | None = None,
    *,
    saved: bool = False,
    ignore_callbacks: bool = False,
) -> ExperimentConfig:
    """Read (with its ``base:`` files), override, resolve ``${...}`` references and validate.

    A relative ``data_path`` (or ``test_data_path``, or a dataset_args/preprocess_args value
    under a key ending in ``_file``) that exists next to the config file that set it (and not in
    the working directory) is made absolute, so configs travel with their data. A run folder's
    own config (read under ``run_folder_plugins``), or any ``saved`` one (a logged model's), is
    data: its ``base:`` is refused and its ``${`` is text. ``ignore_callbacks``: the ``callbacks``
    are neither imported nor validated (evaluate, predict and export never run them).
    """
    from aiforge.core.plugins import is_run_folder_config

    path = Path(path)
    composed = compose_file(path, overrides, run_folder=saved or is_run_folder_config(path))
    data = composed.data
    if ignore_callbacks:
        data.pop("callbacks", None)
    for key in ("data_path", "test_data_path"):
        if key in data:
            data[key] = _beside(composed.file_of([key]), data[key])
    for section in ("dataset_args", "preprocess_args"):  # files they name: tokenizer_file
        arguments = data.get(section)
        if isinstance(arguments, dict):
            data[section] = {
                key: _beside(composed.file_of([section, key]), value)
                if isinstance(key, str) and key.endswith("_file")
                else value
                for key, value in arguments.items()
            }
    return build_experiment_config(data, source=str(path), plugins_dir=plugins_dir, origin=composed.origin)


def _beside(config_path: Path, value: Any) -> Any:
    """A relative path found next to the config file (and not in the working directory) as an
    absolute one; anything else as it is."""
    if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
        beside = config_path.parent / value
        if not _exists(Path(value)) and _exists(beside):
            return str(beside.resolve())
    return value


def _exists(path: Path) -> bool:
    """``path.exists()``, False for text no file can have (too long, a NUL): the schema says why."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def examples_dir() -> Path:
    return Path(str(resources.files("aiforge") / "examples"))


def list_examples() -> dict[str, Path]:
    """Bundled example configs by name (the file name without suffix)."""
    return {p.stem: p for p in sorted(examples_dir().iterdir()) if p.suffix.lower() in SUFFIXES}


def example_path(name: str = DEFAULT_EXAMPLE) -> Path:
    examples = list_examples()
    if name not in examples:
        raise ConfigError(
            f"unknown example '{name}'{did_you_mean(name, examples)}; available: {', '.join(examples)}"
        )
    return examples[name]
