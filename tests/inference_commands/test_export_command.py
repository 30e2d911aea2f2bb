"""`aiforge export`: TorchScript (and ONNX when installed), checked against the eager model."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aiforge.cli.inference import cmd_export
from aiforge.config.model_configs import ExperimentConfig, TrainingConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.errors import ConfigError, PluginError
from aiforge.inference_commands.export import export_run, sample_inputs
from aiforge.inference_commands.loading import load_run

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
HAVE_ONNX = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime"))


def _settings(root: Path) -> AppSettings:
    return AppSettings(RESULTS_DIR=root / "results", DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING")


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory) -> Path:
    config = ExperimentConfig(
        experiment_name="iris_export",
        model_plugin="simple_nn",
        dataset_plugin="iris",
        training_config=TrainingConfig(epochs=3, batch_size=16),
        tracking={"enabled": False},
    )
    root = tmp_path_factory.mktemp("iris")
    return Path(Orchestrator(config, settings=_settings(root)).run_experiment()["run_dir"])


def _eager(run_dir: Path, tmp_path: Path, rows: torch.Tensor) -> torch.Tensor:
    loaded = load_run(run_dir, _settings(tmp_path), device="cpu")
    with torch.no_grad():
        return loaded.orchestrator.inference_model().eval()(rows)


def test_torchscript_export_matches_the_eager_model(iris_run, tmp_path, capsys):
    args = argparse.Namespace(run_dir=iris_run, format="torchscript", output=tmp_path / "model.pt")
    assert cmd_export(args) == 0
    printed = capsys.readouterr().out
    assert f"Wrote {tmp_path / 'model.pt'}" in printed and "checked against the eager model" in printed

    loaded = load_run(iris_run, _settings(tmp_path), device="cpu")
    rows = torch.cat(sample_inputs(loaded))
    extra = {"aiforge.json": ""}
    scripted = torch.jit.load(str(tmp_path / "model.pt"), _extra_files=extra)
    with torch.no_grad():
        torch.testing.assert_close(scripted(rows), _eager(iris_run, tmp_path, rows), rtol=1e-4, atol=1e-5)
    info = json.loads(extra["aiforge.json"])
    assert info["classes"] == ["setosa", "versicolor", "virginica"]
    assert info["feature_names"][0] == "sepal length (cm)"
    assert not list(tmp_path.glob(".model.pt.*"))  # no temporary file left behind


def test_torchscript_loads_in_a_fresh_process(iris_run, tmp_path):
    loaded = load_run(iris_run, _settings(tmp_path), device="cpu")
    result = export_run(loaded, "torchscript")
    path = Path(result["path"])
    assert path == iris_run / "inference_model.torchscript.pt" and path.is_file()
    assert result["max_abs_difference"] <= 1e-5

    rows = sample_inputs(loaded)[1]
    torch.save(rows, tmp_path / "rows.pt")
    code = (
        "import sys, torch\n"
        "model = torch.jit.load(sys.argv[1])\n"
        "rows = torch.load(sys.argv[2], weights_only=True)\n"
        "torch.save(model(rows).detach(), sys.argv[3])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "rows.pt"), str(tmp_path / "out.pt")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    outputs = torch.load(tmp_path / "out.pt", weights_only=True)
    torch.testing.assert_close(outputs, _eager(iris_run, tmp_path, rows), rtol=1e-4, atol=1e-5)
    assert outputs.shape == (len(rows), 3)


def test_output_may_be_a_folder(iris_run, tmp_path):
    loaded = load_run(iris_run, _settings(tmp_path), device="cpu")
    result = export_run(loaded, "torchscript", tmp_path)
    assert Path(result["path"]) == tmp_path / "inference_model.torchscript.pt"
    with pytest.raises(ConfigError, match=r"the folder .*missing does not exist"):
        export_run(loaded, "torchscript", tmp_path / "missing" / "model.pt")


def test_a_model_that_does_not_trace_is_not_written(iris_run, tmp_path):
    loaded = load_run(iris_run, _settings(tmp_path), device="cpu")
    preprocessor = loaded.orchestrator.preprocessor
    transform = preprocessor.transform_batch

    def batch_size_dependent(batch):  # len() becomes a constant in the trace
        out = transform(batch)
        return {**out, "features": out["features"] * float(len(out["features"]))}

    preprocessor.transform_batch = batch_size_dependent
    target = tmp_path / "model.pt"
    with pytest.raises(
        PluginError, match=r"does not match the eager model on sample batch 2 .*not written"
    ) as err:
        export_run(loaded, "torchscript", target)
    assert "tracer warning: " in str(err.value)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_is_a_config_error(tmp_path):
    with pytest.raises(
        ConfigError, match=r"unknown export format 'torchscrip' \(did you mean 'torchscript'\?\)"
    ):
        cmd_export(argparse.Namespace(run_dir=tmp_path, format="torchscrip"))


@pytest.mark.skipif(HAVE_ONNX, reason="onnx and onnxruntime are installed")
def test_onnx_without_its_packages_says_what_to_install(tmp_path):
    with pytest.raises(ConfigError, match=r"pip install onnx onnxruntime"):
        cmd_export(argparse.Namespace(run_dir=tmp_path / "not-loaded", format="onnx"))


@pytest.mark.skipif(not HAVE_ONNX, reason="needs onnx and onnxruntime")
def test_onnx_export_matches_the_eager_model(iris_run, tmp_path):
    import onnxruntime

    loaded = load_run(iris_run, _settings(tmp_path), device="cpu")
    result = export_run(loaded, "onnx", tmp_path / "model.onnx")
    session = onnxruntime.InferenceSession(result["path"], providers=["CPUExecutionProvider"])
    rows = sample_inputs(loaded)[1]
    outputs = torch.from_numpy(session.run(None, {"features": rows.numpy()})[0])
    torch.testing.assert_close(outputs, _eager(iris_run, tmp_path, rows), rtol=1e-4, atol=1e-5)


def test_the_default_export_into_a_run_folder_in_use_is_refused(iris_run, tmp_path):
    from aiforge.runs.lock import acquire_run_lock

    loaded = load_run(iris_run, _settings(tmp_path), device="cpu")
    target = iris_run / "inference_model.torchscript.pt"
    target.unlink(missing_ok=True)
    with acquire_run_lock(iris_run, "a training run"):
        # Export from another process, as a second command would.
        holder = subprocess.run(
            [sys.executable, "-c", EXPORT_SCRIPT, str(iris_run), str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert holder.returncode == 0, holder.stderr
    assert "in use" in holder.stdout and str(os.getpid()) in holder.stdout
    assert not target.exists()
    assert export_run(loaded, "torchscript")["path"] == str(target)  # free again


EXPORT_SCRIPT = """
import sys
from pathlib import Path
from aiforge.config.settings import AppSettings
from aiforge.errors import RunFolderInUse
from aiforge.inference_commands.export import export_run
from aiforge.inference_commands.loading import load_run

settings = AppSettings(RESULTS_DIR=Path(sys.argv[2]) / "results", DEVICE="cpu", TRACKING=False,
                       LOG_LEVEL="WARNING")
try:
    export_run(load_run(Path(sys.argv[1]), settings, device="cpu"), "torchscript")
except RunFolderInUse as err:
    print(err)
"""
