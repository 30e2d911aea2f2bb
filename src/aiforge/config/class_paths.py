"""Objects named in a config file in the ecosystem's ``class_path`` + ``init_args`` form.

``callbacks: [{class_path, init_args}]`` names Callback classes (a built-in's short name or a
dotted path); ``training_config.optimizer``/``loss``/``scheduler`` in that form are translated to
the canonical ``optimizer_name``/``optimizer_args`` (etc.), which may then hold a dotted path.
Every dotted path is imported through :func:`import_class`, which asks :mod:`aiforge.config.trust`
first: a config that names a class imports it, so configs are code.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from pydantic import Field, field_validator, model_validator

from aiforge.config.strict import StrictSection
from aiforge.config.trust import dotted_path_refusal
from aiforge.errors import CallbackInitError, ConflictingKeys, did_you_mean

# The AIForge callbacks a config may name by short name. ModelCheckpoint, MetricsHistory and
# LRSchedulerCallback are left out: every run already has them, built from training_config.
BUILTIN_CALLBACKS = {
    "EarlyStopping": "aiforge.utils.callbacks.EarlyStopping",
    "ProgressBar": "aiforge.utils.progress.ProgressBar",
}
_CALLBACK_BASE = ("aiforge.utils.callbacks", "Callback")


def is_dotted(name: str) -> bool:
    """``a.b.C``: a dotted import path rather than the name of a built-in."""
    return "." in name


def import_class(path: str, bases: tuple[type, ...], what: str, alternative: str) -> type:
    """The class at dotted ``path`` (``package.module.ClassName``), a subclass of ``bases``.

    Refused (ValueError) under ``--no-imports`` and for a run folder's config without the opt-in;
    a module that fails to import, a missing attribute or another class is a ValueError naming
    ``path``. ``alternative``: what to name instead, for the refusal's message.
    """
    cls = _import_dotted(path, what, alternative)
    if not issubclass(cls, bases):
        expected = " or ".join(f"{base.__module__}.{base.__qualname__}" for base in bases)
        raise ValueError(f"{what} '{path}' is not a subclass of {expected}")
    return cls


def _import_dotted(path: str, what: str, alternative: str) -> type:
    refusal = dotted_path_refusal(what, path, alternative)
    if refusal is not None:
        raise ValueError(refusal)
    module_name, _, attribute = path.rpartition(".")
    if not module_name or not all(part.isidentifier() for part in path.split(".")):
        raise ValueError(f"{what} '{path}' is not a dotted path of the form package.module.ClassName")
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as err:  # a module that exits while imported is broken too
        raise ValueError(
            f"{what} '{path}': module '{module_name}' failed to import ({type(err).__name__}: {err}); "
            "is its package installed or on PYTHONPATH?"
        ) from None
    cls = getattr(module, attribute, None)
    if cls is None:
        public = sorted(n for n, v in vars(module).items() if inspect.isclass(v) and not n.startswith("_"))
        raise ValueError(
            f"{what} '{path}': module '{module_name}' has no attribute '{attribute}'"
            f"{did_you_mean(attribute, public)}"
        )
    if not inspect.isclass(cls):
        raise ValueError(f"{what} '{path}' is a {type(cls).__name__}, not a class")
    return cls


def callback_class(class_path: str) -> type:
    """A Callback subclass by built-in short name or dotted path (ValueError naming it)."""
    builtin = BUILTIN_CALLBACKS.get(class_path)
    if builtin is None and not is_dotted(class_path):
        raise ValueError(
            f"unknown callback '{class_path}'{did_you_mean(class_path, list(BUILTIN_CALLBACKS))}; "
            f"built-in callbacks: {', '.join(BUILTIN_CALLBACKS)}, or a dotted path "
            "package.module.ClassName of a subclass of aiforge.utils.callbacks.Callback"
        )
    if builtin is not None:
        cls = _import_builtin(builtin)
    else:
        cls = _import_dotted(class_path, "callback", _builtin_choice())
    # Checked by name: the config layer does not import the training layer's Callback.
    if not any((base.__module__, base.__qualname__) == _CALLBACK_BASE for base in cls.__mro__):
        raise ValueError(f"callback '{class_path}' is not a subclass of aiforge.utils.callbacks.Callback")
    return cls


def _import_builtin(path: str) -> type:
    module_name, _, attribute = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)  # type: ignore[no-any-return]


def _builtin_choice() -> str:
    return f"name a built-in callback ({', '.join(BUILTIN_CALLBACKS)})"


def init_args_problem(cls: type, init_args: dict[str, Any]) -> str | None:
    """Why ``cls(**init_args)`` cannot be called (an unknown or missing argument); None: it can."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return None  # no signature to check against (a C extension): the call itself will tell
    try:
        signature.bind(**init_args)
    except TypeError as err:
        accepted = [
            name
            for name, parameter in signature.parameters.items()
            if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        ]
        unknown = [key for key in init_args if key not in signature.parameters]
        hint = did_you_mean(unknown[0], accepted) if unknown else ""
        return f"{cls.__qualname__}: {err}{hint}; it accepts {', '.join(accepted) or 'no arguments'}"
    return None


