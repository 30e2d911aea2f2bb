"""The experiment lifecycle: data, preprocessing, model, training, results."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from aiforge.config.class_paths import build_callback
from aiforge.config.model_configs import ExperimentConfig
from aiforge.config.settings import AppSettings, get_settings, setting_source
from aiforge.core.base_model import BaseModel
from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor
from aiforge.core.plugins import call_plugin, plugin_classes
from aiforge.data import preparation
from aiforge.data.batching import first_batch, make_batches
from aiforge.errors import AIForgeError, CheckpointError
from aiforge.runs import files as run_files
from aiforge.runs.lock import RunLock
from aiforge.runs.placement import discard_unused_run_dir, place_run
from aiforge.runs.records import config_record, labels_of, save_environment, save_records, save_results
from aiforge.runs.resume import explain_failure, resumable_run_dir
from aiforge.runtime.device import resolve_device
from aiforge.runtime.distributed import (
    is_initialized,
    is_main_process,
    launch_from_environment,
    process_group,
)
from aiforge.runtime.log import add_run_log, configure_logging, console_configured, logger, remove_run_log
from aiforge.runtime.seeding import seed_everything, use_deterministic_kernels
from aiforge.runtime.signals import StopRequests
from aiforge.tracking.trackers import check_tracking_store, share_run_ids, trackers_for
from aiforge.training.builders import outputs_are_logits, task_for_loss
from aiforge.training.checkpoint import load_resume_state
from aiforge.training.from_config import (
    OutputChecks,
    dry_run,
    metric_set,
    model_config_for,
    standard_callbacks,
)
from aiforge.training.schedules import sized_length
from aiforge.training.trainer import Trainer
from aiforge.utils.callbacks import Callback, ModelCheckpoint
from aiforge.utils.metrics import MetricSet, default_metrics


class Orchestrator:
    """Runs one experiment from a validated config.

    Plugin classes not passed in are resolved from the config's plugin names; when
    ``DatasetClass`` is passed, ``PreprocessorClass`` is used as given (None: no
    preprocessing). With ``resume_from`` (a run folder), :meth:`run_experiment` continues
    that run from its newest good checkpoint; :meth:`from_run_dir` builds one from the
    folder's own config.
    """

    def __init__(
        self,
        experiment_config: ExperimentConfig,
        ModelClass: type[BaseModel] | None = None,
        DatasetClass: type[BaseDataset] | None = None,
        PreprocessorClass: type[BasePreprocessor] | None = None,
        settings: AppSettings | None = None,
        callbacks: list[Callback] | None = None,
        resume_from: str | Path | None = None,
    ) -> None:
        self.resume_from = resumable_run_dir(resume_from) if resume_from is not None else None
        self.config = experiment_config.model_copy(deep=True)
        self.settings = settings or get_settings()
        classes = plugin_classes(
            self.config.model_plugin,
            self.config.dataset_plugin,
            self.settings.PLUGINS_DIR,
            model=ModelClass,
            dataset=DatasetClass,
            preprocessor=PreprocessorClass,
        )
        self.ModelClass = classes.model
        self.DatasetClass = classes.dataset
        self.PreprocessorClass = classes.preprocessor
        self.launch = launch_from_environment()
        self.device = resolve_device(self.settings.DEVICE, setting_source(self.settings, "DEVICE"))
        if self.launch.distributed and self.device.type == "cuda":
            self.device = torch.device("cuda", self.launch.local_rank)  # one GPU per process
        self.task = task_for_loss(self.config.training_config.loss_fn_name)
        self.extra_callbacks = list(callbacks or [])
        # The config's callbacks, built now: an __init__ that fails is a ConfigError before any folder.
        self.config_callbacks = [
            build_callback(spec, f"callbacks.{index}") for index, spec in enumerate(self.config.callbacks)
        ]
        self.metric_names = self.config.metrics or default_metrics(self.task)
        self._check_config_fits_plugins()
        self.trackers = trackers_for(self.config, self.settings)  # tracking.backends, in order

        self.run_dir: Path | None = None
        self.dataset: BaseDataset | None = None
        self.preprocessor: BasePreprocessor | None = None
        self.model: BaseModel | None = None
        self.trainer: Trainer | None = None
        self.train_dataloader: Any = None
        self.val_dataloader: Any = None
        self.test_dataset: BaseDataset | None = None  # the held-out test rows' dataset, when there are any
        self.test_indices: torch.Tensor | None = None
        self.test_dataloader: Any = None
        self.resume_state: dict[str, Any] | None = None
        self.checkpoint: ModelCheckpoint | None = None  # set by train()
        self.num_classes: int | None = None  # set by prepare_data() for classification
        self.stop_requests = StopRequests()
        self._run_lock: RunLock | None = None
        # Called with final_results.json's content as soon as the run's files are written,
        # before the trackers send their last work (the CLI prints its summary here).
        self.results_ready: Callable[[dict[str, Any]], None] | None = None

    @classmethod
    def from_run_dir(
        cls,
        run_dir: str | Path,
        settings: AppSettings | None = None,
        callbacks: list[Callback] | None = None,
        allow_dotted_plugins: bool = False,
    ) -> Orchestrator:
        """An orchestrator that continues the run in ``run_dir`` (``aiforge run --resume``).

        The folder's config is data: a plugin it names by dotted import path is refused unless
        ``allow_dotted_plugins`` (``--allow-dotted-plugins``).
        """
        from aiforge.config.loading import load_experiment_config
        from aiforge.core.plugins import run_folder_plugins

        settings = settings or get_settings()
        config_path = resumable_run_dir(run_dir) / run_files.CONFIG_FILE
        with run_folder_plugins(config_path, allow_dotted_plugins):
            config = load_experiment_config(config_path, (), settings.PLUGINS_DIR)
            return cls(config, settings=settings, callbacks=callbacks, resume_from=run_dir)

    @property
    def run_lock(self) -> RunLock | None:
        """The run folder's lock while this run holds it (rank 0, during ``run_experiment``)."""
        return self._run_lock

    # -- the lifecycle -------------------------------------------------------------------
    def run_experiment(self) -> dict[str, Any]:
        """Run everything and return what ``final_results.json`` holds.

        Under torchrun, every process calls this: it joins the process group for the run.
        """
        use_cuda = self.device.type == "cuda"
        with process_group(self.launch, use_cuda, self.settings.DISTRIBUTED_TIMEOUT):
            try:
                return self._run_experiment()
            finally:
                if self._run_lock is not None:  # held by rank 0 since the folder was placed
                    self._run_lock.release()
                    self._run_lock = None
                if self.trainer is not None:
                    self.trainer.release_process_group()

    def _run_experiment(self) -> dict[str, Any]:
        if not console_configured():
            configure_logging(self.settings.LOG_LEVEL if is_main_process() else "WARNING")
        started = time.perf_counter()
        if self.resume_from is None:
            check_tracking_store(self.trackers)
        self.run_dir, resuming, self._run_lock = place_run(
            self.settings.RESULTS_DIR, self.config.experiment_name, self.resume_from
        )
        if self.resume_from is not None:  # under the folder's lock; a refusal leaves it as it was
            check_tracking_store(self.trackers, self.run_dir)
        log_name = run_files.LOG_FILE if is_main_process() else f"aiforge_debug.rank{self.launch.rank}.log"
        self.log_path = self.run_dir / log_name
        log_sink = add_run_log(self.log_path)
        if resuming and self.resume_from is None:  # workers restarted by torchrun
            self.resume_from = self.run_dir
            restart = os.environ.get("TORCHELASTIC_RESTART_COUNT")
            logger.warning(f"torchrun restarted the workers (restart {restart}): resuming {self.run_dir}")
        self.trainer = None
        try:
            with self.stop_requests:
                self._run_steps()
                results = self.finish(time.perf_counter() - started)
            if self.results_ready is not None and is_main_process():
                self._show_results(results)
            self._end_experiment("FINISHED")
            logger.info(f"Results are in {self.run_dir}")
            return results
        except BaseException as err:
            logger.opt(exception=err).debug("Run failed")
            self._end_experiment("KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED", err)
            if self.run_dir is not None:
                explain_failure(err, self.run_dir, self.log_path, trained=self.trainer is not None)
            remove_run_log(log_sink)
            log_sink = None
            discard = isinstance(err, AIForgeError) and self.trainer is None and self.resume_from is None
            if discard and is_main_process():
                assert self.run_dir is not None
                if discard_unused_run_dir(self.run_dir):
                    self.run_dir = None
            raise
        finally:
            if log_sink is not None:
                remove_run_log(log_sink)

    def _show_results(self, results: dict[str, Any]) -> None:
        """``results_ready`` before the trackers' end-of-run uploads; its failure (a closed pipe
        when the output goes to ``| head``) costs the summary, never the finished run."""
        assert self.results_ready is not None
        try:
            self.results_ready(results)
        except Exception as err:
            logger.warning(f"The run finished, but showing its results failed: {type(err).__name__}: {err}")

    def _run_steps(self) -> None:
        """Everything up to the trained model; a resume reuses the folder's records, never rewrites them."""
        logger.info(f"Experiment '{self.config.experiment_name}' -> {self.run_dir}")
        if self.launch.distributed:
            tcfg = self.config.training_config
            effective = tcfg.batch_size * self.launch.world_size * tcfg.gradient_accumulation_steps
            backend = torch.distributed.get_backend() if is_initialized() else "none"
            logger.info(
                f"Distributed ({backend}): {self.launch.world_size} processes, batch_size {tcfg.batch_size} "
                f"per process, effective batch size {effective}"
            )
        seed_everything(self.config.seed)
        if self.config.training_config.deterministic:
            use_deterministic_kernels()
        main = is_main_process()
        assert self.run_dir is not None
        if self.resume_from is None and main:
            save_environment(self.run_dir, self.config.seed, str(self.device))
        self.prepare_data()
        if self.resume_from is None and main:
            save_records(self.run_dir, self.config, labels_of(self.task, self.dataset), self.preprocessor)
        elif self.resume_from is not None:
            self._load_resume_state()
        self.build_model()
        self.train()

    def _load_resume_state(self) -> None:
        """Rank 0 reads and checks the checkpoint; under torchrun every rank gets its state."""
        assert self.run_dir is not None
        labels, record = labels_of(self.task, self.dataset), config_record(self.config)
        self.resume_state = load_resume_state(self.run_dir, record, self.preprocessor, labels)

    def _end_experiment(self, status: str, error: BaseException | None = None) -> None:
        """Tell the callbacks of a started run how it ended; a failing callback never hides the error."""
        if self.trainer is None:
            return
        from aiforge.tracking.mlflow_callback import MLflowCallback

        # MLflow copies the run folder as it ends: after the other callbacks and trackers wrote
        # their last files (TensorBoard's hparams and figures, W&B's finished run).
        ends = sorted(self.trainer.callbacks, key=lambda callback: isinstance(callback, MLflowCallback))
        for callback in ends:
            try:
                callback.on_experiment_end(self, status, error)
            except Exception as hook_error:
                if error is None:
                    raise
                logger.warning(f"{type(callback).__name__}.on_experiment_end failed: {hook_error}")

    def inference_model(self) -> Any:
        """The trained model with its preprocessor: raw features in, predictions out."""
        from aiforge.core.inference import InferenceModel

        assert self.model is not None
        example = self.numeric_example()
        shape = tuple(example.shape[1:]) if example is not None else None
        logits = outputs_are_logits(self.config.training_config.loss_fn_name)
        return InferenceModel(self.model, self.preprocessor, self.task, shape, logits=logits)

    def numeric_example(self) -> torch.Tensor | None:
        """The first validation batch before preprocessing, as numbers: what an exported or MLflow
        model takes. None when the raw inputs are not numbers (texts, a table with categories); a
        plugin's row container of numbers only gives its ``as_tensor()``."""
        features = first_batch(self.raw_val_batches())["features"]
        if isinstance(features, torch.Tensor):
            return features
        as_tensor = getattr(features, "as_tensor", None)
        numbers = as_tensor() if callable(as_tensor) else None
        return numbers if isinstance(numbers, torch.Tensor) else None

    def feature_names(self) -> list[str]:
        """Column names of the flattened features: the dataset's own, else f0, f1, ...

        For raw features that are not numbers (a table with categories), the dataset's
        ``feature_names``: the input columns, whatever their kind.
        """
        assert self.dataset is not None
        names = getattr(self.dataset, "feature_names", None)
        example = self.numeric_example()
        if example is None:
            return [str(n) for n in names or []]
        width = math.prod(example.shape[1:])
        # A row container's own names for its numbers (a table's date parts), when it has them.
        columns = getattr(first_batch(self.raw_val_batches())["features"], "number_names", None)
        for candidate in (columns, names):
            if candidate and len(candidate) == width:
                return [str(n) for n in candidate]
        return [f"f{i}" for i in range(width)]

    def raw_val_batches(self) -> Any:
        """Validation rows as stored, before preprocessing."""
        assert self.dataset is not None
        batch_size = self.config.training_config.batch_size
        return make_batches(self.dataset, self.val_indices, None, batch_size, False, self.config.seed)

    def check(self) -> dict[str, Any]:
        """Load data, build the model, run one batch forward and backward; write nothing."""
        seed_everything(self.config.seed)
        self.prepare_data()
        self.build_model()
        assert self.model is not None
        self._metric_set()
        samples = (len(self.train_indices), len(self.val_indices))
        return dry_run(self.config, self.model, self.train_dataloader, self.device, self.num_classes, samples)

    # -- steps ---------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Load, split, fit the preprocessor on the training rows only, and batch."""
        # Seeded with the current values and taken back even after an error: the steps done
        # so far (the loaded dataset, the resolved paths) stay visible, as callers expect.
        data = preparation.PreparedData(
            **{f.name: getattr(self, f.name, None) for f in fields(preparation.PreparedData)}
        )
        try:
            preparation.prepare_data(
                data,
                self.DatasetClass,
                self.PreprocessorClass,
                self.settings.DATA_DIR,
                self.device,
                self.task,
                resumed=self.resume_from is not None,
            )
        finally:
            for f in fields(data):  # train/val indices exist once the rows were split
                value = getattr(data, f.name)
                if value is not None or hasattr(self, f.name):
                    setattr(self, f.name, value)

    def _test_batches(self) -> Any:
        """The test rows, preprocessed like validation rows (sharded under torchrun); None without."""
        if self.test_indices is None:
            return None
        return self._batches(self.test_indices, shuffle=False, dataset=self.test_dataset)

    def all_val_batches(self) -> Any:
        """Every validation row after preprocessing, also under torchrun (where each rank has a part)."""
        return self._batches(self.val_indices, shuffle=False, sharded=False)

    def use_preprocessor(self, preprocessor: BasePreprocessor) -> None:
        """Preprocess with ``preprocessor`` (a finished run's saved one) instead of the one fitted:
        the training and validation batches are made again with it."""
        self.preprocessor = preprocessor
        self.train_dataloader = self._batches(self.train_indices, shuffle=True)
        self.val_dataloader = self._batches(self.val_indices, shuffle=False)
        self.test_dataloader = self._test_batches()

    def _batches(
        self,
        indices: torch.Tensor,
        shuffle: bool,
        sharded: bool = True,
        dataset: BaseDataset | None = None,
    ) -> Any:
        dataset = dataset if dataset is not None else self.dataset
        assert dataset is not None
        return preparation.batches(
            self.config, self.device, dataset, indices, self.preprocessor, shuffle, sharded
        )

    def build_model(self) -> None:
        """Model, loss and optimizer from the plugin and the training config."""
        cfg, tcfg = self.config, self.config.training_config
        model = call_plugin(cfg.model_plugin, "model_config", self.ModelClass, cfg.model_specific_config)
        model.device = self.device
        self.model = model.to(self.device)
        self.model.loss_fn = call_plugin(
            cfg.model_plugin,
            "training_config.loss_fn_args",
            self.model.configure_loss_fn,
            tcfg.loss_fn_name,
            **tcfg.loss_fn_args,
        )
        self.model.optimizer = call_plugin(
            cfg.model_plugin,
            "training_config.optimizer_args",
            self.model.configure_optimizer,
            tcfg.optimizer_name,
            tcfg.learning_rate,
            **tcfg.optimizer_args,
        )
        logger.info(
            f"Model {self.ModelClass.__name__}: {self.model.num_parameters():,} parameters on {self.device}"
        )

    def train(self) -> list[dict[str, float]]:
        """The training loop with early stopping, checkpoints and the LR schedule."""
        assert self.model is not None and self.model.optimizer is not None
        metrics = self._metric_set()
        others: list[Callback] = list(self.trackers)
        assert self.run_dir is not None
        callbacks, self.checkpoint = standard_callbacks(
            self.config.training_config,
            self.run_dir,
            self.model.optimizer,
            config_record(self.config),
            others + self.config_callbacks + self.extra_callbacks,
            batches_per_epoch=sized_length(self.train_dataloader),  # sizes a per-step LR schedule
        )
        self.trainer = Trainer(
            self.model,
            self.model.optimizer,
            self.config.training_config,
            self.device,
            metrics,
            callbacks,
            plugin_names=(self.config.model_plugin, self.config.dataset_plugin),
            stop_requests=self.stop_requests,
            num_classes=self.num_classes,
        )
        if self.resume_state is not None:
            self._restore_trainer(self.resume_state)
        for callback in callbacks:
            callback.on_experiment_start(self)
        share_run_ids(self.trackers)  # under torchrun: rank 0 started the tracked runs
        epochs = self.config.training_config.epochs
        logger.info(f"Training for up to {epochs} epochs")
        return self.trainer.fit(self.train_dataloader, self.val_dataloader, epochs)

    def _restore_trainer(self, state: dict[str, Any]) -> None:
        """Load the checkpoint into the new trainer; a checkpoint of another model is a clear error."""
        assert self.trainer is not None
        try:
            self.trainer.load_full_state(state, source=f"the checkpoint in {self.run_dir}")
        except CheckpointError:
            self.trainer = None  # half loaded
            raise

    def evaluate(self, dataloader: Any = None) -> tuple[float, dict[str, float]]:
        """Loss and metrics of the current weights on ``dataloader`` (default: validation)."""
        assert self.trainer is not None, "train() first"
        return self.trainer.evaluate(dataloader if dataloader is not None else self.val_dataloader)

    def finish(self, duration: float) -> dict[str, Any]:
        """Final evaluation with the restored best weights, and the files that record it."""
        assert self.run_dir is not None and self.model is not None and self.trainer is not None
        val_loss, val_metrics = self.evaluate()
        logger.info(f"Final validation loss {val_loss:.4f} | metrics {_fmt(val_metrics)}")
        assert self.checkpoint is not None
        samples = (len(self.train_indices), len(self.val_indices))
        trained = (self.trainer, self.checkpoint, self.model.num_parameters())
        evaluation = (val_loss, val_metrics)
        test = None
        if self.test_dataloader is not None:  # scored once, after every choice was made on validation
            assert self.test_indices is not None
            test_loss, test_metrics = self.evaluate(self.test_dataloader)
            logger.info(
                f"Test loss {test_loss:.4f} | metrics {_fmt(test_metrics)} ({len(self.test_indices)} rows)"
            )
            test = (len(self.test_indices), test_loss, test_metrics)
        results = save_results(
            self.run_dir, self.config, self.task, *trained, samples, evaluation, duration, test
        )
        if is_main_process():
            self.write_report()
        return results

    # -- records -------------------------------------------------------------------------
    def write_report(self) -> None:
        """PNG plots and report.html; a failure here costs the pictures, never the finished run."""
        from aiforge.reporting.run_report import write_run_report

        assert self.run_dir is not None and self.model is not None
        logits = outputs_are_logits(self.config.training_config.loss_fn_name)
        batches = self.all_val_batches()
        write_run_report(
            self.run_dir,
            self.model,
            batches,
            self.task,
            logits,
            self.device,
            self.run_lock,
            raw_val_batches=self.raw_val_batches(),  # the same rows in the same order, as stored
        )

    # -- helpers -------------------------------------------------------------------------
    def _metric_set(self) -> MetricSet:
        assert self.model is not None
        logits = outputs_are_logits(self.config.training_config.loss_fn_name)
        checks = OutputChecks.for_config(self.config, self.num_classes)
        return metric_set(
            self.metric_names, self.task, self.model, self.val_dataloader, self.device, logits, checks
        )

    def _check_config_fits_plugins(self) -> None:
        """Fail before any folder is made: metrics, monitors, and the model config's class."""
        model_config = model_config_for(self.config, self.ModelClass)
        if model_config is not self.config.model_specific_config:
            self._resolve_config(model_specific_config=model_config)

    def _resolve_config(self, **resolved: Any) -> None:
        """The run's config with values found for it: a new object, so the config the run started
        from (and every earlier step's) is never edited; ``self.config`` is what the run records."""
        self.config = self.config.model_copy(update=resolved)


def _fmt(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
