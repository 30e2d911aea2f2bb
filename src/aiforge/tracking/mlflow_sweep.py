"""A sweep in MLflow: one parent run (the sweep's settings as params, the best value as a metric)
with each trial's ordinary run as a nested child (MLflow's convention: the child's tag
``mlflow.parentRunId``), the best child tagged ``aiforge.best_trial=true``.

The parent is written with :class:`mlflow.MlflowClient`, never made this process's active run, so
the trials' runs (here or in worker processes) start as they always do. A store that fails warns
once and the sweep goes on untracked by the parent: the sweep folder keeps every result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiforge.runtime.log import logger
from aiforge.tracking.mlflow_callback import MAX_PARAMS_PER_BATCH, PARENT_RUN_TAG, flatten, read_run_info

if TYPE_CHECKING:
    from pathlib import Path

    from aiforge.config.model_configs import ExperimentConfig
    from aiforge.config.settings import AppSettings

BEST_TAG = "aiforge.best_trial"  # "true" on the best trial's child run
BEST_TRIAL_METRIC = "best_trial_number"


class SweepParentRun:
    """The sweep's parent MLflow run: opened (or reopened by id) before the trials, finished after.

    ``run_id`` is None when tracking is off or the store failed: trials then run unnested.
    """

    def __init__(self, experiment_name: str, tracking_uri: str | None) -> None:
        self.experiment_name = experiment_name
        self.tracking_uri = tracking_uri
        self.run_id: str | None = None
        self._client: Any = None

    @classmethod
    def for_config(cls, config: ExperimentConfig, settings: AppSettings) -> SweepParentRun | None:
        """The parent in the experiment and store the trials' runs use (as ``trackers_for`` picks
        them); None when tracking is off (``tracking.enabled: false`` or AIFORGE_TRACKING=false) or
        MLflow is not among ``tracking.backends``."""
        tracking = config.tracking
        if not (tracking.enabled and settings.TRACKING) or "mlflow" not in tracking.backends:
            return None
        return cls(
            tracking.experiment_name or config.experiment_name,
            tracking.tracking_uri or settings.MLFLOW_TRACKING_URI,
        )

    def open(self, name: str, run_id: str | None, params: dict[str, Any], tags: dict[str, str]) -> str | None:
        """Reopen ``run_id`` (a continued sweep) or start a parent run called ``name`` with
        ``params`` (flattened); its id, or None after a warning when the store fails."""
        try:
            if run_id is not None and self._reopen(run_id):
                self.run_id = run_id
            else:
                self.run_id = self._create(name, params, tags)
        except Exception as err:  # any failure of the store or its client
            self._warn("starting the sweep's parent run", err)
            self.run_id = None
        return self.run_id

    def client(self) -> Any:
        if self._client is None:
            import mlflow

            self._client = mlflow.MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def _reopen(self, run_id: str) -> bool:
        """The stored parent, RUNNING again; False when the store no longer has it (or it was deleted)."""
        from mlflow.exceptions import MlflowException

        try:
            run = self.client().get_run(run_id)
        except MlflowException:
            return False
        if run.info.lifecycle_stage == "deleted":
            return False
        self.client().update_run(run_id, status="RUNNING")
        logger.info(f"MLflow sweep run {run_id} continued")
        return True

    def _create(self, name: str, params: dict[str, Any], tags: dict[str, str]) -> str:
        import mlflow
        from mlflow.entities import Param

        from aiforge.tracking.store_check import prepare_store, set_experiment

        if self.tracking_uri:
            mlflow.set_tracking_uri(self.tracking_uri)  # as the trials' runs do (set_experiment uses it)
        uri = self.tracking_uri = mlflow.get_tracking_uri()
        prepare_store(uri)
        experiment_id = set_experiment(uri, self.experiment_name)
        client = self.client()
        run = client.create_run(experiment_id, run_name=name, tags={"aiforge.sweep": "true", **tags})
        items = list(flatten(params).items())
        for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
            chunk = items[start : start + MAX_PARAMS_PER_BATCH]
            client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in chunk])
        logger.info(f"MLflow sweep run {run.info.run_id} (experiment '{self.experiment_name}', {uri})")
        return run.info.run_id

    def record_best(self, record: dict[str, Any]) -> None:
        """The best trial's value (``best_<metric>``) and number on the parent, its child tagged
        ``aiforge.best_trial=true`` (and a former best's tag removed)."""
        if self.run_id is None or record.get("best_trial") is None:
            return
        try:
            self._record_best(record)
        except Exception as err:
            self._warn("recording the best trial on the sweep's parent run", err)

    def _record_best(self, record: dict[str, Any]) -> None:
        client = self.client()
        assert self.run_id is not None
        metrics = {f"best_{record['metric']}": float(record["best_value"])}
        metrics[BEST_TRIAL_METRIC] = float(record["best_trial"])
        for key, value in (record.get("best_test_metrics") or {}).items():
            if isinstance(value, int | float):
                metrics[f"best_test_{key}"] = float(value)
        if isinstance(record.get("best_test_loss"), int | float):
            metrics["best_test_loss"] = float(record["best_test_loss"])
        for key, value in metrics.items():
            client.log_metric(self.run_id, key, value)
        best_id = _child_run_id(record.get("best_run_dir"))
        run = client.get_run(self.run_id)
        experiment_ids = [run.info.experiment_id]
        tagged = client.search_runs(
            experiment_ids, filter_string=f"tags.`{BEST_TAG}` = 'true'", max_results=1000
        )
        for child in tagged:
            if child.data.tags.get(PARENT_RUN_TAG) == self.run_id and child.info.run_id != best_id:
                client.delete_tag(child.info.run_id, BEST_TAG)
        if best_id is not None:
            client.set_tag(best_id, BEST_TAG, "true")
            client.set_tag(self.run_id, "aiforge.best_run_id", best_id)

    def end(self, status: str) -> None:
        """End the parent as FINISHED, FAILED or KILLED (a continued sweep makes it RUNNING again)."""
        if self.run_id is None:
            return
        try:
            self.client().set_terminated(self.run_id, status=status)
        except Exception as err:
            self._warn("ending the sweep's parent run", err)

    def _warn(self, what: str, error: BaseException) -> None:
        from aiforge.tracking.store_check import store_name

        logger.opt(exception=error).debug(f"MLflow failed while {what}")
        reason = " ".join(str(error).split("\n[SQL:")[0].split())[:300]
        logger.warning(
            f"MLflow: {what} failed in the store {store_name(self.tracking_uri or '')} "
            f"({type(error).__name__}: {reason}); the sweep goes on, its folder keeps every result"
        )
        self.run_id = None


def _child_run_id(run_dir: str | Path | None) -> str | None:
    """The MLflow run id a trial's run folder records (``mlflow_run.json``), or None."""
    if not run_dir:
        return None
    try:
        info = read_run_info(run_dir)  # type: ignore[arg-type]
    except (OSError, ValueError):
        return None
    run_id = info.get("run_id") if isinstance(info, dict) else None
    return run_id if isinstance(run_id, str) else None
