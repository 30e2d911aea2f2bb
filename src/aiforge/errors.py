"""Every exception class of AIForge, in one bottom-layer module that imports nothing from AIForge.

:class:`AIForgeError` and its subclasses are the mistakes a user can fix: the CLI maps them to
exit code 2. :class:`TrainingError` and :class:`RunFileError` are failures during a run (exit 1);
:class:`RunInterrupted` is a stop by signal (exit 128 + the signal number).
"""

from __future__ import annotations

import difflib
import signal
from collections.abc import Iterable


class AIForgeError(Exception):
    """A problem with the user's input (config, plugin, data), not a bug in AIForge."""


class ConfigError(AIForgeError):
    """The experiment configuration is unreadable or invalid."""


class ConflictingKeys(ValueError):
    """Two keys of one config section that name the same thing (raised inside pydantic's
    validation, hence a ValueError); ``keys`` (paths below the section) lets the loader say which
    file gave each."""

    def __init__(self, message: str, keys: tuple[str, ...]) -> None:
        super().__init__(message)
        self.keys = keys


class CallbackInitError(ConfigError):
    """A config callback's ``__init__`` failed; the command that read the file adds its name."""


class PluginError(AIForgeError):
    """A plugin cannot be found, imported, or does not follow the plugin contract."""


class DataError(AIForgeError):
    """The data cannot be read or does not fit the experiment."""


class BadItemError(DataError):
    """One item of a dataset cannot be read (an image file that is not one, a damaged file): a
    plugin with ``on_bad_item: skip`` leaves it out and counts it; otherwise exit 2 naming it."""


class DimsMismatch(DataError):
    """A model-config value that disagrees with what the data gives (``advice``: what to do)."""

    def __init__(self, name: str, configured: object, found: object, advice: str) -> None:
        self.name, self.configured, self.found = name, configured, found
        super().__init__(f"model_config.{name}={configured}, but the data has {found} {advice}")


class ArgumentError(ConfigError, ValueError):
    """An argument from the config (``dataset_args``, ``optimizer_args``, ...) that a plugin or an
    AIForge helper refuses: exit 2 like any ConfigError, and still the ValueError that Python callers
    of that function expect. (Not for pydantic validators, which turn a ValueError into their own.)"""


class RunFolderInUse(AIForgeError):
    """Another process holds the run folder's lock (it trains there or rewrites its report)."""


class CheckpointError(DataError, ConfigError):
    """A saved checkpoint or weights file does not fit the model built from the config (another
    model, or plugin code changed since it was written): exit 2, like the other input problems.
    Still a DataError (what a resume mismatch raised) and a ConfigError (what ``load_run`` raised
    for weights that do not fit), so callers written against either keep catching it."""


class TrackingStoreError(ConfigError):
    """The MLflow store cannot be used; ``tracking.on_unreachable: warn`` trains untracked instead."""


class LinkedRunFileError(AIForgeError):
    """A file or folder of a run that AIForge would write is a symbolic link: it is not written through."""


class RunFileError(OSError):
    """A run file could not be written (full disk, no permission); the file it would replace is intact."""


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, or a plugin that raised)."""


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal; ``exit_code`` is the shell's 128 + signal number."""

    def __init__(self, signum: int, checkpoint_saved: bool = False) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        self.checkpoint_saved = checkpoint_saved
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' hint for a misspelled name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
