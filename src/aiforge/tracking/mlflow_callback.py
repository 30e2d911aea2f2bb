"""MLflowCallback: one AIForge run is one MLflow run, with params, metrics, artifacts and model."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.runtime.distributed import is_main_process
from aiforge.runtime.log import logger
from aiforge.tracking.isolation import warn_tracking_stopped
from aiforge.tracking.mlflow_failures import drop_active_run, one_quick_try, password, run_folder_files
from aiforge.tracking.mlflow_logs import route_mlflow_errors
from aiforge.tracking.run_values import STEP_LOSS, STEP_LR, final_metrics, flat_params, flat_values
from aiforge.tracking.step_tracker import StepValues
from aiforge.tracking.store_check import (
    TrackingStoreError,
    prepare_store,
    set_experiment,
    slow_notice,
    sqlite_file,
    sqlite_takes_writes,
    store_name,
)
from aiforge.tracking.tracker import Tracker

if TYPE_CHECKING:
    from aiforge.tracking.tracker import TrackedRun

MAX_PARAMS_PER_BATCH = 100  # MLflow's limit per log_batch call
MAX_PARAM_LENGTH = 500  # the smallest limit among MLflow server versions still in use
RUN_INFO_FILE = "mlflow_run.json"
PARENT_RUN_TAG = "mlflow.parentRunId"  # MLflow's tag of a nested run: its parent run's id
# A metric goes to MLflow at once when the last send is at least this old; metrics that come
# sooner wait for the first one after that (or the end of training). Each write to MLflow's SQL
# store costs ~20 ms of CPU (in its logging thread, still with the GIL), more than a small epoch.
METRICS_FLUSH_INTERVAL_S = 1.0


def flatten(data: Any) -> dict[str, str]:
    """MLflow params: ``{"a": {"b": 1}}`` -> ``{"a.b": "1"}`` (:func:`run_values.flat_values`: an
    empty mapping left out, None and lists as JSON), long values truncated with a note."""
    return {key: _param_text(value) for key, value in flat_values(data).items()}


def _param_text(data: Any) -> str:
    text = str(data)
    if len(text) > MAX_PARAM_LENGTH:
        note = "...(truncated)"
        text = text[: MAX_PARAM_LENGTH - len(note)] + note
    return text


class MLflowCallback(Tracker):
    """Tracks a run in MLflow; only the main process talks to the server.

    ``parent_run_id`` (argument or attribute, set before the run starts): the run is started as a
    nested child of that MLflow run, as a sweep's trials are.

    ``mlflow`` is imported when the run starts, so importing AIForge never needs it. Once the run
    has started, a store that fails costs the tracking, never the run: one warning names the store
    and what failed, the details go to the debug log, and nothing more is sent to MLflow.
    """

    def __init__(
        self,
        experiment_name: str,
        tracking_uri: str | None = None,
        run_name: str | None = None,
        tags: dict[str, str] | None = None,
        log_model: bool = True,
        log_every_n_steps: int | None = None,
        on_unreachable: str = "fail",
        parent_run_id: str | None = None,
        lr_per_step: bool = False,
    ) -> None:
        try:
            import mlflow  # noqa: F401
        except ImportError as err:  # pragma: no cover - mlflow is a dependency
            raise ImportError("MLflow tracking needs mlflow: pip install mlflow") from err
        self.experiment_name = experiment_name
        self.tracking_uri = tracking_uri
        self.run_name = run_name
        self.tags = dict(tags or {})
        self.log_model = log_model
        self.steps = StepValues(log_every_n_steps, lr_per_step)  # the same rule as every backend's
        self.on_unreachable = on_unreachable
        self.parent_run_id = parent_run_id  # a sweep's parent run: this run starts nested under it
        self.run_id: str | None = None
        self._logged_epochs: set[int] = set()
        # A resumed run: per-step key -> the last optimizer step MLflow has of it (before the crash).
        self._logged_steps: dict[str, int] = {}
        self._pending: list[Any] = []  # mlflow Metric entities not yet handed to MLflow
        # From a checkpoint: the per-step values that waited to be sent, (key, step, value, time).
        self._unsent_steps: list[tuple[str, int, float, int]] = []
        self._flushed_at = time.monotonic()
        self._sends: list[Future[None]] = []  # metric batches not yet known sent
        self._sender: ThreadPoolExecutor | None = None  # one thread: batches go in order
        self._failed = False  # the store failed during the run: tracking stopped
        self._routing = False  # MLflow's error logs go to the debug log (see mlflow_logs)
        self.steps.skip_batches_unless_wanted(self)
        self.active = is_main_process()

    def check_store(self, run_dir: Path | None = None) -> None:
        """Before a new run folder is made: the store answers (or is made) now, or the run fails
        in seconds with exit 2 naming it; with ``on_unreachable='warn'`` it trains untracked.

        For a resume of ``run_dir``: the store its MLflow run is in (``mlflow_run.json``), the
        one the resume reopens; a run that was never tracked starts in the configured one.
        """
        if not self.active:
            return
        import mlflow

        saved = _saved_tracking_uri(run_dir) if run_dir is not None else None
        uri = saved or self.tracking_uri or mlflow.get_tracking_uri()
        try:
            prepare_store(uri)
        except TrackingStoreError as err:
            if saved:
                err = TrackingStoreError(f"{err} (the store of this run, from {run_dir / RUN_INFO_FILE})")
            elif not self.tracking_uri and os.environ.get("MLFLOW_TRACKING_URI"):
                err = TrackingStoreError(f"{err} (from MLFLOW_TRACKING_URI)")
            if self.on_unreachable != "warn":
                raise err from None
            logger.warning(f"{err}; training untracked (tracking.on_unreachable: warn)")
            self.active = False

    def on_experiment_start(self, orchestrator: TrackedRun) -> None:
        """Start the MLflow run and log the resolved config and the environment record."""
        trainer = getattr(orchestrator, "trainer", None)
        self.steps.last_step = int(trainer.global_step) if trainer is not None else 0
        if not self.active:
            return
        import mlflow

        if self.tracking_uri:
            mlflow.set_tracking_uri(self.tracking_uri)
        self.tracking_uri = mlflow.get_tracking_uri()  # absolute: a resume from elsewhere finds it
        run_dir = orchestrator.run_dir
        assert run_dir is not None
        route_mlflow_errors(True)
        self._routing = True
        if self.run_id is not None:
            with slow_notice("Reopening the MLflow run", self.tracking_uri):
                self._resume_run(orchestrator)
            return
        with slow_notice("Starting the MLflow run", self.tracking_uri):
            experiment_id = set_experiment(self.tracking_uri, self.experiment_name)
            self._start_run(orchestrator, run_dir)
        if self.run_id is not None:
            self._write_run_info(run_dir, experiment_id)

    def _start_run(self, orchestrator: TrackedRun, run_dir: Path) -> None:
        """Start the MLflow run; its params and environment record are sent as tracking (a failure
        there stops the tracking, not the run)."""
        import mlflow

        from aiforge.runs import files as run_files

        tags = {
            "aiforge.run_dir": str(run_dir),
            "aiforge.model_plugin": orchestrator.config.model_plugin,
            "aiforge.dataset_plugin": orchestrator.config.dataset_plugin,
            **self.tags,
        }
        if self.parent_run_id:
            tags[PARENT_RUN_TAG] = self.parent_run_id  # MLflow's nested run (no active parent needed)
        run = mlflow.start_run(run_name=self.run_name or run_dir.name, tags=tags)
        self.run_id = run.info.run_id
        params = {key: _param_text(value) for key, value in flat_params(orchestrator.config).items()}
        items = list(params.items())  # what config.yaml holds

        def send() -> None:
            for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
                mlflow.log_params(dict(items[start : start + MAX_PARAMS_PER_BATCH]))
            environment = run_dir / run_files.ENVIRONMENT_FILE
            if environment.exists():
                mlflow.log_artifact(str(environment))

        self._attempt("logging the run's parameters", send, notice=False)

    def _write_run_info(self, run_dir: Path, experiment_id: str) -> None:
        import mlflow

        from aiforge.runs import files as run_files

        run_files.write_json(
            run_dir / RUN_INFO_FILE,
            {
                "run_id": self.run_id,
                "experiment_id": experiment_id,
                "tracking_uri": mlflow.get_tracking_uri(),
            },
        )
        logger.info(
            f"MLflow run {self.run_id} (experiment '{self.experiment_name}', {mlflow.get_tracking_uri()})"
        )

    def _resume_run(self, orchestrator: TrackedRun) -> None:
        """Reopen the checkpoint's MLflow run; log the epochs it is missing (async logs lost in a crash)."""
        import mlflow
        from mlflow.entities import Metric
        from mlflow.exceptions import MlflowException

        from aiforge.errors import ConfigError

        try:
            mlflow.start_run(run_id=self.run_id)
            client = mlflow.MlflowClient()
            logged = client.get_metric_history(self.run_id, "train_loss")
            per_step = {key: client.get_metric_history(self.run_id, key) for key in (STEP_LOSS, STEP_LR)}
        except MlflowException as err:
            raise ConfigError(
                f"cannot reopen MLflow run {self.run_id} at {mlflow.get_tracking_uri()}: {err}"
            ) from None
        self._logged_epochs = {metric.step for metric in logged}
        self._logged_steps = {key: max((m.step for m in got), default=0) for key, got in per_step.items()}
        # Step values that waited to be sent when the checkpoint was taken: training will not
        # compute them again. (Epochs are sent again from the history below.)
        self._pending = [
            Metric(key, value, timestamp, step)
            for key, step, value, timestamp in self._unsent_steps
            if step > self._logged_steps.get(key, 0)
        ]
        history = orchestrator.trainer.history if orchestrator.trainer is not None else []
        for row in history:
            self.on_epoch_end(int(row["epoch"]) - 1, row)
        self._flush_metrics()
        logger.info(f"MLflow run {self.run_id} resumed ({mlflow.get_tracking_uri()})")

    def on_train_batch_end(self, batch_idx: int, loss: Any) -> None:
        """The per-step values (:class:`StepValues`) at their optimizer step, less those a resumed
        run's MLflow run has from before the crash."""
        if not self.active or self.run_id is None:
            return
        step, values = self.steps.after_batch(self.trainer, loss)
        due = {key: value for key, value in values.items() if step > self._logged_steps.get(key, 0)}
        if due:
            self._log_metrics(due, step)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if not self.active or self.run_id is None:
            return
        step = int(logs.get("epoch", epoch + 1))
        if step in self._logged_epochs:
            return  # logged before a crash; resumed runs never log an epoch twice
        self._logged_epochs.add(step)
        self._log_metrics({k: float(v) for k, v in logs.items() if k != "epoch"}, step)

    def on_train_end(self, trainer: Any) -> None:
        self._flush_metrics()

    def _log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Stamped now; sent at once when the last send is ``METRICS_FLUSH_INTERVAL_S`` old, else
        with the first metric after that (at the latest when training ends): epochs of a few
        milliseconds then cost one store write per second, not one each."""
        from mlflow.entities import Metric

        timestamp = int(time.time() * 1000)
        self._pending.extend(Metric(key, value, timestamp, step) for key, value in metrics.items())
        if time.monotonic() - self._flushed_at >= METRICS_FLUSH_INTERVAL_S:
            self._flush_metrics()

    def _flush_metrics(self) -> None:
        """Hand the waiting metrics to a sending thread: the loop never waits on the store.
        A batch sent earlier that failed stops the tracking here.

        Not MLflow's own asynchronous logging: its queue polls once a second, so flushing it and
        ending the run cost up to a second each, most of a tiny run's tracking time."""
        pending, self._pending = self._pending, []  # first: a Ctrl-C after sending cannot send twice
        self._flushed_at = time.monotonic()
        if not self.active or self.run_id is None:
            return
        failure = self._send_failure(wait=False)
        if failure is not None:
            self._stop("sending metrics", failure)
            return
        if pending:
            import mlflow

            run_id = self.run_id

            def send() -> None:
                client = mlflow.MlflowClient(tracking_uri=self.tracking_uri)
                if self._sender is None:
                    self._sender = ThreadPoolExecutor(1, thread_name_prefix="aiforge-mlflow")
                self._sends.append(self._sender.submit(client.log_batch, run_id, metrics=pending))

            self._attempt("sending metrics", send, notice=False)

    def _send_failure(self, wait: bool) -> BaseException | None:
        """The error of a metric batch MLflow failed to store (None: none known); batches known
        stored are forgotten. ``wait``: wait for every batch."""
        failure: BaseException | None = None
        unfinished = []
        for future in self._sends:
            if not (wait or future.done()):
                unfinished.append(future)
                continue
            failure = failure or future.exception()
        self._sends = unfinished
        return failure

    def _attempt(self, what: str, call: Callable[[], Any], notice: bool = True) -> bool:
        """``call`` into MLflow, unless tracking stopped; a failure stops it (see ``_stop``).
        ``notice``: say so when the call waits on the store (MLflow's retries) for long."""
        if not self.active:
            return False
        try:
            if notice:
                with slow_notice(what[0].upper() + what[1:], self.tracking_uri or ""):
                    call()
            else:
                call()
            return True
        except Exception as err:  # any failure of the store, its client or an upload
            self._stop(what, err)
            return False

    def _stop(self, what: str, error: BaseException) -> None:
        """One warning naming the store and what failed; the traceback to the debug log; nothing
        more is sent (a dead server would cost minutes of retries per call). Rank 0 only, no
        collectives: the other ranks never track. Later failures (batches that were on their way
        fail too) go to the debug log only."""
        self.active, self._pending = False, []
        if self._failed:
            logger.opt(exception=error).debug(f"MLflow failed again while {what}")
            return
        self._failed = True
        uri = self.tracking_uri or ""
        warn_tracking_stopped("MLflow", what, error, f"in the MLflow store {store_name(uri)}", password(uri))

    def on_experiment_end(
        self, orchestrator: TrackedRun, status: str, error: BaseException | None = None
    ) -> None:
        """Log the run folder (and the model on success), then end the run as FINISHED, FAILED or
        KILLED. A store that fails costs the tracking, not the run: the MLflow run is then marked
        FAILED if the store still takes that, else left as it is."""
        try:
            if self.active and self.run_id is not None:
                self._end_run(orchestrator, status, error)
            elif self._failed and self.run_id is not None:
                self._end_failed_run()
        finally:
            # After a failure MLflow may still hold batches that fail (and log so) as the process
            # exits: its error logs stay in the debug log.
            if self._routing and not self._failed:
                route_mlflow_errors(False)
                self._routing = False
            if self._sender is not None:  # its batches were waited for, or tracking stopped
                self._sender.shutdown(wait=False, cancel_futures=True)
                self._sender = None

    def _end_run(self, orchestrator: TrackedRun, status: str, error: BaseException | None) -> None:
        import mlflow

        from aiforge.tracking.mlflow_model import log_run_model

        def send_last() -> None:
            self._flush_metrics()  # also after a failure: the epochs before it
            failure = self._send_failure(wait=True)
            if failure is not None:
                raise failure
            if error is not None:
                mlflow.set_tag("error", f"{type(error).__name__}: {error}"[:5000])
            if status == "FINISHED" and orchestrator.run_dir is not None:
                # The held-out test split's numbers (the validation ones are its last epoch's).
                final = final_metrics(orchestrator.run_dir)
                tested = {key: value for key, value in final.items() if key.startswith("test_")}
                if tested:
                    mlflow.log_metrics(tested)

        def send_folder(run_dir: Path) -> None:
            for path, folder in run_folder_files(run_dir):
                mlflow.log_artifact(str(path), artifact_path=folder)

        self._attempt("sending the last metrics to MLflow", send_last)
        if status == "FINISHED" and self.log_model:
            self._attempt("logging the model to MLflow", lambda: log_run_model(orchestrator))
        run_dir = orchestrator.run_dir
        if run_dir is not None:
            self._attempt("logging the run folder to MLflow", lambda: send_folder(run_dir))
        if not self.active:
            self._end_failed_run()
        elif self._attempt("ending the MLflow run", lambda: mlflow.end_run(status=status)):
            logger.info(f"MLflow run {self.run_id} ended: {status}")

    def _end_failed_run(self) -> None:
        """After a failure, one try to mark the MLflow run FAILED; the store may still refuse."""
        import mlflow

        uri = self.tracking_uri or ""
        path = sqlite_file(uri)
        if path is not None and not sqlite_takes_writes(path) and drop_active_run(self.run_id):
            logger.info(f"MLflow run {self.run_id} left as it was: {path} is still locked")
            return
        try:
            with slow_notice("Marking the MLflow run FAILED", uri), one_quick_try(uri):
                mlflow.end_run(status="FAILED")  # closes this process's active run even if refused
        except Exception as err:
            logger.opt(exception=err).debug("Marking the MLflow run FAILED failed")
            logger.info(f"MLflow run {self.run_id} left as it was: the store did not take its end")
        else:
            logger.info(f"MLflow run {self.run_id} ended: FAILED (tracking stopped during the run)")

    def state_dict(self) -> dict[str, Any]:
        """The run's id and store, and the per-step values still waiting to be sent (epochs are
        sent again from the trainer's history on resume; these would be lost)."""
        steps = (STEP_LOSS, STEP_LR)
        unsent = [[m.key, m.step, m.value, m.timestamp] for m in self._pending if m.key in steps]
        return {"run_id": self.run_id, "tracking_uri": self.tracking_uri, "unsent_steps": unsent}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """A resumed run continues the same MLflow run, in the store it was started in."""
        self.run_id = state.get("run_id")
        self.tracking_uri = state.get("tracking_uri") or self.tracking_uri
        unsent = state.get("unsent_steps", [])
        # An older checkpoint's entries are step losses, (step, value, time).
        self._unsent_steps = [(e[0], e[1], e[2], e[3]) if len(e) == 4 else (STEP_LOSS, *e) for e in unsent]


def _saved_tracking_uri(run_dir: Path) -> str | None:
    """The tracking URI in ``run_dir``'s ``mlflow_run.json`` (None: none, or unreadable)."""
    try:
        info = read_run_info(run_dir)
    except (OSError, ValueError):
        return None
    uri = info.get("tracking_uri") if isinstance(info, dict) else None
    return uri if isinstance(uri, str) and uri else None


def read_run_info(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / RUN_INFO_FILE
    return json.loads(path.read_text()) if path.exists() else None
