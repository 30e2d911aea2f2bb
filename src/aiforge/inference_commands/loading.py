"""Load a finished run back: its config, its data split, the saved preprocessor and final weights."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiforge.errors import CheckpointError, ConfigError, DataError
from aiforge.runs import files as run_files

PUT_BACK = "put back the file the run wrote (from a copy of the run folder)"


def stdout_console() -> Any:
    """A rich console on stdout; wide when stdout is not a terminal, so piped tables keep whole paths."""
    from rich.console import Console

    terminal = Console()
    return terminal if terminal.is_terminal else Console(width=240)


def resolve_run_dir(path: str | Path, results_dir: Path | None = None) -> Path:
    """The run folder ``path`` names: as given, else relative to the results folder.

    A ConfigError says what is wrong: not found, a file, or an experiment folder (a folder of runs).
    """
    found = run_files.find_run_dir(path, results_dir)  # the one rule every command follows
    run_dir = found.path
    if found.problem == "file":
        raise ConfigError(f"{found.given} is a file; give the run folder that holds {run_files.CONFIG_FILE}")
    if found.problem == "missing":
        raise ConfigError(f"run folder not found: {' or '.join(str(c) for c in found.looked)}")
    if found.problem == "lacks":
        runs = sorted(p.name for p in run_dir.iterdir() if (p / run_files.CONFIG_FILE).is_file())
        hint = f"; it holds the runs {', '.join(runs[-3:])}: give one of them" if runs else ""
        raise ConfigError(f"{run_dir} is not an AIForge run folder: {run_files.CONFIG_FILE} is missing{hint}")
    return run_dir


def read_json(path: Path) -> Any:
    """A JSON file of a run, or None when it is not there; unreadable JSON is a ConfigError."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: cannot read it: {err}") from None


@dataclass
class LoadedRun:
    """A finished run, rebuilt: an Orchestrator with data, saved preprocessor and final weights."""

    run_dir: Path
    orchestrator: Any
    results: dict[str, Any] | None
    class_names: list[str] | None
    labels_path: Path | None = None  # the file the class names come from; None: the dataset plugin

    def classes_for(self, width: int) -> list[str]:
        """A name for each of the model's ``width`` class outputs (its probability columns).

        Class names of another number are an error naming where they came from, never a silent
        fall back to class indices: the model and its label file are not of the same run.
        """
        if self.class_names is None:
            return [str(i) for i in range(width)]
        if len(self.class_names) == width:
            return self.class_names
        from aiforge.runs.labels import count, show

        names = f"{count(len(self.class_names))} ({show(self.class_names)})"
        if self.labels_path is not None:
            where = f"{self.labels_path}: it names {names}"
            fix = PUT_BACK
        else:
            where = f"dataset plugin '{self.config.dataset_plugin}' now gives {names}"
            fix = "the data is not the data the run was trained on"
        raise DataError(f"{where}, but the model of {self.run_dir} has {width} class outputs; {fix}")

    @property
    def config(self) -> Any:
        return self.orchestrator.config

    @property
    def model(self) -> Any:
        return self.orchestrator.model

    @property
    def task(self) -> str:
        return self.orchestrator.task


def load_run(
    run_dir: str | Path, settings: Any = None, device: str | None = None, allow_dotted_plugins: bool = False
) -> LoadedRun:
    """Rebuild a run from its folder.

    The config is read from ``config.yaml``; the data is loaded and split again (the seeded
    split gives the same train/validation rows); the saved preprocessor replaces the one
    ``prepare_data`` fitted; the model is built and ``final_model.pt`` is loaded into it
    (``weights_only=True``). ``device`` (default: the settings' DEVICE) picks where the model
    lives; with ``auto``, the device the run trained on is used when this machine has it, so
    the run's own validation metrics are reproduced exactly. The folder is data: a dotted
    import path its config names as a plugin is refused unless ``allow_dotted_plugins``.
    """
    from aiforge.config.settings import get_settings
    from aiforge.core.plugins import run_folder_plugins

    settings = settings or get_settings()
    run_dir = resolve_run_dir(run_dir, settings.RESULTS_DIR)
    with run_folder_plugins(run_dir / run_files.CONFIG_FILE, allow_dotted_plugins):
        return _rebuild(run_dir, settings, device)


