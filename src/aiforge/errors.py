"""The one exception family for mistakes a user can fix; the CLI maps it to exit code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AIForgeError(Exception):
    """A problem with the user's input (config, plugin, data), not a bug in AIForge."""


class ConfigError(AIForgeError):
    """The experiment configuration is unreadable or invalid."""


class PluginError(AIForgeError):
    """A plugin cannot be found, imported, or does not follow the plugin contract."""


class DataError(AIForgeError):
    """The data cannot be read or does not fit the experiment."""


class ArgumentError(ConfigError, ValueError):
    """An argument from the config (``dataset_args``, ``optimizer_args``, ...) that a plugin or an
    AIForge helper refuses: exit 2 like any ConfigError, and still the ValueError that Python callers
    of that function expect. (Not for pydantic validators, which turn a ValueError into their own.)"""


class RunFolderInUse(AIForgeError):
    """Another process holds the run folder's lock (it trains there or rewrites its report)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' hint for a misspelled name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
