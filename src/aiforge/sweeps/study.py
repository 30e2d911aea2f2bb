"""The sweep's folder and its Optuna study: storage, sampler, pruner, and the check that a study
continued under the same name is the same search."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, NoReturn

from aiforge.config.tracking_uris import redact
from aiforge.errors import ConfigError
from aiforge.sweeps.config import SweepConfig

SWEEPS_DIR = "sweeps"
JOURNAL_FILE = "optuna_journal.log"
STUDY_ATTR = "aiforge_sweep"  # the study's user attribute holding what makes it the same search
HEARTBEAT_S = 60  # an RDB trial with no heartbeat for GRACE_S is failed (its worker died) and re-queued
GRACE_S = 180


def sweep_dir(results_dir: Path, experiment_name: str, study_name: str) -> Path:
    """``RESULTS_DIR/<experiment>/sweeps/<study>/``, created."""
    folder = Path(results_dir) / experiment_name / SWEEPS_DIR / study_name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def identity(sweep: SweepConfig) -> dict[str, Any]:
    """What a continued study must share with the stored one (plain JSON, compared as such)."""
    space = {key: spec.model_dump(mode="json") for key, spec in sorted(sweep.space.items())}
    return json.loads(
        json.dumps({"metric": sweep.metric, "direction": sweep.resolved_direction, "space": space})
    )


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
    raise ConfigError(
        f"sweep.storage: cannot reach the Optuna storage {redact(target)}: {type(err).__name__}: {text}\n"
        "Check that the database server runs and the URL (host, port, user, database) is right."
    ) from None


def _password(url: str) -> str | None:
    import urllib.parse

    try:
        return urllib.parse.urlsplit(url).password
    except ValueError:
        return None


def sampler_for(sweep: SweepConfig) -> Any:
    import optuna

    if sweep.sampler == "grid":
        return optuna.samplers.GridSampler(sweep.grid())
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


def open_study(sweep: SweepConfig, storage: Any, study_name: str, epochs: int) -> Any:
    """Create the study, or load the one of that name when it is the same search (else exit 2)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    mine = identity(sweep)
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
    return "; ".join(parts) or "search"
