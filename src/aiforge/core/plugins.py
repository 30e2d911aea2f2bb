"""Plugin discovery: built-in, entry point, user folder, or dotted import path, in that order."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib
import importlib.util
import inspect
import pkgutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from aiforge.errors import PluginError, did_you_mean

ENTRY_POINT_GROUP = "aiforge.plugins"
BUILTIN_PACKAGE = "aiforge.plugins"
Kind = Literal["model", "dataset", "preprocessor"]
CLASS_NAMES: dict[str, str] = {
    "model": "Model",
    "dataset": "Dataset",
    "preprocessor": "Preprocessor",
}


@dataclass(frozen=True)
class PluginLocation:
    """Where a plugin name resolved to."""

    name: str
    module: str
    origin: str  # "built-in", "entry point (dist)", "folder PATH", "import path"


@dataclass
class PluginInfo:
    """What ``aiforge plugins`` shows about one plugin."""

    location: PluginLocation
    classes: dict[str, str] = field(default_factory=dict)
    config_fields: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def _plugins_dir(plugins_dir: Path | None) -> Path | None:
    if plugins_dir is not None:
        return plugins_dir
    from aiforge.config.settings import get_settings

    return get_settings().PLUGINS_DIR


def _entry_points() -> dict[str, list[metadata.EntryPoint]]:
    """Entry points by plugin name; a name with several distinct targets keeps them all."""
    found: dict[str, list[metadata.EntryPoint]] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        same_name = found.setdefault(ep.name, [])
        if all(other.value != ep.value for other in same_name):
            same_name.append(ep)
    return found


def _entry_point(name: str, candidates: list[metadata.EntryPoint]) -> metadata.EntryPoint:
    """The one entry point registered under ``name``; ambiguity is an error naming every provider."""
    if len(candidates) > 1:
        providers = " and ".join(f"{ep.value} ({_dist_name(ep)})" for ep in candidates)
        raise PluginError(
            f"plugin name '{name}' is registered twice in entry-point group "
            f"'{ENTRY_POINT_GROUP}': {providers}; uninstall one of them"
        )
    return candidates[0]


def _dist_name(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.metadata['Name']} {dist.version}" if dist else "unknown distribution"


def _is_builtin(name: str) -> bool:
    if not name.isidentifier() or name.startswith("_"):
        return False
    return importlib.util.find_spec(f"{BUILTIN_PACKAGE}.{name}") is not None


def _folder_plugins(plugins_dir: Path | None) -> dict[str, Path]:
    if plugins_dir is None or not plugins_dir.is_dir():
        return {}
    return {
        p.name: p
        for p in sorted(plugins_dir.iterdir())
        if p.is_dir() and (p / "__init__.py").is_file() and p.name.isidentifier()
    }


def builtin_names() -> list[str]:
    package = importlib.import_module(BUILTIN_PACKAGE)
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))


def available_names(plugins_dir: Path | None = None) -> list[str]:
    names = set(builtin_names()) | set(_entry_points()) | set(_folder_plugins(_plugins_dir(plugins_dir)))
    return sorted(names)


def locate(name: str, plugins_dir: Path | None = None) -> PluginLocation:
    """Resolve a plugin name to an importable module, in the documented order."""
    if not name or not isinstance(name, str):
        raise PluginError("a plugin name must be a non-empty string")
    if _is_builtin(name):
        return PluginLocation(name, f"{BUILTIN_PACKAGE}.{name}", "built-in")
    entry_points = _entry_points()
    if name in entry_points:
        ep = _entry_point(name, entry_points[name])
        return PluginLocation(name, ep.value.split(":", 1)[0], f"entry point ({_dist_name(ep)})")
    folder = _plugins_dir(plugins_dir)
    folders = _folder_plugins(folder)
    if name in folders:
        return PluginLocation(name, _import_folder_plugin(name, folders[name]), f"folder {folders[name]}")
    if _is_import_path(name):
        _refuse_run_folder_import_path(name)
    if _is_import_path(name) and importlib.util.find_spec(name.split(".", 1)[0]) is not None:
        return PluginLocation(name, name, "import path")
    choices = available_names(folder)
    raise PluginError(
        f"unknown plugin '{name}'{did_you_mean(name, choices)}. Available: {', '.join(choices)}. "
        "A plugin is a built-in name, an installed entry point in group "
        f"'{ENTRY_POINT_GROUP}', a package folder in AIFORGE_PLUGINS_DIR"
        f"{f' ({folder})' if folder else ' (not set)'}, or a dotted import path"
        f"{_working_directory_hint(name)}"
    )


def _working_directory_hint(name: str) -> str:
    """A dotted path whose package sits in the working directory: say why it was not found."""
    if not _is_import_path(name):
        return ""
    top = name.split(".", 1)[0]
    try:
        cwd = Path.cwd()
        if not ((cwd / top / "__init__.py").is_file() or (cwd / f"{top}.py").is_file()):
            return ""
    except OSError:  # the working directory was removed
        return ""
    return (
        f"; '{top}' is in the working directory ({cwd}), which AIForge does not import from: "
        "install it (pip install -e) or run with PYTHONPATH=."
    )


ALLOW_DOTTED_FLAG = "--allow-dotted-plugins"


@dataclass(frozen=True)
class _RunFolderSource:
    config_file: Path
    allow_dotted: bool


# Set while plugins are resolved from a run folder's config (evaluate, predict, export, resume).
_run_folder: contextvars.ContextVar[_RunFolderSource | None] = contextvars.ContextVar(
    "aiforge_run_folder_plugins", default=None
)


def is_run_folder_config(path: str | Path) -> bool:
    """Whether ``path`` is the run folder config being read now (its ``base:``/``${`` are data)."""
    source = _run_folder.get()
    return source is not None and Path(path) == source.config_file


@contextlib.contextmanager
def run_folder_plugins(config_file: str | Path, allow_dotted: bool = False) -> Iterator[None]:
    """Resolve plugins named by a run folder's ``config_file``: a run folder is data, not code.

    Built-in, entry-point and AIFORGE_PLUGINS_DIR plugins resolve as usual; a dotted import
    path is refused (a PluginError) unless ``allow_dotted``. Unless allowed, the working
    directory that ``python -m``/``-c`` put first on ``sys.path`` is also taken off it meanwhile,
    so no module there shadows an installed one.
    """
    from aiforge.config.trust import run_folder_config

    token = _run_folder.set(_RunFolderSource(Path(config_file), allow_dotted))
    removed = None if allow_dotted else _working_directory_entry()
    if removed is not None:
        del sys.path[0]
    try:  # the same rule for the classes its config names (callbacks, optimizer, loss, scheduler)
        with run_folder_config(None if allow_dotted else Path(config_file)):
            yield
    finally:
        _run_folder.reset(token)
        if removed is not None:
            sys.path.insert(0, removed)


def _working_directory_entry() -> str | None:
    """``sys.path[0]`` when it is the working directory (``python -c``, the REPL, an API caller)."""
    from aiforge._script_path import working_directory_entry

    return working_directory_entry()


def _refuse_run_folder_import_path(name: str) -> None:
    """A dotted path named only by a run folder's config is not imported without the opt-in, and
    none under ``--no-imports``."""
    from aiforge.config.trust import NO_IMPORTS_FLAG, imports_refused

    if imports_refused():
        raise PluginError(
            f"plugin '{name}' is a dotted import path, and {NO_IMPORTS_FLAG} allows only built-in, "
            f"installed (entry-point group '{ENTRY_POINT_GROUP}') and AIFORGE_PLUGINS_DIR plugins "
            f"(a config that names a module imports it: configs are code); install the plugin, or "
            f"run without {NO_IMPORTS_FLAG} if you trust this config and that module"
        )
    source = _run_folder.get()
    if source is None or source.allow_dotted:
        return
    raise PluginError(
        f"plugin '{name}' is a dotted import path named by the run folder's {source.config_file}; "
        "a run folder is data, so AIForge does not import the modules it names. If you trust this "
        f"run folder and that module, pass {ALLOW_DOTTED_FLAG}; otherwise install the plugin "
        f"(entry-point group '{ENTRY_POINT_GROUP}') or put it in AIFORGE_PLUGINS_DIR"
    )


def _is_import_path(name: str) -> bool:
    """``a.b.c`` with identifier parts (find_spec('') raises in some import hooks)."""
    return "." in name and all(part.isidentifier() for part in name.split("."))


def _import_folder_plugin(name: str, folder: Path) -> str:
    """Import ``folder`` as a package under a private name, so relative imports work inside it."""
    # The folder's path is part of the name: two plugin folders that both hold a ``name``
    # package (another AIFORGE_PLUGINS_DIR, a test's tmp dir) must not share one module.
    digest = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:10]
    module_name = f"_aiforge_user_plugin_{name}_{digest}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            module_name, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        if spec is None or spec.loader is None:
            raise PluginError(f"plugin '{name}': cannot import the folder {folder}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except _IMPORT_FAILURES as err:
            del sys.modules[module_name]
            raise PluginError(f"plugin '{name}' ({folder}) failed to import: {_describe(err)}") from err
    return module_name


# A plugin module that calls sys.exit() while it is imported is broken, not a request to quit.
_IMPORT_FAILURES = (Exception, SystemExit)


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _import(module: str, plugin: str) -> ModuleType | None:
    """Import ``module``; None when it does not exist, a PluginError when it is broken."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is not None and (module == err.name or module.startswith(f"{err.name}.")):
            return None
        raise PluginError(f"plugin '{plugin}' failed to import ({module}): {_describe(err)}") from err
    except _IMPORT_FAILURES as err:
        raise PluginError(f"plugin '{plugin}' failed to import ({module}): {_describe(err)}") from err


def load_class(name: str, kind: Kind, plugins_dir: Path | None = None, required: bool = True) -> Any:
    """The ``Model``, ``Dataset`` or ``Preprocessor`` class of a plugin, checked against its base."""
    location = locate(name, plugins_dir)
    class_name = CLASS_NAMES[kind]
    package = _import(location.module, name)
    if package is None:
        raise PluginError(f"plugin '{name}' ({location.origin}): module {location.module} not found")
    submodule = _import(f"{location.module}.{kind}", name) if hasattr(package, "__path__") else None
    cls = getattr(submodule, class_name, None) if submodule else getattr(package, class_name, None)
    if cls is None:
        if not required:
            return None
        raise PluginError(
            f"plugin '{name}' ({location.origin}) has no {class_name} class: expected "
            f"{location.module}.{kind}.{class_name} (a {kind}.py module defining class {class_name})"
        )
    base = _base_class(kind)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise PluginError(
            f"plugin '{name}': {class_name} ({getattr(cls, '__module__', '?')}."
            f"{getattr(cls, '__qualname__', cls)}) must be a subclass of {base.__module__}."
            f"{base.__name__}"
        )
    return cls


@dataclass(frozen=True)
class PluginClasses:
    """The classes one run uses: the model plugin's Model, the dataset plugin's Dataset and
    Preprocessor (None: no preprocessing)."""

    model: type
    dataset: type
    preprocessor: type | None


def plugin_classes(
    model_plugin: str,
    dataset_plugin: str,
    plugins_dir: Path | None = None,
    *,
    model: type | None = None,
    dataset: type | None = None,
    preprocessor: type | None = None,
) -> PluginClasses:
    """The one place a run's plugin classes are resolved: those given are kept, the rest loaded by
    name (:func:`plugin_class`). With ``dataset`` given, ``preprocessor`` is used as given (None: no
    preprocessing)."""
    model = model or plugin_class(model_plugin, "model", plugins_dir)
    if dataset is None:
        dataset = plugin_class(dataset_plugin, "dataset", plugins_dir)
        preprocessor = preprocessor or plugin_class(dataset_plugin, "preprocessor", plugins_dir)
    return PluginClasses(model, dataset, preprocessor)


def plugin_class(plugin: str, kind: Kind, plugins_dir: Path | None = None) -> type | None:
    """One class of a run, from the plugin named for it (the model plugin for ``model``, the
    dataset plugin otherwise); resolving one kind never resolves another plugin name (a
    Container's override of one class). A dataset plugin may have no Preprocessor: None."""
    return load_class(plugin, kind, plugins_dir, required=kind != "preprocessor")


def _base_class(kind: Kind) -> type:
    if kind == "model":
        from aiforge.core.base_model import BaseModel

        return BaseModel
    from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor

    return BaseDataset if kind == "dataset" else BasePreprocessor


def model_config_class(name: str, plugins_dir: Path | None = None) -> type:
    """The ``ModelSpecificConfig`` subclass a model plugin declares in ``Model.config_class``."""
    from aiforge.config.model_section import ModelSpecificConfig

    model_class = load_class(name, "model", plugins_dir)
    config_class = getattr(model_class, "config_class", None)
    if not (isinstance(config_class, type) and issubclass(config_class, ModelSpecificConfig)):
        raise PluginError(
            f"plugin '{name}': Model.config_class must be a subclass of ModelSpecificConfig, "
            f"got {config_class!r}"
        )
    return config_class


def describe_plugins(plugins_dir: Path | None = None) -> list[PluginInfo]:
    """Every plugin that can be found, with its classes and config fields (errors included)."""
    folder = _plugins_dir(plugins_dir)
    infos = []
    for name in available_names(folder):
        try:
            info = PluginInfo(location=locate(name, folder))
        except PluginError as err:
            infos.append(PluginInfo(PluginLocation(name, "?", "?"), error=str(err)))
            continue
        try:
            for kind, class_name in CLASS_NAMES.items():
                cls = load_class(name, kind, folder, required=False)  # type: ignore[arg-type]
                if cls is not None:
                    info.classes[class_name] = f"{cls.__module__}.{cls.__qualname__}"
            if "Model" in info.classes:
                config_class = model_config_class(name, folder)
                info.config_fields = {
                    field_name: _type_name(field_info.annotation)
                    for field_name, field_info in config_class.model_fields.items()
                }
        except PluginError as err:
            info.error = str(err)
        infos.append(info)
    return infos


def _type_name(annotation: Any) -> str:
    """``int`` rather than ``<class 'int'>``; generic annotations as written, without ``typing.``."""
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def call_plugin(plugin: str, config_key: str | None, function: Any, *args: Any, **kwargs: Any) -> Any:
    """Call plugin code with arguments from the config.

    Arguments the function does not take are a ConfigError naming the config key. An
    AIForgeError (DataError, ConfigError, PluginError) is the plugin saying on purpose that the
    user's input is wrong (exit 2); any other exception is a failure of the plugin's code: a
    TrainingError naming the plugin and the method (exit 1), the original as its cause.
    """
    from aiforge.errors import AIForgeError, ArgumentError, ConfigError, TrainingError

    name = getattr(function, "__qualname__", repr(function))
    where = f" (check {config_key} in the config)" if config_key else ""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as err:
            filled = set(list(signature.parameters)[: len(args)])  # given by AIForge, not the config
            accepted = [
                name
                for name, parameter in signature.parameters.items()
                if name != "self"
                and name not in filled
                and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
            ]
            unknown = [k for k in kwargs if k not in signature.parameters]
            hint = did_you_mean(unknown[0], accepted) if unknown else ""
            raise ConfigError(
                f"plugin '{plugin}': {name}: {err}{hint}{where}; it accepts "
                f"{', '.join(accepted) if accepted else 'no arguments from the config'}"
            ) from None
    try:
        return function(*args, **kwargs)
    except ArgumentError as err:  # a helper such as build_loss refusing a value from the config
        raise ConfigError(f"plugin '{plugin}': {name}: {err}{where}") from err
    except AIForgeError:
        raise
    except Exception as err:
        raise TrainingError(f"plugin '{plugin}' failed in {name}: {type(err).__name__}: {err}") from err