def _rebuild(run_dir: Path, settings: Any, device: str | None) -> LoadedRun:
    """:func:`load_run` for a resolved run folder, under its plugin rules."""
    from aiforge.config.loading import load_experiment_config
    from aiforge.core.orchestrator import Orchestrator
    from aiforge.runs.labels import read_labels
    from aiforge.runtime.seeding import seed_everything

    results = read_json(run_dir / run_files.RESULTS_FILE)
    model_path = run_dir / run_files.FINAL_MODEL_FILE
    if not model_path.is_file():
        raise ConfigError(
            f"{run_dir} has no {run_files.FINAL_MODEL_FILE}: the run did not finish "
            "(its checkpoints are in checkpoints/)"
        )
    config = load_experiment_config(  # callbacks are never run here: not imported, not checked
        run_dir / run_files.CONFIG_FILE, plugins_dir=settings.PLUGINS_DIR, ignore_callbacks=True
    )
    device = device or _device_for(run_dir, settings.DEVICE)
    settings = settings.model_copy(update={"TRACKING": False, "DEVICE": device})
    orchestrator = Orchestrator(config, settings=settings)
    labels_path = run_dir / run_files.LABELS_FILE
    labels = None  # a regression run never names its outputs by it
    if orchestrator.task == "classification":
        labels = read_labels(labels_path, f"the run's outputs cannot be named by it; {PUT_BACK}")

    seed_everything(config.seed)
    try:
        orchestrator.prepare_data()
    except DataError as err:
        _check_same_classes(run_dir, labels, orchestrator.dataset)  # the likelier cause, said plainly
        raise DataError(f"run {run_dir}: cannot load its data again: {err}") from None
    assert orchestrator.dataset is not None
    _check_same_classes(run_dir, labels, orchestrator.dataset)
    resolved = orchestrator.config  # its data path made absolute
    source = str(resolved.data_path or resolved.dataset_plugin)
    split_off = resolved.test_data_path is None  # test rows taken out of the run's own data
    _check_same_rows(run_dir, results, len(orchestrator.dataset), source, split_off)
    tested = results.get("test_samples") if isinstance(results, dict) else None
    test_rows = len(orchestrator.test_dataset) if orchestrator.test_dataset is not None else None
    if not split_off and isinstance(tested, int) and test_rows != tested:
        raise DataError(
            f"run {run_dir}: its test_data_path {resolved.test_data_path} now has {test_rows} rows, "
            f"but the run was tested on {tested}; its test results cannot be reproduced. "
            "To evaluate on this file, pass it with --data"
        )
    saved = _saved_preprocessor(
        run_dir, orchestrator.PreprocessorClass, orchestrator.preprocessor, resolved.dataset_plugin
    )
    if saved is not None:
        orchestrator.use_preprocessor(saved)
    _without_starting_weights(orchestrator)
    orchestrator.build_model()
    _load_weights(model_path, orchestrator.model, orchestrator.device)

    names: list[str] | None = labels["classes"] if labels is not None else None
    if names is None and orchestrator.dataset is not None and orchestrator.dataset.class_names is not None:
        names = [str(c) for c in orchestrator.dataset.class_names]
    return LoadedRun(run_dir, orchestrator, results, names, labels_path if labels is not None else None)


def _without_starting_weights(orchestrator: Any) -> None:
    """The run's final weights replace whatever its model started from, so a model-config
    ``weights_file`` (torchvision_model's pretrained weights) is not read again: it may have moved."""
    model_config = orchestrator.config.model_specific_config
    if getattr(model_config, "weights_file", None) is not None:
        unstarted = model_config.model_copy(update={"weights_file": None})
        orchestrator.config = orchestrator.config.model_copy(update={"model_specific_config": unstarted})


def _check_same_classes(run_dir: Path, labels: dict[str, Any] | None, dataset: Any) -> None:
    """The data's class names must be the run's (label_mapping.json): a renamed, added or swapped
    class folder would otherwise be scored against labels that mean other classes."""
    from aiforge.runs.labels import count, show

    names = getattr(dataset, "class_names", None)
    if labels is None or names is None:
        return
    found, trained = [str(name) for name in names], list(labels["classes"])
    older_numbers = trained == [str(i) for i in range(len(trained))]  # runs before names were kept
    if found != trained and not (older_numbers and len(found) == len(trained)):
        raise DataError(
            f"run {run_dir}: its data has {count(len(found))} ({show(found)}), but its "
            f"{run_files.LABELS_FILE} names {count(len(trained))} ({show(trained)}): the data (or that "
            f"file) changed since the run, so the model's outputs cannot be named by them. {PUT_BACK}, "
            "or, to evaluate on other data, pass it with --data"
        )


