"""Whether online W&B can work before the run starts: ``wandb.init`` without credentials asks for
a key at a terminal (and waits for the answer), and with no network it retries for minutes."""

from __future__ import annotations

import os
import socket
import urllib.parse
from typing import Any

from aiforge.errors import ConfigError
from aiforge.tracking.store_check import PROBE_TIMEOUT_S

LOCAL_MODES = ("offline", "dryrun", "disabled")  # W&B modes that never reach a server


def wandb_settings() -> Any:
    """W&B's settings as ``wandb.init`` would read them (its settings files, then WANDB_*); None
    when this wandb version reads them otherwise (then W&B decides for itself at ``init``)."""
    try:
        import wandb

        settings = wandb.Settings()
        settings.update_from_system_settings()
        settings.update_from_env_vars(dict(os.environ))
        return settings
    except Exception:
        return None


def has_credentials(settings: Any) -> bool:
    """An API key for the server (WANDB_API_KEY, an identity token file, ``wandb login``'s netrc
    entry, a ``wandb.login`` earlier in this process); True when this wandb version cannot say
    (W&B then decides at ``init``). Reads only: W&B's process-wide state is not created here."""
    if settings.api_key or settings.identity_token_file:
        return True
    try:
        from wandb.sdk.lib.wbauth import authenticate, wbnetrc

        return bool(
            authenticate.session_credentials(host=settings.base_url)
            or wbnetrc.read_netrc_auth(host=settings.base_url)
        )
    except Exception:
        return True


def unreachable(url: str) -> str | None:
    """Why the W&B server at ``url`` does not answer a connection within PROBE_TIMEOUT_S; None if it does."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=PROBE_TIMEOUT_S):
            return None
    except OSError as err:
        return f"{type(err).__name__}: {err}"


def online_problem() -> str | None:
    """For online W&B: why its server does not answer (the run then tracks W&B offline); None
    when W&B runs offline or the server answers. Raises ConfigError when no API key is set."""
    settings = wandb_settings()
    if settings is None or settings.mode in LOCAL_MODES:
        return None
    if not has_credentials(settings):
        raise ConfigError(
            f"tracking.backends: wandb tracks online to {settings.base_url} but no W&B API key is "
            "set (wandb.init would stop to ask for one): run `wandb login` or set WANDB_API_KEY, "
            "or set WANDB_MODE=offline to track in the run folder (`wandb sync` it later)"
        )
    problem = unreachable(settings.base_url)
    return None if problem is None else f"the W&B server {settings.base_url} does not answer ({problem})"