class CallbackSpec(StrictSection):
    """One callback from the config file: its class and the keyword arguments to build it with."""

    class_path: str = Field(
        ...,
        description="A built-in callback's short name (EarlyStopping, ProgressBar) or the dotted path "
        "package.module.ClassName of a subclass of aiforge.utils.callbacks.Callback.",
    )
    init_args: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the class.")

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, data: Any) -> Any:
        """Say which form an item takes; ``init_args: null`` is no arguments (as for the optimizer)."""
        if not isinstance(data, dict):
            raise ValueError(f"expected {{class_path: ..., init_args: {{...}}}}, got {data!r}")
        data = dict(data)
        if data.get("init_args", {}) is None:
            del data["init_args"]
        if "class_path" in data:
            data["class_path"] = short_name(data["class_path"], "callback")
        return data

    @field_validator("class_path")
    @classmethod
    def _importable_callback(cls, class_path: str) -> str:
        callback_class(class_path)
        return class_path

    @model_validator(mode="after")
    def _arguments_fit(self) -> CallbackSpec:
        problem = init_args_problem(callback_class(self.class_path), self.init_args)
        if problem is not None:
            raise ValueError(f"callback '{self.class_path}': init_args do not fit {problem}")
        return self


def build_callback(spec: CallbackSpec, key: str) -> Any:
    """An instance of ``spec``; an exception raised by its ``__init__`` is a ConfigError naming it."""
    cls = callback_class(spec.class_path)
    try:
        return cls(**spec.init_args)
    except Exception as err:
        raise CallbackInitError(
            f"{key}: {spec.class_path}({_arguments(spec.init_args)}) failed: {type(err).__name__}: {err}"
        ) from err


def _arguments(args: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in args.items())


# -- the same form for the optimizer, the loss and the scheduler -------------------------------


def _object(data: dict[str, Any], key: str) -> tuple[str, dict[str, Any]]:
    """``data[key]`` as (class_path, init_args); anything else is a ValueError naming the key."""
    spec = data[key]
    if not isinstance(spec, dict) or "class_path" not in spec:
        raise ValueError(f"{key}: expected {{class_path: ..., init_args: {{...}}}}, got {spec!r}")
    unknown = [k for k in spec if k not in ("class_path", "init_args")]
    if unknown:
        raise ValueError(f"{key}: unknown key(s) {unknown}; it takes class_path and init_args")
    class_path, init_args = spec["class_path"], spec.get("init_args") or {}
    if not isinstance(class_path, str) or not class_path:
        raise ValueError(f"{key}.class_path: expected a class name or dotted path, got {class_path!r}")
    if not isinstance(init_args, dict):
        raise ValueError(f"{key}.init_args: expected a mapping of keyword arguments, got {init_args!r}")
    return class_path, dict(init_args)


def _drop_nulls(data: dict[str, Any], keys: tuple[str, ...]) -> None:
    """An explicit null counts as not given: a later file writes ``optimizer_name: null`` to switch
    a base file's optimizer_name to ``optimizer:`` (mappings merge, so it cannot delete the key)."""
    for key in keys:
        if key in data and data[key] is None:
            del data[key]


def _refuse_both(data: dict[str, Any], key: str, canonical: tuple[str, ...]) -> None:
    given = [name for name in canonical if name in data]
    if given:
        raise ConflictingKeys(
            f"{key} and {' / '.join(given)} both name the {key}; give either {key}: "
            f"{{class_path, init_args}} or {' and '.join(canonical)}, not both (when a base file gives "
            f"{given[0]}, write {given[0]}: null in the file that gives {key}:)",
            (key, *given),
        )


