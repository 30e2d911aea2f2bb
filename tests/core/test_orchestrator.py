"""The experiment lifecycle end to end: run folder, reproducibility, data handling, training options."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import PositiveInt
from safetensors.torch import load_file
from torch.utils.data import DataLoader

from aiforge.config.loading import load_experiment_config
from aiforge.config.model_configs import (
    ExperimentConfig,
    ModelSpecificConfig,
    SchedulerConfig,
    SimpleNNConfig,
    TrainingConfig,
)
from aiforge.config.settings import AppSettings
from aiforge.core.data_pipeline import BaseDataset, BasePreprocessor, InMemoryDataset, Item
from aiforge.core.orchestrator import Orchestrator
from aiforge.data.batching import TensorBatches
from aiforge.data.scaling import FeatureScaler
from aiforge.errors import ConfigError, DataError, PluginError
from aiforge.plugins.simple_nn.dataset import Dataset as SimpleDataset
from aiforge.plugins.simple_nn.model import Model as SimpleModel
from aiforge.utils.callbacks import Callback
from torch_features import FUSED_ADAM_ON_CPU

ROWS = 200  # 160 training rows, 40 validation rows with the default val_fraction


def make_config(training: dict[str, Any] | None = None, model: dict[str, Any] | None = None, **top: Any):
    """A tiny simple_nn experiment; keyword arguments replace top-level fields."""
    training_args = {"epochs": 2, "batch_size": 16, "learning_rate": 0.01, **(training or {})}
    model_args = {"hidden_dim": 16, "dropout_rate": 0.0, **(model or {})}
    fields: dict[str, Any] = {
        "experiment_name": "orch_test",
        "model_plugin": "simple_nn",
        "dataset_plugin": "simple_nn",
        "dataset_args": {"num_samples": ROWS},
        "model_config": SimpleNNConfig(**model_args),
        "training_config": TrainingConfig(**training_args),
        **top,
    }
    return ExperimentConfig(**fields)


def settings_for(root: Path) -> AppSettings:
    return AppSettings(RESULTS_DIR=root / "results", DEVICE="cpu")


def run(config: ExperimentConfig, root: Path, **classes: Any) -> tuple[Orchestrator, dict[str, Any], Path]:
    orchestrator = Orchestrator(config, settings=settings_for(root), **classes)
    results = orchestrator.run_experiment()
    return orchestrator, results, Path(results["run_dir"])


def history(run_dir: Path) -> list[dict[str, float]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def load_pt(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 0.0) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=0, atol=atol) for k in a)


@pytest.fixture(scope="module")
def basic_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Orchestrator, dict[str, Any], Path]:
    """One 3-epoch classification run shared by the tests that only read its files."""
    return run(make_config(training={"epochs": 3}), tmp_path_factory.mktemp("basic"))


# -- the run folder ---------------------------------------------------------------------------------
def test_run_dir_holds_every_artifact(basic_run: tuple[Orchestrator, dict[str, Any], Path]) -> None:
    _, results, run_dir = basic_run
    expected = {
        "config.yaml",
        "environment.json",
        "preprocessor.safetensors",
        "label_mapping.json",
        "checkpoints",
        "final_model.pt",
        "metrics.csv",
        "final_results.json",
        "aiforge_debug.log",
    }
    assert expected <= {p.name for p in run_dir.iterdir()}
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {"best.pt", "last.pt", "previous.pt"}
    assert not [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")]  # atomic writes cleaned up
    assert run_dir.parent.name == "orch_test"

    saved = json.loads((run_dir / "final_results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    assert saved["epochs_completed"] == 3 and saved["task"] == "classification"
    assert saved["train_samples"] == 160 and saved["val_samples"] == 40
    assert set(saved["final_val_metrics"]) == {"accuracy", "f1"}

    env = json.loads((run_dir / "environment.json").read_text())
    assert env["seed"] == 42 and env["device"] == "cpu"
    assert env["packages"]["torch"].split("+")[0] == torch.__version__.split("+")[0]

    labels = json.loads((run_dir / "label_mapping.json").read_text())
    assert labels == {"task": "classification", "classes": ["0", "1"]}

    log = (run_dir / "aiforge_debug.log").read_text()
    assert "Epoch 3/3" in log
    assert ("Optimizer Adam (fused kernel)" in log) is FUSED_ADAM_ON_CPU and "Optimizer Adam" in log


def test_metrics_csv_has_one_row_per_epoch(basic_run: tuple[Orchestrator, dict[str, Any], Path]) -> None:
    _, results, run_dir = basic_run
    rows = history(run_dir)
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert list(rows[0]) == ["epoch", "train_loss", "val_loss", "val_accuracy", "val_f1", "lr"]
    assert all(row["lr"] == 0.01 for row in rows)
    assert all(0.0 <= row["val_accuracy"] <= 1.0 and math.isfinite(row["train_loss"]) for row in rows)
    best = min(rows, key=lambda row: row["val_loss"])
    assert results["best_epoch"] == best["epoch"]


def test_checkpoints_load_with_weights_only(basic_run: tuple[Orchestrator, dict[str, Any], Path]) -> None:
    orchestrator, results, run_dir = basic_run
    best = load_pt(run_dir / "checkpoints" / "best.pt")
    last = load_pt(run_dir / "checkpoints" / "last.pt")
    final = load_pt(run_dir / "final_model.pt")
    assert {"model", "epoch", "val_loss"} <= set(best)
    assert best["epoch"] == results["best_epoch"]
    assert {"model", "optimizer", "epoch", "global_step", "callbacks"} <= set(last)
    assert last["epoch"] == 3 and last["global_step"] == 3 * 10  # 160 rows / 16 per batch
    assert set(last["callbacks"]) >= {"MetricsHistory", "ModelCheckpoint"}
    # The saved weights rebuild the model.
    model = SimpleModel(orchestrator.config.model_specific_config)
    model.load_state_dict(final)
    assert same_weights(final, orchestrator.model.state_dict())


def test_two_runs_of_one_experiment_get_separate_folders(tmp_path: Path) -> None:
    config = make_config(training={"epochs": 1})
    first_dir = run(config, tmp_path)[2]
    second_dir = run(config, tmp_path)[2]
    assert first_dir != second_dir
    assert first_dir.parent == second_dir.parent == tmp_path / "results" / "orch_test"
    assert (first_dir / "final_results.json").exists() and (second_dir / "final_results.json").exists()
    assert json.loads((first_dir / "final_results.json").read_text())["run_dir"] == str(first_dir)
    # Each run's debug log is closed when the run ends: the second run is not in the first log.
    assert second_dir.name not in (first_dir / "aiforge_debug.log").read_text()


# -- reproducibility and the saved config ------------------------------------------------------------
def test_same_seed_reproduces_and_other_seed_differs(tmp_path: Path) -> None:
    config = make_config(training={"epochs": 2}, model={"dropout_rate": 0.3})  # dropout uses the RNG
    _, _, dir_a = run(config, tmp_path)
    _, _, dir_b = run(config, tmp_path)
    _, _, dir_c = run(config.model_copy(update={"seed": 7}), tmp_path)

    assert history(dir_a) == history(dir_b)
    assert same_weights(load_pt(dir_a / "final_model.pt"), load_pt(dir_b / "final_model.pt"))
    assert same_weights(
        load_pt(dir_a / "checkpoints/last.pt")["model"], load_pt(dir_b / "checkpoints/last.pt")["model"]
    )
    assert history(dir_a) != history(dir_c)
    assert not same_weights(load_pt(dir_a / "final_model.pt"), load_pt(dir_c / "final_model.pt"), 1e-6)


def test_saved_config_reloads_with_dims_from_data_and_reruns_identically(
    basic_run: tuple[Orchestrator, dict[str, Any], Path], tmp_path: Path
) -> None:
    orchestrator, _, run_dir = basic_run
    reloaded = load_experiment_config(run_dir / "config.yaml")
    assert reloaded.model_specific_config.input_dim == 10
    assert reloaded.model_specific_config.output_dim == 2
    assert reloaded.model_dump() == orchestrator.config.model_dump()
    _, _, rerun_dir = run(reloaded, tmp_path)
    assert history(rerun_dir) == history(run_dir)


# -- data handling ------------------------------------------------------------------------------------
def test_preprocessor_is_fitted_on_train_split_only(
    basic_run: tuple[Orchestrator, dict[str, Any], Path],
) -> None:
    orchestrator, _, run_dir = basic_run
    state = load_file(run_dir / "preprocessor.safetensors")
    features = orchestrator.dataset.features
    train_mean = features[orchestrator.train_indices].mean(dim=0)
    train_std = features[orchestrator.train_indices].std(dim=0, unbiased=False)
    assert torch.allclose(state["shift"], train_mean, atol=1e-5)
    assert torch.allclose(state["scale"], train_std, atol=1e-5)
    assert not torch.allclose(state["shift"], features.mean(dim=0), atol=1e-3)  # not the full data
    # Train and validation rows are disjoint and cover the data.
    train, val = set(orchestrator.train_indices.tolist()), set(orchestrator.val_indices.tolist())
    assert not train & val and train | val == set(range(ROWS))


def test_stored_dataset_is_unchanged_by_a_run(basic_run: tuple[Orchestrator, dict[str, Any], Path]) -> None:
    orchestrator, _, _ = basic_run
    fresh = SimpleDataset()
    fresh.load_data(None, num_samples=ROWS)
    assert torch.equal(orchestrator.dataset.features, fresh.features)
    assert torch.equal(orchestrator.dataset.labels, fresh.labels)


@pytest.mark.parametrize(
    ("field", "value", "found"), [("input_dim", 7, "10 (features)"), ("output_dim", 3, "2 (outputs")]
)
def test_model_dims_that_contradict_the_data_raise(
    tmp_path: Path, field: str, value: int, found: str
) -> None:
    config = make_config(model={field: value})
    message = re.escape(f"model_config.{field}={value}, but the data has {found}")
    with pytest.raises(DataError, match=message):
        run(config, tmp_path)
    assert not list((tmp_path / "results").rglob("metrics.csv"))  # failed before training


def test_misspelled_dataset_argument_is_a_config_error(tmp_path: Path) -> None:
    config = make_config(dataset_args={"num_sample": 50})
    with pytest.raises(
        ConfigError,
        match=r"plugin 'simple_nn': .*'num_sample' \(did you mean 'num_samples'\?\)",
    ):
        run(config, tmp_path)


def test_bce_on_more_than_two_classes_is_a_data_error_before_training(tmp_path: Path) -> None:
    config = make_config(
        training={"loss_fn_name": "BCEWithLogitsLoss", "epochs": 1}, dataset_plugin="iris", dataset_args={}
    )
    with pytest.raises(DataError, match="BCEWithLogitsLoss"):
        run(config, tmp_path)
    assert not list((tmp_path / "results").rglob("metrics.csv"))


class PerItemDataset(BaseDataset):
    """The simple_nn data as a list of dicts, returned as stored (like the seed did); no as_tensors."""

    def __init__(self) -> None:
        self.items: list[dict[str, torch.Tensor]] = []

    def load_data(self, data_path: str | None, **dataset_args: Any) -> None:
        reference = SimpleDataset()
        reference.load_data(data_path, **dataset_args)
        self.items = [
            {"features": f.clone(), "labels": y.clone()}
            for f, y in zip(reference.features, reference.labels, strict=True)
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> dict[str, torch.Tensor]:
        return self.items[idx]


def test_per_item_dataset_trains_through_a_dataloader_like_in_memory_data(tmp_path: Path) -> None:
    # One batch holds all 160 training rows: the DataLoader draws its shuffle order differently
    # from TensorBatches (it takes a worker seed from the generator first), and full-batch
    # gradients do not depend on the order, so both paths must then give the same numbers.
    config = make_config(training={"epochs": 2, "batch_size": 256, "learning_rate": 0.05})
    classes = {"ModelClass": SimpleModel, "PreprocessorClass": FeatureScaler}
    per_item, per_item_results, per_item_dir = run(config, tmp_path, DatasetClass=PerItemDataset, **classes)
    in_memory, _, in_memory_dir = run(config, tmp_path, DatasetClass=SimpleDataset, **classes)

    assert isinstance(per_item.train_dataloader, DataLoader)
    assert isinstance(in_memory.train_dataloader, TensorBatches)
    # No class_names on the per-item set: output_dim comes from the largest label.
    assert per_item.config.model_specific_config.output_dim == 2
    assert not (per_item_dir / "label_mapping.json").exists()
    assert set(per_item_results["final_val_metrics"]) == {"accuracy", "f1"}
    per_item_rows, in_memory_rows = history(per_item_dir), history(in_memory_dir)
    for a, b in zip(per_item_rows, in_memory_rows, strict=True):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    assert same_weights(
        load_pt(per_item_dir / "final_model.pt"), load_pt(in_memory_dir / "final_model.pt"), 1e-5
    )
    # The stored items were never normalised in place.
    fresh = PerItemDataset()
    fresh.load_data(None, num_samples=ROWS)
    assert all(
        torch.equal(a["features"], b["features"])
        for a, b in zip(per_item.dataset.items, fresh.items, strict=True)
    )


# -- training options -------------------------------------------------------------------------------
def test_early_stopping_stops_and_restores_best_weights(tmp_path: Path) -> None:
    patience = 2
    config = make_config(
        training={
            "epochs": 30,
            "learning_rate": 0.1,
            "early_stopping_patience": patience,
            "early_stopping_min_delta": 0.0,
        },
        model={"hidden_dim": 32},
        dataset_args={"num_samples": 100, "noise": 1.0},  # noisy labels: val_loss soon rises
    )
    _, results, run_dir = run(config, tmp_path)
    rows = history(run_dir)
    assert results["stopped_early"] is True
    assert results["epochs_completed"] == len(rows) < 30
    # Early stopping and the best checkpoint watch the same value, so training ends `patience`
    # epochs after the best one.
    assert results["best_epoch"] == len(rows) - patience
    best_loss = min(row["val_loss"] for row in rows)
    assert results["final_val_loss"] == pytest.approx(best_loss, rel=1e-6)
    assert results["best_monitor_value"] == pytest.approx(best_loss, rel=1e-6)
    final = load_pt(run_dir / "final_model.pt")
    assert same_weights(final, load_pt(run_dir / "checkpoints/best.pt")["model"])
    assert not same_weights(final, load_pt(run_dir / "checkpoints/last.pt")["model"], 1e-6)
    early = load_pt(run_dir / "checkpoints/last.pt")["callbacks"]["EarlyStopping"]
    assert early["stop_training"] is True and early["epochs_no_improve"] == patience


def test_gradient_accumulation_matches_a_larger_batch(tmp_path: Path) -> None:
    """SGD without momentum, no dropout: two accumulated batches of 8 are one batch of 16."""

    def last_weights(batch_size: int, accumulate: int) -> dict[str, torch.Tensor]:
        training = {
            "epochs": 2,
            "batch_size": batch_size,
            "gradient_accumulation_steps": accumulate,
            "optimizer_name": "SGD",
            "learning_rate": 0.1,
        }
        _, _, run_dir = run(make_config(training=training), tmp_path)
        return load_pt(run_dir / "checkpoints/last.pt")["model"]  # after the last step, not the best

    accumulated = last_weights(8, 2)
    assert same_weights(accumulated, last_weights(16, 1), atol=1e-5)
    assert not same_weights(accumulated, last_weights(8, 1), atol=1e-3)


def test_gradient_clipping_is_applied_at_every_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = torch.nn.utils.clip_grad_norm_
    calls: list[tuple[float, float]] = []

    def recording_clip(parameters: Any, max_norm: float, *args: Any, **kwargs: Any) -> torch.Tensor:
        parameters = list(parameters)
        norm = original(parameters, max_norm, *args, **kwargs)
        after = torch.norm(torch.stack([p.grad.norm() for p in parameters if p.grad is not None]))
        calls.append((max_norm, float(after)))
        return norm

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording_clip)
    run(make_config(training={"epochs": 1, "gradient_clip_norm": 0.05}), tmp_path)
    assert len(calls) == 10  # one per optimizer step: 160 rows / 16
    assert all(max_norm == 0.05 and after <= 0.05 + 1e-6 for max_norm, after in calls)

    calls.clear()
    run(make_config(training={"epochs": 1}), tmp_path)
    assert calls == []


def test_step_lr_schedule_shows_in_lr_column(tmp_path: Path) -> None:
    scheduler = SchedulerConfig(name="StepLR", args={"step_size": 1, "gamma": 0.5})
    _, _, run_dir = run(make_config(training={"epochs": 3, "scheduler": scheduler}), tmp_path)
    assert [row["lr"] for row in history(run_dir)] == pytest.approx([0.01, 0.005, 0.0025])


def test_reduce_on_plateau_lowers_lr_when_monitor_stalls(tmp_path: Path) -> None:
    # An absolute threshold of 100 means no epoch after the first counts as an improvement,
    # so with patience 0 the LR halves after every epoch from the second on.
    scheduler = SchedulerConfig(
        name="ReduceLROnPlateau",
        args={"factor": 0.5, "patience": 0, "threshold": 100.0, "threshold_mode": "abs"},
    )
    _, _, run_dir = run(make_config(training={"epochs": 4, "scheduler": scheduler}), tmp_path)
    assert [row["lr"] for row in history(run_dir)] == pytest.approx([0.01, 0.01, 0.005, 0.0025])
    last = load_pt(run_dir / "checkpoints/last.pt")  # scheduler state is weights_only-safe too
    assert last["callbacks"]["LRSchedulerCallback"]["num_bad_epochs"] == 0


def test_unknown_early_stopping_monitor_is_a_config_error(tmp_path: Path) -> None:
    config = make_config(training={"early_stopping_monitor": "auroc"}, metrics=["accuracy"])
    with pytest.raises(ConfigError, match=r"early_stopping_monitor: 'val_auroc' is not logged.*val_accuracy"):
        run(config, tmp_path)
    assert not (tmp_path / "results").exists()  # refused before any run folder is made


def test_a_run_that_uses_every_epoch_did_not_stop_early(
    basic_run: tuple[Orchestrator, dict[str, Any], Path],
) -> None:
    _, results, _ = basic_run
    assert results["epochs_completed"] == 3 and results["stopped_early"] is False


def test_reduce_on_plateau_follows_a_score_monitor_upwards(tmp_path: Path) -> None:
    scheduler = SchedulerConfig(name="ReduceLROnPlateau", monitor="val_accuracy", args={"patience": 0})
    orchestrator, _, _ = run(make_config(training={"epochs": 1, "scheduler": scheduler}), tmp_path)
    callback = next(cb for cb in orchestrator.trainer.callbacks if hasattr(cb, "scheduler"))
    assert callback.scheduler.mode == "max"


def test_classification_loss_on_a_regression_dataset_is_a_data_error(tmp_path: Path) -> None:
    config = make_config(dataset_plugin="diabetes", dataset_args={})
    with pytest.raises(DataError, match="holds a regression target"):
        run(config, tmp_path)


def test_wrong_task_metric_is_refused_before_a_folder_is_made(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"metrics: .*'mse'.*classification"):
        run(make_config(metrics=["mse"]), tmp_path)
    assert not (tmp_path / "results").exists()


def test_unknown_scheduler_monitor_is_a_config_error(tmp_path: Path) -> None:
    scheduler = SchedulerConfig(name="ReduceLROnPlateau", monitor="val_r2")
    with pytest.raises(ConfigError, match=r"scheduler\.monitor: 'val_r2' is not logged"):
        run(make_config(training={"scheduler": scheduler}), tmp_path)


def test_bad_scheduler_arguments_are_a_config_error(tmp_path: Path) -> None:
    scheduler = SchedulerConfig(name="StepLR", args={"step_sise": 1})
    with pytest.raises(ConfigError, match=r"StepLR\(step_sise=1\) failed"):
        run(make_config(training={"scheduler": scheduler}), tmp_path)


def test_regression_on_diabetes_reports_regression_metrics(tmp_path: Path) -> None:
    config = make_config(
        training={"loss_fn_name": "MSELoss", "learning_rate": 0.05, "batch_size": 32},
        dataset_plugin="diabetes",
        dataset_args={},
    )
    orchestrator, results, run_dir = run(config, tmp_path)
    assert results["task"] == "regression"
    assert orchestrator.config.model_specific_config.input_dim == 10
    assert orchestrator.config.model_specific_config.output_dim == 1
    metrics = results["final_val_metrics"]
    assert set(metrics) == {"mse", "mae", "r2"}
    # The validation loss is the mean squared error per sample, so the two agree.
    assert metrics["mse"] == pytest.approx(results["final_val_loss"], rel=1e-4)
    assert 0 < metrics["mae"] <= math.sqrt(metrics["mse"]) + 1e-3
    assert {"val_mse", "val_mae", "val_r2"} <= set(history(run_dir)[0])
    assert not (run_dir / "label_mapping.json").exists()


def test_bce_with_logits_on_breast_cancer_uses_one_output(tmp_path: Path) -> None:
    from sklearn.metrics import accuracy_score, f1_score

    config = make_config(
        training={"loss_fn_name": "BCEWithLogitsLoss", "epochs": 3, "batch_size": 32},
        dataset_plugin="breast_cancer",
        dataset_args={},
    )
    orchestrator, results, _ = run(config, tmp_path)
    assert orchestrator.config.model_specific_config.output_dim == 1
    assert orchestrator.config.model_specific_config.input_dim == 30
    assert results["task"] == "classification"
    metrics = results["final_val_metrics"]
    assert metrics["accuracy"] > 0.85

    # The binary metrics threshold sigmoid(logit) at 0.5, as sklearn does with predicted classes.
    model = orchestrator.model.eval()
    with torch.no_grad():
        batches = list(orchestrator.val_dataloader)
        logits = torch.cat([model(batch["features"]) for batch in batches]).squeeze(-1)
    labels = torch.cat([batch["labels"] for batch in batches])
    predicted = (logits.sigmoid() > 0.5).long()
    assert metrics["accuracy"] == pytest.approx(accuracy_score(labels, predicted), abs=1e-6)
    assert metrics["f1"] == pytest.approx(f1_score(labels, predicted), abs=1e-6)


# -- check --------------------------------------------------------------------------------------------
def test_check_runs_one_batch_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = Orchestrator(make_config(), settings=settings_for(tmp_path)).check()
    assert report["parameters"] == 10 * 16 + 16 + 16 * 2 + 2
    assert report["gradients_finite"] is True
    assert math.isfinite(report["loss"])
    assert report["batch_features_shape"] == [16, 10]
    assert (report["train_samples"], report["val_samples"]) == (160, 40)
    assert report["model_config"]["input_dim"] == 10 and report["model_config"]["output_dim"] == 2
    assert list(tmp_path.iterdir()) == []


class NaNModel(SimpleModel):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * torch.tensor(float("nan"))


def test_check_reports_non_finite_gradients(tmp_path: Path) -> None:
    report = Orchestrator(make_config(), ModelClass=NaNModel, settings=settings_for(tmp_path)).check()
    assert report["gradients_finite"] is False


# -- regressions from the review fixes ----------------------------------------------------------------
def test_val_accuracy_monitor_without_a_mode_keeps_the_highest_accuracy(tmp_path: Path) -> None:
    # Regression: the mode defaulted to 'min', so the "best" checkpoint was the least accurate epoch.
    config = make_config(training={"epochs": 2, "early_stopping_monitor": "val_accuracy"})
    orchestrator, results, run_dir = run(config, tmp_path)
    accuracies = [row["val_accuracy"] for row in history(run_dir)]
    assert max(accuracies) > min(accuracies)  # otherwise min and max would pick the same epoch
    assert orchestrator.config.training_config.early_stopping_mode == "max"
    assert results["best_epoch"] == accuracies.index(max(accuracies)) + 1
    assert results["best_monitor_value"] == pytest.approx(max(accuracies))
    assert results["final_val_metrics"]["accuracy"] == pytest.approx(max(accuracies))  # best restored


def test_misspelled_feature_scaler_argument_is_a_config_error(tmp_path: Path) -> None:
    # Regression: FeatureScaler.fit took **_, so scalar_type was ignored and standard scaling used.
    config = make_config(preprocess_args={"scalar_type": "minmax"})
    with pytest.raises(
        ConfigError,
        match=r"'scalar_type' \(did you mean 'scaler_type'\?\) \(check preprocess_args in the config\)",
    ):
        run(config, tmp_path)
    assert not (tmp_path / "results" / "orch_test").exists()


class FirstTwoFeatures(BasePreprocessor):
    """Keeps the first two features: the model sees a narrower input than the dataset stores."""

    def __init__(self) -> None:
        self.keep = 0

    def fit(self, features: torch.Tensor, **preprocess_args: Any) -> None:
        self.keep = 2

    def transform(self, data_item: Item) -> Item:
        return {**data_item, "features": data_item["features"][: self.keep]}

    def transform_batch(self, batch: Item) -> Item:
        return {**batch, "features": batch["features"][:, : self.keep]}


def test_input_dim_is_the_width_after_preprocessing(tmp_path: Path) -> None:
    # Regression: input_dim was read from the raw features (10), so the model did not fit the batches.
    orchestrator, results, _ = run(
        make_config(),
        tmp_path,
        DatasetClass=SimpleDataset,
        ModelClass=SimpleModel,
        PreprocessorClass=FirstTwoFeatures,
    )
    assert orchestrator.dataset.features.shape[1] == 10
    assert orchestrator.config.model_specific_config.input_dim == 2
    assert orchestrator.model.layers[0].weight.shape == (16, 2)
    assert results["epochs_completed"] == 2 and math.isfinite(results["final_val_loss"])


class NumpyStatePreprocessor(BasePreprocessor):
    """Fitted state that safetensors/JSON cannot hold."""

    def fit(self, features: torch.Tensor, **preprocess_args: Any) -> None:
        self.centre = features.mean(dim=0).numpy()

    def transform(self, data_item: Item) -> Item:
        return data_item


def test_unsaveable_preprocessor_state_is_a_plugin_error_before_training(tmp_path: Path) -> None:
    # Regression: the preprocessor was saved after training, so the run trained and then crashed.
    with pytest.raises(PluginError, match=r"cannot save attribute\(s\) \['centre'\]"):
        run(
            make_config(),
            tmp_path,
            DatasetClass=SimpleDataset,
            ModelClass=SimpleModel,
            PreprocessorClass=NumpyStatePreprocessor,
        )
    assert not list(tmp_path.rglob("metrics.csv"))


class PreprocessorFileAtTrainStart(Callback):
    def __init__(self) -> None:
        self.orchestrator: Orchestrator | None = None
        self.state_at_start: dict[str, torch.Tensor] | None = None

    def on_train_start(self, trainer: Any) -> None:
        assert self.orchestrator is not None and self.orchestrator.run_dir is not None
        path = self.orchestrator.run_dir / "preprocessor.safetensors"
        self.state_at_start = load_file(path) if path.exists() else None


def test_preprocessor_is_saved_before_training_starts(tmp_path: Path) -> None:
    # Regression: it was written in finish(), so a crash mid-training left checkpoints without it.
    watcher = PreprocessorFileAtTrainStart()
    orchestrator = Orchestrator(
        make_config(training={"epochs": 1}), settings=settings_for(tmp_path), callbacks=[watcher]
    )
    watcher.orchestrator = orchestrator
    orchestrator.run_experiment()
    assert watcher.state_at_start is not None, "preprocessor.safetensors did not exist at on_train_start"
    assert torch.equal(watcher.state_at_start["shift"], orchestrator.preprocessor.shift)


class FailingDataset(InMemoryDataset):
    error: type[Exception] = KeyError

    def load_data(self, data_path: str | None = None, **dataset_args: Any) -> None:
        raise self.error("column lookup inside the plugin")


def orchestrator_whose_load_data_raises(error: type[Exception], tmp_path: Path) -> Orchestrator:
    dataset_class = type("Failing", (FailingDataset,), {"error": error})
    return Orchestrator(
        make_config(),
        ModelClass=SimpleModel,
        DatasetClass=dataset_class,
        PreprocessorClass=None,
        settings=settings_for(tmp_path),
    )


@pytest.mark.parametrize("error", [KeyError, TypeError, ValueError, FileNotFoundError])
def test_an_exception_in_load_data_is_a_run_failure_naming_the_plugin(
    tmp_path: Path, error: type[Exception]
) -> None:
    # One rule: an exception from plugin code is a failure (exit 1) naming the plugin and the method,
    # never DataError (exit 2, "your input is wrong"); a plugin says that by raising DataError itself.
    from aiforge.training.step_failures import TrainingError

    orchestrator = orchestrator_whose_load_data_raises(error, tmp_path)
    with pytest.raises(
        TrainingError, match=r"plugin 'simple_nn' failed in FailingDataset\.load_data: "
    ) as info:
        orchestrator.run_experiment()
    assert type(info.value.__cause__) is error
    assert "column lookup inside the plugin" in str(info.value)


def test_a_data_error_from_load_data_stays_a_data_error(tmp_path: Path) -> None:
    orchestrator = orchestrator_whose_load_data_raises(DataError, tmp_path)
    with pytest.raises(DataError, match=r"^column lookup inside the plugin"):
        orchestrator.run_experiment()


class NeedsDepthConfig(ModelSpecificConfig):
    input_dim: PositiveInt | None = None
    output_dim: PositiveInt | None = None
    hidden_dim: PositiveInt = 8
    dropout_rate: float = 0.0
    depth: PositiveInt  # required, and not in SimpleNNConfig


class NeedsDepthModel(SimpleModel):
    config_class = NeedsDepthConfig  # type: ignore[assignment]


class TwinConfig(ModelSpecificConfig):
    """The same fields as SimpleNNConfig, but another class."""

    input_dim: PositiveInt | None = None
    hidden_dim: PositiveInt = 128
    output_dim: PositiveInt | None = None
    num_hidden_layers: PositiveInt = 1
    dropout_rate: float = 0.2
    activation_fn: str = "ReLU"


class TwinModel(SimpleModel):
    config_class = TwinConfig  # type: ignore[assignment]


def test_model_config_of_another_class_is_refused_or_revalidated(tmp_path: Path) -> None:
    # Regression: a SimpleNNConfig instance reached any model plugin unchecked.
    with pytest.raises(
        ConfigError,
        match=r"model_config is a SimpleNNConfig, but NeedsDepthModel of plugin 'simple_nn' "
        r"expects NeedsDepthConfig(.|\n)*depth",
    ):
        Orchestrator(make_config(), ModelClass=NeedsDepthModel, settings=settings_for(tmp_path))

    orchestrator = Orchestrator(
        make_config(model={"hidden_dim": 12}), ModelClass=TwinModel, settings=settings_for(tmp_path)
    )
    model_config = orchestrator.config.model_specific_config
    assert type(model_config) is TwinConfig
    assert (model_config.hidden_dim, model_config.dropout_rate) == (12, 0.0)
    assert orchestrator.check()["model_config"]["hidden_dim"] == 12
    assert not (tmp_path / "results").exists()


class DefaultOutputConfig(SimpleNNConfig):
    output_dim: PositiveInt = 1  # type: ignore[assignment]  # a default that is not "from the data"


def test_a_contradicting_default_dim_says_it_is_the_default(tmp_path: Path) -> None:
    # Regression: the message said "remove output_dim from the config", which the user never set.
    config = make_config(model_config=DefaultOutputConfig(hidden_dim=16, dropout_rate=0.0))
    assert "output_dim" not in config.model_specific_config.model_fields_set
    with pytest.raises(
        DataError,
        match=r"model_config\.output_dim=1, but the data has 2 .*; it is the default of DefaultOutputConfig; "
        r"set model_config\.output_dim: 2",
    ):
        run(config, tmp_path)
