"""The sweep's folder and its Optuna study: storage, sampler, pruner, and the check that a study
continued under the same name is the same search."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from aiforge.config.tracking_uris import redact
from aiforge.errors import ConfigError
from aiforge.mappings import flatten
from aiforge.reporting.sweep_folder import SWEEPS_DIR
from aiforge.runs import files as run_files
from aiforge.runs.records import config_record
from aiforge.sweeps.config import SweepConfig

if TYPE_CHECKING:
    from aiforge.config.model_configs import ExperimentConfig

JOURNAL_FILE = "optuna_journal.log"
STUDY_ATTR = "aiforge_sweep"  # the study's user attribute holding what makes it the same search
HEARTBEAT_S = 60  # an RDB trial with no heartbeat for GRACE_S is failed (its worker died) and re-queued
GRACE_S = 180


def sweep_dir(results_dir: Path, experiment_name: str, study_name: str) -> Path:
    """``RESULTS_DIR/<experiment>/sweeps/<study>/``, created; a linked ``sweeps`` or study folder is
    refused before anything (the study's journal included) is written through it."""
    folder = Path(results_dir) / experiment_name / SWEEPS_DIR / study_name
    for part in (folder.parent, folder):
        run_files.refuse_linked_folder(part)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Keys a machine may set its own way when it joins a shared study (its paths, its tracking store).
_LOCAL_KEYS = ("data_path", "test_data_path", "tracking")


def identity(sweep: SweepConfig, config: ExperimentConfig | None = None) -> dict[str, Any]:
    """What a continued study must share with the stored one (plain JSON, compared as such): the
    metric, the direction, the space and the base experiment, so every trial of a study ran the
    same experiment apart from the searched values."""
    space = {key: spec.model_dump(mode="json") for key, spec in sorted(sweep.space.items())}
    found: dict[str, Any] = {"metric": sweep.metric, "direction": sweep.resolved_direction, "space": space}
    if config is not None:
        record = {k: v for k, v in config_record(config).items() if k not in _LOCAL_KEYS}
        found["base"] = {key: value for key, value in flatten(record).items() if key not in sweep.space}
    return json.loads(json.dumps(found, default=str))


def open_storage(sweep: SweepConfig, folder: Path, requeue: Any = None) -> Any:
    """The Optuna storage: a journal file (default: in the sweep folder) or an RDB URL.

    An RDB storage sends heartbeats; a trial whose worker stopped sending them is failed and
    handed to ``requeue(study, trial)``. A storage that cannot be reached is a ConfigError.
    """
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    target = sweep.storage
    if target is None or "://" not in target:
        path = folder / JOURNAL_FILE if target is None else Path(target).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as err:
            raise ConfigError(f"sweep.storage: cannot use the journal file {path}: {err}") from None
    target = with_installed_driver(target)
    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks the heartbeat arguments experimental
                return RDBStorage(
                    target,
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=requeue,
                )
        except Exception as err:  # sqlalchemy's OperationalError, ArgumentError, a missing driver, ...
            # Two processes creating Optuna's tables at once: the loser finds them made on its next try.
            if type(err).__name__ in ("IntegrityError", "ProgrammingError") and attempt < 2:
                continue
            _storage_error(target, err)
    raise AssertionError("unreachable")


def _storage_error(target: str, err: BaseException) -> NoReturn:
    """A ConfigError naming the storage, its password hidden (also in the driver's message)."""
    text = str(err).split("\n(Background on this error")[0].strip()
    password = _password(target)
    if password:
        text = text.replace(password, "***")
    if isinstance(err, ImportError) or "Failed to import DB access module" in text:
        advice = (
            "The database driver for this URL is not installed: for PostgreSQL, "
            "pip install 'aiforge[postgres]' (psycopg2), or name a driver in the URL "
            "(postgresql+psycopg2://...)."
        )
    else:
        advice = "Check that the database server runs and the URL (host, port, user, database) is right."
    raise ConfigError(
        f"sweep.storage: cannot reach the Optuna storage {redact(target)}: {type(err).__name__}: {text}\n"
        + advice
    ) from None


def with_installed_driver(url: str) -> str:
    """``postgresql://`` means psycopg (3) to SQLAlchemy 2.1, psycopg2 before it; the ``postgres`` extra
    installs psycopg2, so a plain URL uses whichever of the two is installed."""
    import importlib.util

    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres") or not sep:
        return url
    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{driver}://{rest}"
    return url


def _password(url: str) -> str | None:
    import urllib.parse

    try:
        return urllib.parse.urlsplit(url).password
    except ValueError:
        return None


def sampler_for(sweep: SweepConfig) -> Any:
    import optuna

    if sweep.sampler == "grid":
        return _grid_sampler(sweep.grid())
    if sweep.sampler == "random":
        return optuna.samplers.RandomSampler()
    # constant_liar: trials running at once (workers, machines) do not all pick the same point.
    return optuna.samplers.TPESampler(constant_liar=True)


def pruner_for(sweep: SweepConfig, epochs: int) -> Any:
    import optuna

    if sweep.pruner == "median":
        return optuna.pruners.MedianPruner(n_warmup_steps=1)
    if sweep.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, epochs))
    return optuna.pruners.NopPruner()


def open_study(sweep: SweepConfig, storage: Any, study_name: str, config: ExperimentConfig) -> Any:
    """Create the study, or load the one of that name when it is the same search (else exit 2)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    epochs = config.training_config.epochs
    mine = identity(sweep, config)
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction=sweep.resolved_direction,
        sampler=sampler_for(sweep),
        pruner=pruner_for(sweep, epochs),
        load_if_exists=True,
    )
    stored = study.user_attrs.get(STUDY_ATTR)
    if stored is None:
        if study.trials:  # a study AIForge did not make
            raise ConfigError(
                f"sweep.study_name: the storage already holds a study '{study_name}' that is not an "
                "AIForge sweep; choose another sweep.study_name"
            )
        study.set_user_attr(STUDY_ATTR, mine)
        stored = mine
    if stored != mine:
        raise ConfigError(
            f"sweep.study_name: the study '{study_name}' already exists with a different "
            f"{_difference(stored, mine)}; run the same sweep to continue it, or start a new one with "
            "another sweep.study_name (e.g. --study-name NAME)"
        )
    return study


def _difference(stored: dict[str, Any], mine: dict[str, Any]) -> str:
    parts = []
    for field in ("metric", "direction"):
        if stored.get(field) != mine.get(field):
            parts.append(f"{field} (stored {stored.get(field)!r}, now {mine.get(field)!r})")
    old, new = stored.get("space", {}), mine.get("space", {})
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            parts.append(f"search space at {key} (stored {old.get(key)}, now {new.get(key)})")
    old, new = stored.get("base", {}), mine.get("base", {})
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            parts.append(f"experiment at {key} (stored {old.get(key)!r}, now {new.get(key)!r})")
    return "; ".join(parts) or "search"


def _grid_sampler(grid: dict[str, list[Any]]) -> Any:
    """Optuna's GridSampler, without its ``study.stop()`` once the grid is used up: that call only
    works inside ``study.optimize``, and the sweep asks and tells trials itself (it stops at the
    requested count, which the space check keeps within the grid)."""
    import optuna

    class AskTellGridSampler(optuna.samplers.GridSampler):
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            return None

    return AskTellGridSampler(grid)