# Where torch's own classes live: a dotted path into one of these modules that names the class
# the short name names is written as the short name (the fused kernel, --no-imports, run folders).
_TORCH_MODULES = {
    "optimizer": ("torch.optim", ("torch.optim",)),
    "loss": ("torch.nn", ("torch.nn", "torch.nn.modules.loss")),
    "scheduler": ("torch.optim.lr_scheduler", ("torch.optim.lr_scheduler",)),
}


def short_name(name: Any, kind: str) -> Any:
    """``torch.optim.AdamW`` -> ``AdamW`` when the short name resolves to the same class; a built-in
    callback's full path -> its short name; anything else as it is (imports only torch's modules)."""
    if not isinstance(name, str) or not is_dotted(name):
        return name
    if kind == "callback":
        return next((short for short, path in BUILTIN_CALLBACKS.items() if path == name), name)
    namespace, modules = _TORCH_MODULES[kind]
    module_name, _, attribute = name.rpartition(".")
    if module_name not in modules or not attribute.isidentifier() or attribute.startswith("_"):
        return name
    cls = getattr(importlib.import_module(module_name), attribute, None)
    same = cls is not None and getattr(importlib.import_module(namespace), attribute, None) is cls
    return attribute if same else name


def translate_training(data: Any) -> Any:
    """``optimizer:``/``loss:`` objects of training_config as optimizer_name/optimizer_args
    (``lr`` in init_args -> learning_rate) and loss_fn_name/loss_fn_args; torch's classes by
    dotted path as their short names; an explicit null for any of these keys as not given."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    named = ("optimizer", "loss", "optimizer_name", "optimizer_args", "loss_fn_name", "loss_fn_args")
    _drop_nulls(data, (*named, "learning_rate"))
    if "optimizer" in data:
        _refuse_both(data, "optimizer", ("optimizer_name", "optimizer_args"))
        class_path, init_args = _object(data, "optimizer")
        if "lr" in init_args:
            if "learning_rate" in data:
                raise ConflictingKeys(
                    "optimizer.init_args.lr and learning_rate both set the learning rate; give one "
                    "(when a base file gives learning_rate, write learning_rate: null in the file that "
                    "gives optimizer:)",
                    ("optimizer", "learning_rate"),
                )
            data["learning_rate"] = init_args.pop("lr")
        del data["optimizer"]
        data["optimizer_name"], data["optimizer_args"] = class_path, init_args
    if "loss" in data:
        _refuse_both(data, "loss", ("loss_fn_name", "loss_fn_args"))
        class_path, init_args = _object(data, "loss")
        del data["loss"]
        data["loss_fn_name"], data["loss_fn_args"] = class_path, init_args
    for key, kind in (("optimizer_name", "optimizer"), ("loss_fn_name", "loss")):
        if key in data:
            data[key] = short_name(data[key], kind)
    return data


def translate_scheduler(data: Any) -> Any:
    """``scheduler: {class_path, init_args, monitor, ...}`` as ``{name, args, monitor, ...}``;
    torch's classes by dotted path as their short names; a null name or args as not given."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    _drop_nulls(data, ("class_path", "init_args", "name", "args"))
    if not ("class_path" in data or "init_args" in data):
        if "name" in data:
            data["name"] = short_name(data["name"], "scheduler")
        return data
    given = [name for name in ("name", "args") if name in data]
    if given:
        raise ConflictingKeys(
            f"scheduler: class_path/init_args and {' / '.join(given)} both name the scheduler; "
            "give either class_path and init_args or name and args, not both (when a base file gives "
            f"{given[0]}, write {given[0]}: null in the file that gives class_path:)",
            ("class_path" if "class_path" in data else "init_args", *given),
        )
    if "class_path" not in data:
        raise ValueError("scheduler: init_args given without class_path")
    class_path, init_args = data.pop("class_path"), data.pop("init_args", None) or {}
    if not isinstance(class_path, str) or not class_path:
        raise ValueError(f"scheduler.class_path: expected a class name or dotted path, got {class_path!r}")
    if not isinstance(init_args, dict):
        raise ValueError(f"scheduler.init_args: expected a mapping of keyword arguments, got {init_args!r}")
    data["name"], data["args"] = short_name(class_path, "scheduler"), dict(init_args)
    return data
