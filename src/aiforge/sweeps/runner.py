"""Run a study until exactly ``trials`` trials are finished (complete or pruned), in this process or
in ``workers`` processes sharing the storage; a trial cut off by a kill is re-queued and resumed."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import warnings
from pathlib import Path
from typing import Any

from aiforge.config.settings import AppSettings
from aiforge.errors import AIForgeError, RunInterrupted
from aiforge.runtime.log import logger
from aiforge.sweeps import records
from aiforge.sweeps.loading import SweepSetup, setup_from
from aiforge.sweeps.progress import SweepProgress, trial_line
from aiforge.sweeps.space import check_space, distributions
from aiforge.sweeps.study import open_storage, open_study, sweep_dir
from aiforge.sweeps.trial import (
    RESUME_ATTR,
    metric_value,
    process_alive,
    process_identity,
    result_attrs,
    run_trial,
)

PARENT_RUN_ATTR = "mlflow_parent_run_id"  # the study's user attribute: the sweep's MLflow run


def requeue(study: Any, trial: Any) -> None:
    """Queue a cut-off trial's values again; it continues from its run folder's checkpoint."""
    attrs: dict[str, Any] = {"requeued_from": trial.number}
    run_dir = trial.user_attrs.get("run_dir") or trial.user_attrs.get(RESUME_ATTR)
    if run_dir:
        attrs[RESUME_ATTR] = run_dir
    study.enqueue_trial(dict(trial.params), user_attrs=attrs, skip_if_exists=False)
    logger.warning(
        f"sweep: trial {trial.number} was cut off; its values are queued again ({run_dir or 'fresh'})"
    )


def fail_dead_trials(study: Any) -> None:
    """RUNNING trials whose worker on this host is dead become FAIL, their values re-queued; RDB
    storages also fail trials whose heartbeat stopped (any host) and re-queue them the same way."""
    from optuna.storages import fail_stale_trials
    from optuna.trial import TrialState

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks fail_stale_trials experimental
        fail_stale_trials(study)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker")
        if worker is None or process_alive(worker):
            continue
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except Exception:  # another process failed it first: it re-queues it
            continue
        requeue(study, trial)


def open_sweep(setup: SweepSetup, settings: AppSettings) -> tuple[Any, str, Path]:
    """The study (checked against the stored one), its name and the sweep folder."""
    sweep = setup.sweep
    study_name = sweep.study_name or setup.config.experiment_name
    folder = sweep_dir(settings.RESULTS_DIR, setup.config.experiment_name, study_name)
    storage = open_storage(sweep, folder, requeue=requeue)
    study = open_study(sweep, storage, study_name, setup.config)
    return study, study_name, folder


def run_sweep(setup: SweepSetup, settings: AppSettings, progress: bool = False) -> dict[str, Any]:
    """Check the space, open the study, run the trials; the sweep_results record.

    ``progress``: a live display of the trials (on a terminal); the worker processes then log
    warnings only, as the display counts their trials.
    """
    check_space(setup.base, setup.config, setup.sweep, settings.PLUGINS_DIR)
    study, study_name, folder = open_sweep(setup, settings)
    fail_dead_trials(study)
    records.write_sweep_config(folder, setup.base, setup.sweep)
    logger.info(
        f"Sweep '{study_name}': {setup.sweep.trials} trials of {setup.sweep.metric} "
        f"({setup.sweep.resolved_direction}), {setup.sweep.workers} worker(s) -> {folder}"
    )
    parent = open_parent_run(setup, settings, study, study_name, folder)
    parent_id = parent.run_id if parent is not None else None
    status = "FAILED"
    display = SweepProgress(study, study_name, setup.sweep) if progress else contextlib.nullcontext()
    try:
        with display:
            if setup.sweep.workers == 1:
                work(study, setup, settings, study_name, folder, parent_id)
            else:
                quiet = settings.model_copy(update={"LOG_LEVEL": "WARNING"}) if progress else settings
                _run_workers(setup, quiet, parent_id)
        status = "FINISHED"
    except (RunInterrupted, KeyboardInterrupt):
        status = "KILLED"
        raise
    finally:
        if parent is not None:
            with contextlib.suppress(Exception):  # the sweep's own error is the one to show
                parent.record_best(records.results_record(study_name, setup.sweep, study.get_trials()))
            parent.end(status)
    return records.write_final_records(folder, study_name, setup.sweep, study.get_trials(deepcopy=False))


def open_parent_run(
    setup: SweepSetup, settings: AppSettings, study: Any, study_name: str, folder: Path
) -> Any:
    """The sweep's parent MLflow run (its trials' runs are its children), the one a continued sweep
    started before (its id in the study's user attrs); None when tracking is off."""
    from aiforge.config.tracking_uris import redact
    from aiforge.tracking.mlflow_sweep import SweepParentRun

    parent = SweepParentRun.for_config(setup.config, settings)
    if parent is None:
        return None
    section = setup.sweep.model_dump(mode="json", exclude_none=True)
    if setup.sweep.storage is not None:
        section["storage"] = redact(setup.sweep.storage)
    stored = study.user_attrs.get(PARENT_RUN_ATTR)
    tags = {"aiforge.sweep_dir": str(folder), "aiforge.study_name": study_name}
    run_id = parent.open(study_name, stored, {"sweep": section}, tags)
    if run_id is not None and run_id != stored:
        study.set_user_attr(PARENT_RUN_ATTR, run_id)
    return parent


def work(
    study: Any,
    setup: SweepSetup,
    settings: AppSettings,
    study_name: str,
    folder: Path,
    parent_run_id: str | None = None,
) -> None:
    """Ask, run and tell trials until the study has ``trials`` finished or running ones; each
    trial's MLflow run is a child of ``parent_run_id`` (the sweep's run) when given."""
    from optuna.trial import TrialState

    sweep, wanted = setup.sweep, setup.sweep.trials
    space = distributions(sweep)
    failures = 0
    while True:
        fail_dead_trials(study)
        trials = study.get_trials(deepcopy=False)
        busy = sum(1 for t in trials if t.state.name in ("COMPLETE", "PRUNED", "RUNNING"))
        if busy >= wanted:
            return
        trial = study.ask(space)
        trial.set_user_attr("worker", process_identity())
        ahead = sum(
            1
            for t in study.get_trials(deepcopy=False)
            if t.number < trial.number and t.state.name in ("COMPLETE", "PRUNED", "RUNNING")
        )
        if ahead >= wanted:  # another worker asked first: never finish more than requested
            trial.set_user_attr("surplus", True)
            study.tell(trial, state=TrialState.FAIL)
            return
        try:
            with _heartbeat(study, trial):
                results, pruned = run_trial(
                    trial, setup.base, sweep.metric, settings, setup.source, parent_run_id
                )
        except KeyboardInterrupt:  # the run saved a checkpoint: its values are queued to resume it
            with contextlib.suppress(Exception):
                study.tell(trial, state=TrialState.FAIL)
                requeue(study, study.trials[trial.number])
                records.write_records(folder, study_name, sweep, study.get_trials(deepcopy=False))
            raise
        except Exception as err:
            trial.set_user_attr("error", f"{type(err).__name__}: {err}"[:2000])
            study.tell(trial, state=TrialState.FAIL)
            _log_trial(study, sweep, folder, study_name, trial.number, "FAIL", None)
            if isinstance(err, AIForgeError):
                raise
            failures += 1
            logger.warning(f"sweep: trial {trial.number} failed: {type(err).__name__}: {err}")
            if failures >= max(3, wanted):
                raise RuntimeError(f"{failures} trials failed in this process; the last: {err}") from err
            continue
        for key, value in result_attrs(results).items():
            trial.set_user_attr(key, value)
        value = metric_value(results, sweep.metric)
        if pruned:
            study.tell(trial, state=TrialState.PRUNED)
            state = "PRUNED"
        elif value is None or not math.isfinite(value):
            trial.set_user_attr("error", f"{sweep.metric} is {value} in the run's final results")
            study.tell(trial, state=TrialState.FAIL)
            state = "FAIL"
        else:
            study.tell(trial, value)
            state = "COMPLETE"
        _log_trial(study, sweep, folder, study_name, trial.number, state, value)


def _heartbeat(study: Any, trial: Any) -> Any:
    """Optuna's heartbeat thread for an RDB storage (what study.optimize runs around a trial)."""
    try:
        from optuna.storages._heartbeat import get_heartbeat_thread
    except ImportError:  # a later Optuna moved it: trials of dead workers are then found by pid only
        return contextlib.nullcontext()
    return get_heartbeat_thread(trial._trial_id, study._storage)


def _log_trial(
    study: Any, sweep: Any, folder: Path, study_name: str, number: int, state: str, value: float | None
) -> None:
    trials = study.get_trials(deepcopy=False)
    record = records.write_records(folder, study_name, sweep, trials)
    done = records.finished(trials)
    logger.info(trial_line(number, state, sweep.metric, value, record, done, sweep.trials))


# -- several worker processes -------------------------------------------------------------


def _run_workers(setup: SweepSetup, settings: AppSettings, parent_run_id: str | None = None) -> None:
    """``workers`` spawned processes on the same storage; SIGTERM is passed on to them (a terminal's
    Ctrl-C reaches them itself), and the sweep stops as they do."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    count = setup.sweep.workers
    threads = max(1, (os.cpu_count() or 1) // count)
    sweep_data = setup.sweep.model_dump(mode="json")
    processes = [
        context.Process(
            target=worker_main,
            args=(setup.base, sweep_data, setup.source, settings, threads, parent_run_id),
            name=f"aiforge-sweep-worker-{index}",
        )
        for index in range(count)
    ]
    received: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        if signum != signal.SIGINT:
            for process in processes:
                if process.pid is not None and process.is_alive():
                    os.kill(process.pid, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        raise RunInterrupted(received[0])
    codes = [p.exitcode for p in processes]
    interrupted = [c for c in codes if c in (130, 143)]
    if interrupted:
        raise RunInterrupted(interrupted[0] - 128)
    if any(c == 2 for c in codes):
        raise AIForgeError("a sweep worker stopped on bad input (its message is above)")
    if any(c != 0 for c in codes):
        raise RuntimeError(f"sweep workers failed (exit codes {codes}); their messages are above")


def worker_main(
    base: dict[str, Any],
    sweep_data: dict[str, Any],
    source: str,
    settings: Any,
    threads: int,
    parent_run_id: str | None = None,
) -> None:
    """One worker process: its share of torch's threads, then trials until the study has enough."""
    import sys

    import torch

    from aiforge.runtime.log import configure_logging

    torch.set_num_threads(threads)
    configure_logging(settings.LOG_LEVEL)
    try:
        setup = setup_from(base, {**sweep_data, "workers": 1}, source, settings.PLUGINS_DIR)
        study, study_name, folder = open_sweep(setup, settings)
        work(study, setup, settings, study_name, folder, parent_run_id)
    except RunInterrupted as err:
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except AIForgeError as err:
        logger.error(f"error: {err}")
        sys.exit(2)
    except Exception as err:
        logger.error(f"error: the sweep worker failed: {type(err).__name__}: {err}")
        sys.exit(1)
