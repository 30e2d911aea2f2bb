"""Which MLflow tracking URIs can work, told from the text alone (no MLflow import): checked with
the config, so a typo fails before any run folder is made."""

from __future__ import annotations

import contextlib
import urllib.parse

DATABASE_ENGINES = ("postgresql", "mysql", "sqlite", "mssql")  # MLflow's SQLAlchemy stores
WHOLE_URIS = ("databricks", "databricks-uc", "uc")
OTHER_SCHEMES = ("", "file", "http", "https", *WHOLE_URIS)


def uri_problem(uri: str) -> str | None:
    """Why MLflow cannot use ``uri`` (None: it looks usable). Imports no MLflow."""
    if not uri.strip():
        return "is empty; leave it out for MLflow's default store"
    try:
        parts = urllib.parse.urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as err:
        return f"not a valid URI: {err}"
    scheme = parts.scheme.lower()
    if uri in WHOLE_URIS or len(scheme) == 1:  # 'C:\\...' is a Windows path
        return None
    if scheme.split("+")[0] in DATABASE_ENGINES:
        if scheme.startswith("sqlite") and (parts.netloc or not parts.path.strip("/")):
            return "a SQLite URI is sqlite:///relative/path.db or sqlite:////absolute/path.db"
        return None
    if scheme in ("http", "https") and not parts.hostname:
        return "has no host name"
    if scheme in OTHER_SCHEMES or scheme in _plugin_schemes():
        return None
    known = ", ".join(f"{s}://" for s in ("http", "https", "file", *DATABASE_ENGINES, "databricks"))
    return f"unknown scheme {scheme!r}; MLflow knows {known} and plain paths"


def _plugin_schemes() -> set[str]:
    """Schemes that installed MLflow plugins add (entry points of group ``mlflow.tracking_store``)."""
    from importlib.metadata import entry_points

    return {entry.name for entry in entry_points(group="mlflow.tracking_store")}


def redact(uri: str) -> str:
    """``uri`` without its password, for messages and logs."""
    with contextlib.suppress(ValueError):
        parts = urllib.parse.urlsplit(uri)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
            return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return uri
