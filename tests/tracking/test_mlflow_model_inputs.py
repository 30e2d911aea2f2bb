"""What users pass to the logged MLflow model, loaded with ``mlflow.pyfunc`` in a fresh process.

float32 and float64 arrays, DataFrames of floats or of ints (``pd.read_csv``), columns in another
order, one row; a missing column is an error that names it. The graph (pt2) and the pickled
model take the same inputs and give the same predictions; the graph loads in a process where
AIForge cannot be imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aiforge.config.model_configs import ExperimentConfig, TrainingConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.tracking.mlflow_callback import read_run_info

# Loads the model as a user would and reports every input's predictions (or error) as JSON.
SCRIPT = textwrap.dedent(
    """
    import io, json, sys, warnings
    if sys.argv[4] == "without-aiforge":  # as on a machine where AIForge is not installed
        sys.modules["aiforge"] = None
    warnings.simplefilter("always")
    import mlflow, numpy as np, pandas as pd

    uri, run_id, rows = sys.argv[1], sys.argv[2], np.array(json.loads(sys.argv[3]))
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model", model_config={"device": "cpu"})
    names = model.metadata.metadata["feature_names"]
    csv = pd.DataFrame(rows.astype(np.int64), columns=names).to_csv(index=False)
    shuffled = list(reversed(names))
    inputs = {
        "float64 array": rows.astype(np.float64),
        "float32 array": rows.astype(np.float32),
        "float DataFrame": pd.DataFrame(rows, columns=names),
        "int DataFrame (read_csv)": pd.read_csv(io.StringIO(csv)),
        "shuffled columns": pd.DataFrame(rows, columns=names)[shuffled],
        "extra column": pd.DataFrame(rows, columns=names).assign(comment="ignored"),
        "one row array": rows[:1].astype(np.float32),
        "one row DataFrame": pd.DataFrame(rows[:1], columns=names),
        "missing column": pd.DataFrame(rows, columns=names).drop(columns=[names[2]]),
    }
    report = {"names": names, "dtypes": str(inputs["int DataFrame (read_csv)"].dtypes.unique())}
    with warnings.catch_warnings(record=True) as caught:
        for label, data in inputs.items():
            try:
                report[label] = {"predictions": np.asarray(model.predict(data)).tolist()}
            except Exception as err:
                report[label] = {"error": f"{type(err).__name__}: {err}"}
    report["warnings"] = [str(w.message) for w in caught]
    try:
        import aiforge
        report["aiforge importable"] = True
    except ImportError:
        report["aiforge importable"] = False
    print(json.dumps(report))
    """
)


def _config(tmp_path: Path) -> ExperimentConfig:
    return ExperimentConfig(
        experiment_name="inputs",
        model_plugin="simple_nn",
        dataset_plugin="iris",
        model_config={"hidden_dim": 8},
        training_config=TrainingConfig(epochs=1, batch_size=16, learning_rate=0.05),
        tracking={"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    )


@pytest.fixture(scope="module", params=["pt2", "pickle"])
def predicted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Train iris for one epoch, log the model in ``request.param``'s format, predict elsewhere."""
    import torch

    from aiforge.tracking import mlflow_model

    tmp_path = tmp_path_factory.mktemp(request.param)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIFORGE_TRACKING", "true")
        patch.chdir(tmp_path)  # MLflow puts a SQLite store's artifacts in ./mlruns
        if request.param == "pickle":
            patch.setattr(mlflow_model, "pt2_problem", lambda model, rows: "a test wants it pickled")
        settings = AppSettings(RESULTS_DIR=tmp_path / "results", DEVICE="cpu", TRACKING=True)
        orchestrator = Orchestrator(_config(tmp_path), settings=settings)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = orchestrator.run_experiment()
    info = read_run_info(Path(results["run_dir"]))
    assert info is not None
    raw = next(iter(orchestrator.raw_val_batches()))["features"][:6]
    rows = raw.round().double()  # whole numbers: the same values as ints, floats of either width
    with torch.no_grad():
        expected = orchestrator.inference_model()(rows.float()).numpy()
    environment = {**os.environ}
    environment.pop("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", None)
    aiforge = "with-aiforge"  # the pickled model's classes are AIForge's
    if request.param == "pt2":
        environment["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"  # the graph needs no pickle
        aiforge = "without-aiforge"  # nor AIForge: its wrapper is in the model's code/ folder
    arguments = [info["tracking_uri"], info["run_id"], json.dumps(rows.tolist()), aiforge]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *arguments],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "format": request.param,
        "report": report,
        "stderr": done.stderr,
        "expected": expected,
        "names": orchestrator.feature_names(),
    }


@pytest.mark.parametrize(
    "label",
    [
        "float64 array",
        "float32 array",
        "float DataFrame",
        "int DataFrame (read_csv)",
        "shuffled columns",
        "extra column",
    ],
)
def test_every_usual_input_gives_the_model_s_predictions(predicted, label):
    result = predicted["report"][label]
    assert "error" not in result, result.get("error")
    np.testing.assert_allclose(result["predictions"], predicted["expected"], rtol=1e-5, atol=1e-6)


def test_read_csv_gives_integer_columns(predicted):
    assert "int64" in predicted["report"]["dtypes"]  # the case users hit with digits' pixels


@pytest.mark.parametrize("label", ["one row array", "one row DataFrame"])
def test_one_row_predicts_like_the_first_row_of_many(predicted, label):
    result = predicted["report"][label]
    assert "error" not in result, result.get("error")
    np.testing.assert_allclose(result["predictions"], predicted["expected"][:1], rtol=1e-5, atol=1e-6)


def test_a_missing_column_is_named(predicted):
    result = predicted["report"]["missing column"]
    missing = predicted["names"][2]
    assert "error" in result, "a DataFrame without a feature column predicted"
    assert repr(missing) in result["error"] and "missing" in result["error"], result["error"]


def test_predicting_warns_about_no_read_only_array(predicted):
    messages = [*predicted["report"]["warnings"], predicted["stderr"]]
    assert not [m for m in messages if "not writable" in m], messages


def test_the_graph_loads_and_predicts_without_aiforge(predicted):
    """The pt2 process could not import AIForge (the pickled model needs its classes) and predicted."""
    assert predicted["report"]["aiforge importable"] is (predicted["format"] == "pickle")
    result = predicted["report"]["float DataFrame"]
    assert "error" not in result, result.get("error")
    np.testing.assert_allclose(result["predictions"], predicted["expected"], rtol=1e-5, atol=1e-6)