def _device_for(run_dir: Path, setting: str) -> str:
    """``auto`` means the run's own device when it is available here; anything else as given."""
    if setting != "auto":
        return setting
    from aiforge.runtime.device import resolve_device

    environment = read_json(run_dir / run_files.ENVIRONMENT_FILE)
    recorded = environment.get("device") if isinstance(environment, dict) else None
    if isinstance(recorded, str) and recorded:
        try:
            return str(resolve_device(recorded))
        except (ConfigError, RuntimeError):
            pass  # trained on a device this machine lacks: pick the best one here
    return setting


def _check_same_rows(
    run_dir: Path, results: dict[str, Any] | None, found: int, source: str, split_off: bool = True
) -> None:
    """The split is only the run's split if the data (``source``: its path or dataset plugin) has
    the same number of rows, ``found``, as the run's record in ``results`` (its test rows too,
    when ``split_off``: they were taken out of the same data)."""
    if not isinstance(results, dict) or "train_samples" not in results or "val_samples" not in results:
        return
    expected = int(results["train_samples"]) + int(results["val_samples"])
    if split_off and isinstance(results.get("test_samples"), int):
        expected += results["test_samples"]
    if found != expected:
        raise DataError(
            f"run {run_dir}: its data now has {found} rows, but the run trained on {expected} "
            f"({source}); the train/validation "
            "split cannot be reproduced. To evaluate on this data, pass it with --data"
        )


def _saved_preprocessor(
    run_dir: Path, preprocessor_class: type | None, fitted: Any, dataset_plugin: str
) -> Any:
    """The run's saved preprocessor, checked against the one just ``fitted`` on its data, to use
    instead of it; None when dataset plugin ``dataset_plugin`` has no preprocessor."""
    if preprocessor_class is None:
        return None
    path = run_dir / run_files.PREPROCESSOR_FILE
    if not path.is_file():
        raise ConfigError(
            f"{run_dir} has no {run_files.PREPROCESSOR_FILE}, but dataset plugin "
            f"'{dataset_plugin}' has a preprocessor"
        )
    preprocessor = preprocessor_class()
    try:
        preprocessor.load(path)
    except DataError:
        raise  # names the file and what in it is wrong
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise ConfigError(f"{path}: cannot load the saved preprocessor: {err}") from None
    _check_like_fitted(path, preprocessor, fitted)
    return preprocessor


def _check_like_fitted(path: Path, saved: Any, fitted: Any) -> None:
    """The saved state must have the form of the one just fitted on the run's data (keys, shapes, dtypes)."""
    from aiforge.runs.preprocessor_state import reference_problems

    problems = reference_problems(saved.state_dict(), fitted.state_dict()) if fitted is not None else []
    if problems:
        raise DataError(
            f"{path} does not fit this run's data and model: {'; '.join(problems)}. The file was "
            "changed or damaged, or comes from another run: restore this run's own copy, or train again"
        )


def _non_finite_weights(state: dict[str, Any]) -> list[str]:
    import torch

    from aiforge.numerics import all_finite

    floats = {k: v for k, v in state.items() if isinstance(v, torch.Tensor) and v.is_floating_point()}
    return [name for name, value in floats.items() if not all_finite([value])]


def _load_weights(path: Path, model: Any, device: Any) -> Any:
    """``model`` with the final weights at ``path`` loaded (on ``device``), in eval mode."""
    import pickle

    try:
        state = run_files.load_state(path, map_location=device)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise ConfigError(f"{path}: cannot load the model weights: {err}") from None
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: expected a state dict of tensors, found {type(state).__name__}")
    bad = _non_finite_weights(state)
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ConfigError(
            f"{path}: weights {bad[0]!r}{more} hold values that are not finite (NaN or infinity); "
            "a run never saves such weights, so the file was changed or damaged"
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(
            f"{path}: the weights do not fit the model built from {run_files.CONFIG_FILE}: {err}"
        ) from None
    return model.eval()
