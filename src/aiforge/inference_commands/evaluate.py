"""``aiforge evaluate``: recompute a run's loss and metrics with its saved model and preprocessor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiforge.errors import ConfigError, DataError, did_you_mean
from aiforge.inference_commands.loading import LoadedRun

SPLITS = ("train", "val", "test", "all")


def evaluate_run(
    loaded: LoadedRun, split: str | None = None, data: str | Path | None = None
) -> dict[str, Any]:
    """Loss and metrics of the run's final weights.

    Without ``data``: on ``split`` (``val`` by default) of the run's own data; on ``val`` the
    result equals the run's ``final_val_loss`` and ``final_val_metrics``, on ``test`` (a run with
    a held-out test split) its ``test_loss`` and ``test_metrics``. With ``data``: on every row of
    that file, read by the run's dataset plugin and ``dataset_args``.
    """
    import torch

    from aiforge.data.batching import make_batches
    from aiforge.training.evaluation import prediction_width

    orchestrator = loaded.orchestrator
    split = check_options(split, data)
    if split == "test" and orchestrator.test_indices is None:
        raise ConfigError(
            f"--split test: run {loaded.run_dir} has no held-out test split (its config sets neither "
            "test_fraction nor test_data_path); use --split val, train or all, or --data FILE"
        )
    width = None  # a regression run's metrics are sized by metric_set
    if orchestrator.task == "classification":  # before --data's labels are mapped to the run's classes
        width = prediction_width(orchestrator.model, orchestrator.val_dataloader, orchestrator.device)
        loaded.classes_for(max(width, 2))  # one score column: binary, two classes
    if data is None:
        indices = {
            "train": orchestrator.train_indices,
            "val": orchestrator.val_indices,
            "test": orchestrator.test_indices,
            "all": torch.arange(len(orchestrator.dataset)),
        }[split]
        dataset = orchestrator.dataset
        cfg = orchestrator.config
        source = str(cfg.data_path or f"dataset plugin '{cfg.dataset_plugin}'")
        if split == "test" and cfg.test_data_path is not None:
            dataset, source = orchestrator.test_dataset, str(cfg.test_data_path)
    else:
        dataset = _load_other_data(loaded, Path(data))
        indices = torch.arange(len(dataset))
        source = str(Path(data).resolve())
    own = {"val": orchestrator.val_dataloader, "test": orchestrator.test_dataloader}
    batches = (
        own[split]
        if data is None and split in own
        else make_batches(
            dataset,
            indices,
            orchestrator.preprocessor,
            orchestrator.config.training_config.batch_size,
            False,
            orchestrator.config.seed,
        )
    )
    loss, metrics = _evaluate(loaded, batches, width)
    result: dict[str, Any] = {
        "run_dir": str(loaded.run_dir),
        "data": source,
        "split": split,
        "samples": len(indices),
        "device": str(orchestrator.device),
        "loss": loss,
        "metrics": metrics,
    }
    keys = {"val": ("final_val_loss", "final_val_metrics"), "test": ("test_loss", "test_metrics")}
    if data is None and split in keys and isinstance(loaded.results, dict):
        loss_key, metrics_key = keys[split]
        reference = {"loss": loaded.results.get(loss_key), "metrics": loaded.results.get(metrics_key)}
        result["run_final"] = reference
        result["matches_run_final"] = reference == {"loss": loss, "metrics": metrics}
    return result


def check_options(split: str | None, data: str | Path | None) -> str | None:
    """The split to use (``val`` by default; None with ``data``); bad combinations fail before any loading."""
    if data is not None:
        if split is not None:
            raise ConfigError(
                "--split chooses rows of the run's own data; with --data every row of the file is used"
            )
        if not Path(data).exists():
            raise DataError(f"--data: file not found: {data} (looked for {Path(data).resolve()})")
        return None
    split = split or "val"
    if split not in SPLITS:
        raise ConfigError(
            f"unknown split {split!r}{did_you_mean(split, SPLITS)}; use train, val, test or all"
        )
    return split


def _evaluate(loaded: LoadedRun, batches: Any, width: int | None) -> tuple[float, dict[str, float]]:
    """The run's metric set and the evaluation loop its Trainer validated with (no Trainer built);
    ``width``, when already known, sizes the metrics without another forward pass."""
    from aiforge.training.builders import outputs_are_logits
    from aiforge.training.evaluation import evaluate_as_configured
    from aiforge.training.from_config import metric_set

    orchestrator = loaded.orchestrator
    cfg = orchestrator.config
    model, device = orchestrator.model, orchestrator.device
    logits = outputs_are_logits(cfg.training_config.loss_fn_name)
    metrics = metric_set(
        orchestrator.metric_names, orchestrator.task, model, batches, device, logits, width=width
    )
    names = (cfg.model_plugin, cfg.dataset_plugin)
    return evaluate_as_configured(model, batches, metrics, cfg.training_config, device, names)


def _load_other_data(loaded: LoadedRun, path: Path) -> Any:
    """Every row of another file, read like the run's data, with labels in the run's class order."""
    from aiforge.core.data_pipeline import InMemoryDataset
    from aiforge.core.plugins import call_plugin
    from aiforge.data.batching import first_batch

    orchestrator = loaded.orchestrator
    cfg = orchestrator.config
    dataset = orchestrator.DatasetClass()
    args = dict(cfg.dataset_args)
    kinds = getattr(orchestrator.dataset, "column_kinds", None)
    trained_names = getattr(orchestrator.dataset, "feature_names", None)
    if kinds:  # read each column as the run's data was (a category stays one), not inferred anew
        # Columns by name, in the run's order, as predict reads them; ignored ones are not needed.
        used = [name for name in trained_names or kinds if kinds.get(name) != "ignore"]
        args["column_types"] = {name: kinds[name] for name in used if name in kinds}
        args["feature_columns"] = used
        target = getattr(orchestrator.dataset, "target_name", None)
        if target is not None:
            args["target_column"] = target
        trained_names = used
    try:
        call_plugin(cfg.dataset_plugin, "dataset_args", dataset.load_data, str(path), **args)
    except DataError as err:
        if not kinds:
            raise DataError(f"--data {path}: {err}") from None
        # Perhaps the file has other columns: read it as it is, for the names check below to say so.
        dataset = orchestrator.DatasetClass()
        try:
            call_plugin(cfg.dataset_plugin, "dataset_args", dataset.load_data, str(path), **cfg.dataset_args)
        except DataError:
            raise DataError(f"--data {path}: {err}") from None
        if set(getattr(dataset, "feature_names", [])) >= set(trained_names or []):
            raise DataError(f"--data {path}: {err}") from None
    if len(dataset) == 0:
        raise DataError(f"--data {path}: dataset plugin '{cfg.dataset_plugin}' loaded no rows")

    expected = first_batch(orchestrator.raw_val_batches())["features"]
    first = dataset[0]["features"]
    # A row container (the tabular plugin's RawTable) has no shape; its columns are checked below.
    expected_shape = tuple(expected.shape[1:]) if hasattr(expected, "shape") else None
    found_shape = tuple(first.shape) if hasattr(first, "shape") else None
    if found_shape is not None and expected_shape is not None and found_shape != expected_shape:
        raise DataError(
            f"--data {path}: each row has features of shape {list(found_shape)}, "
            f"but the model was trained on {list(expected_shape)}"
        )
    names = getattr(dataset, "feature_names", None)
    if trained_names and names and list(names) != list(trained_names):
        missing = [name for name in trained_names if name not in names]
        fix = f" (the file lacks {missing})" if kinds and missing else " (same columns, same order)"
        raise DataError(
            f"--data {path}: the feature columns are {list(names)}, but the model was trained on "
            f"{list(trained_names)}{fix}"
        )

    run_classes = loaded.class_names
    if orchestrator.task == "classification" and run_classes is not None:
        classes = dataset.class_names
        if classes is None:
            raise DataError(
                f"--data {path}: the run classifies {run_classes}, but the file's labels were not read "
                "as classes (for a tabular file, set dataset_args.task: classification in the run's config)"
            )
        classes = [str(c) for c in classes]
        if classes != run_classes:
            unknown = [c for c in classes if c not in run_classes]
            if unknown:
                raise DataError(
                    f"--data {path}: label(s) {unknown} are not among the run's classes {run_classes}"
                )
            if not isinstance(dataset, InMemoryDataset):
                raise DataError(
                    f"--data {path}: its classes {classes} differ from the run's {run_classes}, and "
                    f"dataset plugin '{cfg.dataset_plugin}' does not hold its labels as one tensor to remap"
                )
            import torch

            mapping = torch.tensor([run_classes.index(c) for c in classes], dtype=torch.long)
            dataset.set_tensors(dataset.features, mapping[dataset.labels.long()])
            dataset.class_names = list(run_classes)
    return dataset


def format_table(result: dict[str, Any]) -> Any:
    from rich.table import Table

    reference = result.get("run_final")
    where = f"split {result['split']}" if result["split"] else result["data"]
    table = Table(title=f"Evaluation ({where}, {result['samples']} rows, {result['device']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    if reference:
        table.add_column("run's final", justify="right")
    rows = [("loss", result["loss"], (reference or {}).get("loss"))]
    ref_metrics = (reference or {}).get("metrics") or {}
    rows += [(name, value, ref_metrics.get(name)) for name, value in result["metrics"].items()]
    for name, value, ref in rows:
        cells = [name, f"{value:.6f}"]
        if reference:
            cells.append("-" if ref is None else f"{ref:.6f}")
        table.add_row(*cells)
    return table
