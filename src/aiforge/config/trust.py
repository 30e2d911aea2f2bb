"""Which dotted import paths a config may make AIForge import: a config that names a class is code.

Two switches, both context variables so they hold for exactly one command's validation:
``--no-imports`` (:func:`no_imports`: an untrusted config file, names of built-ins only) and a run
folder's config (:func:`run_folder_config`, set by ``core.plugins.run_folder_plugins``: a run
folder is data, dotted paths need ``--allow-dotted-plugins``). Nothing here imports anything.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from pathlib import Path

NO_IMPORTS_FLAG = "--no-imports"
ALLOW_DOTTED_FLAG = "--allow-dotted-plugins"

_no_imports: contextvars.ContextVar[bool] = contextvars.ContextVar("aiforge_no_imports", default=False)
# The run folder's config file while its config is read, when dotted paths are refused there.
_run_folder: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "aiforge_run_folder_config", default=None
)


@contextlib.contextmanager
def no_imports(enabled: bool = True) -> Iterator[None]:
    """While active (and ``enabled``), every dotted class or plugin path is refused."""
    token = _no_imports.set(enabled or _no_imports.get())
    try:
        yield
    finally:
        _no_imports.reset(token)


@contextlib.contextmanager
def run_folder_config(config_file: Path | None) -> Iterator[None]:
    """While active with a file, dotted paths are refused as named by that run folder's config."""
    token = _run_folder.set(config_file)
    try:
        yield
    finally:
        _run_folder.reset(token)


def imports_refused() -> bool:
    """True under ``--no-imports``."""
    return _no_imports.get()


def dotted_path_refusal(what: str, path: str, alternative: str) -> str | None:
    """Why ``path`` (a dotted import path naming ``what``) may not be imported now; None: it may.

    ``alternative``: what the user can name instead (e.g. a built-in name).
    """
    if _no_imports.get():
        return (
            f"{what} '{path}' is a dotted import path, and {NO_IMPORTS_FLAG} allows only built-in "
            f"names (a config that names a class imports it: configs are code); {alternative}, "
            f"or run without {NO_IMPORTS_FLAG} if you trust this config and that module"
        )
    config_file = _run_folder.get()
    if config_file is not None:
        return (
            f"{what} '{path}' is a dotted import path named by the run folder's {config_file}; a run "
            "folder is data, so AIForge does not import the modules it names. If you trust this run "
            f"folder and that module, pass {ALLOW_DOTTED_FLAG}; otherwise {alternative}"
        )
    return None


def names_dotted_path(record: object) -> bool:
    """Whether a run's saved config (plain data) names a plugin or class by dotted import path, so
    that reading its run folder again needs ``--allow-dotted-plugins``."""
    if not isinstance(record, dict):
        return False
    training = record.get("training_config")
    training = training if isinstance(training, dict) else {}
    scheduler = training.get("scheduler")
    callbacks = record.get("callbacks")
    names = [
        record.get("model_plugin"),
        record.get("dataset_plugin"),
        training.get("optimizer_name"),
        training.get("loss_fn_name"),
        scheduler.get("name") if isinstance(scheduler, dict) else None,
    ]
    if isinstance(callbacks, list):
        names += [item.get("class_path") for item in callbacks if isinstance(item, dict)]
    return any(isinstance(name, str) and "." in name for name in names)
