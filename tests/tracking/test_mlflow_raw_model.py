"""The MLflow model of a raw-input run (a table with a category column, texts): logged as code
with its artifacts, loaded with ``mlflow.pyfunc.load_model`` after the training data is gone, it
gives the probabilities ``aiforge predict`` gives for raw rows (an unseen category, an empty cell).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from aiforge.config.model_configs import ExperimentConfig, TrainingConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.inference_commands.loading import load_run
from aiforge.inference_commands.predict import predict_frame
from aiforge.tracking.mlflow_callback import read_run_info

COLORS = ["red", "green", "blue"]


def _table(path: Path) -> None:
    """80 rows: a number column with gaps, a category column; the label follows both."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(80):
        color, size = COLORS[i % 3], float(rng.normal())
        label = "yes" if (color == "red") != (size > 0) else "no"
        rows.append({"size": "" if i % 11 == 0 else round(size, 3), "color": color, "label": label})
    pd.DataFrame(rows).to_csv(path, index=False)


def _texts(path: Path) -> None:
    good, bad = ["great", "lovely", "fine", "superb"], ["awful", "poor", "broken", "dull"]
    rows = []
    for i in range(80):
        words = good if i % 2 else bad
        text = f"the {['lamp', 'phone', 'kettle'][i % 3]} is {words[i % 4]} and {words[(i + 1) % 4]}"
        rows.append({"review": text, "sentiment": "positive" if i % 2 else "negative"})
    pd.DataFrame(rows).to_csv(path, index=False)


def _train(root: Path, name: str, **config: Any) -> tuple[Path, AppSettings]:
    settings = AppSettings(RESULTS_DIR=root / "results", DEVICE="cpu", TRACKING=True)
    experiment = ExperimentConfig(
        experiment_name=name,
        training_config=TrainingConfig(epochs=3, batch_size=16, learning_rate=0.01),
        tracking={"tracking_uri": f"sqlite:///{root / 'mlflow.db'}"},
        **config,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = Orchestrator(experiment, settings=settings).run_experiment()
    return Path(results["run_dir"]), settings


def _logged_predictions(run_dir: Path, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    import mlflow

    info = read_run_info(run_dir)
    assert info is not None
    mlflow.set_tracking_uri(info["tracking_uri"])
    tags = mlflow.MlflowClient().get_run(info["run_id"]).data.tags
    model = mlflow.pyfunc.load_model(f"runs:/{info['run_id']}/model")
    return model.predict(frame), tags


def _check(run_dir: Path, settings: AppSettings, data: Path, frame: pd.DataFrame) -> None:
    expected = predict_frame(load_run(run_dir, settings), frame)  # `aiforge predict`'s numbers
    data.unlink()  # the logged model never reads the training data
    got, tags = _logged_predictions(run_dir, frame)
    assert tags["aiforge.model_format"] == "raw-input pyfunc"
    classes = [c.removeprefix("prob_") for c in expected.columns if c.startswith("prob_")]
    assert list(got.columns) == classes
    np.testing.assert_allclose(
        got.to_numpy(), expected[[f"prob_{c}" for c in classes]].to_numpy(), rtol=1e-5, atol=1e-6
    )


def test_a_table_with_categories_logs_a_model_that_predicts_raw_rows(tracking_workdir: Path) -> None:
    data = tracking_workdir / "table.csv"
    _table(data)
    run_dir, settings = _train(
        tracking_workdir,
        "raw_table",
        model_plugin="simple_nn",
        dataset_plugin="tabular",
        data_path=str(data),
        dataset_args={"target_column": "label"},
        model_config={"hidden_dim": 8},
    )
    # an unseen category, an empty category cell, an empty number cell; extra columns ignored
    frame = pd.DataFrame(
        {
            "size": [0.5, np.nan, -1.2, 0.1],
            "color": ["purple", "red", None, "blue"],
            "note": ["x", "y", "z", "w"],
        }
    )
    _check(run_dir, settings, data, frame)


def test_a_text_run_logs_a_model_that_predicts_raw_texts(tracking_workdir: Path) -> None:
    data = tracking_workdir / "texts.csv"
    _texts(data)
    run_dir, settings = _train(
        tracking_workdir,
        "raw_text",
        model_plugin="text_classifier",
        dataset_plugin="text",
        data_path=str(data),
        model_config={"encoder": "bag", "embedding_dim": 8, "hidden_dim": 8},
    )
    frame = pd.DataFrame({"review": ["the lamp is great", "a never seen word", "broken and dull"]})
    _check(run_dir, settings, data, frame)


def test_the_logged_state_is_json_in_the_model(tracking_workdir: Path) -> None:
    """The reading state travels as JSON (metadata and artifact): no pickle anywhere in the model."""
    import mlflow

    data = tracking_workdir / "table.csv"
    _table(data)
    run_dir, _ = _train(
        tracking_workdir,
        "raw_files",
        model_plugin="simple_nn",
        dataset_plugin="tabular",
        data_path=str(data),
        model_config={"hidden_dim": 8},
    )
    info = read_run_info(run_dir)
    assert info is not None
    mlflow.set_tracking_uri(info["tracking_uri"])
    folder = Path(mlflow.artifacts.download_artifacts(f"runs:/{info['run_id']}/model"))
    names = {p.name for p in folder.rglob("*") if p.is_file()}
    assert {"config.yaml", "reading_state.json", "weights.pt", "label_mapping.json"} <= names
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".cloudpickle"))], names
    state = json.loads(next(folder.rglob("reading_state.json")).read_text())
    assert state["column_kinds"] == {"size": "number", "color": "category"}


def _table_run(root: Path, name: str) -> tuple[Path, AppSettings]:
    data = root / "table.csv"
    _table(data)
    return _train(
        root, name, model_plugin="simple_nn", dataset_plugin="tabular", data_path=str(data), model_config={}
    )


def test_a_dataset_without_the_hooks_still_logs_no_model(
    tracking_workdir: Path, infos: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiforge.tracking import mlflow_raw_logging

    monkeypatch.setattr(mlflow_raw_logging, "can_log_raw_model", lambda orchestrator: False)
    run_dir, _ = _table_run(tracking_workdir, "no_hooks")
    import mlflow

    info = read_run_info(run_dir)
    assert info is not None
    mlflow.set_tracking_uri(info["tracking_uri"])
    run = mlflow.MlflowClient().get_run(info["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["aiforge.model_format"] == "none (raw inputs)"
    assert [m for m in infos if m.startswith("MLflow model not logged")], infos


def test_a_failure_to_log_the_raw_model_never_fails_the_run(
    tracking_workdir: Path, infos: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiforge.tracking import mlflow_raw_logging

    def fail(orchestrator: Any) -> str:
        raise RuntimeError("the artifact store is full")

    monkeypatch.setattr(mlflow_raw_logging, "log_raw_input_model", fail)
    run_dir, _ = _table_run(tracking_workdir, "log_fails")
    assert (run_dir / "final_model.pt").is_file()  # the run finished; only the tracking stopped
    warned = [m for m in infos if "logging the model to MLflow failed" in m]
    assert warned and "the artifact store is full" in warned[0], infos
