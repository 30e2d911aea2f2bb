"""The seed's Python API: configs built in code, run by the Orchestrator or through the container."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from aiforge.config.model_configs import ExperimentConfig, SimpleNNConfig, TrainingConfig
from aiforge.config.settings import AppSettings


def seed_experiment_config() -> ExperimentConfig:
    """The body of the seed's ``run_simple_nn_experiment`` (main.py), verbatim but for settings.

    The seed read ``settings`` from ``aiforge.config.settings``; today's API builds AppSettings.
    """
    settings = AppSettings()

    # In a real scenario, data_path would point to actual data files.
    # For this demo, the SimpleNNDataset generates data internally.
    dummy_data_file = settings.DATA_DIR / "dummy_classification_data.pkl"

    # 1. Model-specific configuration
    model_config = SimpleNNConfig(
        input_dim=10,  # Matches the dummy data generation
        hidden_dim=64,
        output_dim=2,  # For 2-class classification
        dropout_rate=0.3,
        activation_fn="ReLU",
    )

    # 2. Training loop configuration
    training_config = TrainingConfig(
        epochs=5,
        batch_size=16,
        learning_rate=0.005,
        optimizer_name="Adam",
        loss_fn_name="CrossEntropyLoss",  # Appropriate for multi-class classification logits
        early_stopping_patience=2,
        early_stopping_monitor="val_loss",
        early_stopping_mode="min",
    )

    # 3. Overall experiment configuration
    experiment_config = ExperimentConfig(
        experiment_name="simple_nn_classification_experiment",
        model_plugin="simple_nn",  # Refers to 'aiforge/plugins/simple_nn'
        dataset_plugin="simple_nn",  # Refers to 'aiforge/plugins/simple_nn'
        data_path=str(dummy_data_file),
        preprocess_args={"scaler_type": "standard"},  # Args for SimpleNN Preprocessor's fit method
        model_config=model_config,
        training_config=training_config,
    )
    return experiment_config


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Default settings, resolved in an empty working directory (results/ lands in tmp_path)."""
    for name in ("AIFORGE_RESULTS_DIR", "AIFORGE_DATA_DIR", "AIFORGE_PLUGINS_DIR", "AIFORGE_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def only_run_dir(root: Path) -> Path:
    runs = list((root / "results" / "simple_nn_classification_experiment").iterdir())
    assert len(runs) == 1
    return runs[0]


def test_seed_snippet_with_orchestrator(in_tmp: Path) -> None:
    from aiforge.core.orchestrator import Orchestrator

    experiment_config = seed_experiment_config()

    # 4. Initialize and run the Orchestrator
    orchestrator = Orchestrator(experiment_config)
    orchestrator.run_experiment()

    run_dir = only_run_dir(in_tmp)
    results = json.loads((run_dir / "final_results.json").read_text())
    assert Path(results["run_dir"]).resolve() == run_dir.resolve()
    assert results["train_samples"] == 800 and results["val_samples"] == 200
    assert 1 <= results["epochs_completed"] <= 5
    # The synthetic set is learnable: well above the 50% of guessing.
    assert results["final_val_metrics"]["accuracy"] > 0.8
    assert not (in_tmp / "data").exists()  # settings create no folders


def test_seed_snippet_with_container(in_tmp: Path) -> None:
    from aiforge.container import Container

    config = seed_experiment_config()

    container = Container()
    container.experiment_config.override(config)
    orchestrator = container.orchestrator()
    orchestrator.run_experiment()

    run_dir = only_run_dir(in_tmp)
    assert (run_dir / "final_results.json").exists()
    assert (run_dir / "final_model.pt").exists()


def test_container_settings_override(tmp_path: Path) -> None:
    from aiforge.container import Container

    config = seed_experiment_config().model_copy(
        update={"training_config": TrainingConfig(epochs=1), "dataset_args": {"num_samples": 100}}
    )
    container = Container()
    container.experiment_config.override(config)
    container.settings.override(AppSettings(RESULTS_DIR=tmp_path / "elsewhere", DEVICE="cpu"))
    results = container.orchestrator().run_experiment()
    run_dir = Path(results["run_dir"])
    assert run_dir.parent == tmp_path / "elsewhere" / "simple_nn_classification_experiment"
    assert (run_dir / "final_results.json").exists()


def test_orchestrator_uses_classes_passed_in(tmp_path: Path) -> None:
    from aiforge.core.orchestrator import Orchestrator
    from aiforge.data.scaling import FeatureScaler
    from aiforge.plugins.simple_nn.dataset import Dataset
    from aiforge.plugins.simple_nn.model import Model

    calls: dict[str, int] = {"forward": 0, "load": 0, "fit": 0}

    class CountingModel(Model):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls["forward"] += 1
            return super().forward(x)

    class CountingDataset(Dataset):
        def load_data(self, data_path: str | None = None, **kwargs: Any) -> None:
            calls["load"] += 1
            super().load_data(data_path, num_samples=100)

    class CountingScaler(FeatureScaler):
        def fit(self, features: torch.Tensor, **kwargs: Any) -> None:
            calls["fit"] += 1
            super().fit(features, **kwargs)

    config = ExperimentConfig(
        experiment_name="explicit_classes",
        model_plugin="simple_nn",
        dataset_plugin="simple_nn",
        model_config=SimpleNNConfig(hidden_dim=8),
        training_config=TrainingConfig(epochs=1, batch_size=20),
    )
    orchestrator = Orchestrator(
        config, CountingModel, CountingDataset, CountingScaler, settings=AppSettings(RESULTS_DIR=tmp_path)
    )
    results = orchestrator.run_experiment()
    assert calls["load"] == 1 and calls["fit"] == 1 and calls["forward"] > 0
    assert isinstance(orchestrator.model, CountingModel)
    assert results["train_samples"] == 80


def test_public_names_import_from_the_package() -> None:
    import aiforge
    from aiforge import BaseModel, ExperimentConfig, Orchestrator

    assert issubclass(BaseModel, torch.nn.Module)
    assert ExperimentConfig.__name__ == "ExperimentConfig" and callable(Orchestrator)
    for name in aiforge.__all__:
        assert getattr(aiforge, name) is not None, name
    with pytest.raises(AttributeError):
        aiforge.NoSuchThing  # noqa: B018


def test_seed_settings_import_works_lazily(in_tmp: Path) -> None:
    from aiforge.config.settings import settings  # type: ignore[attr-defined]

    assert Path("results") == settings.RESULTS_DIR
    assert not (in_tmp / "results").exists()
