"""End-to-end: callbacks, optimizer, loss and scheduler named in a config file by class_path, through
the real `aiforge` command in a subprocess, and the trust switches that refuse them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

MODULE = '''
from torch import nn
from aiforge.utils.callbacks import Callback


class WriteEpochs(Callback):
    """Writes one line per epoch to ``path``: the epoch and the validation loss."""

    def __init__(self, path: str, tag: str = "epoch") -> None:
        self.path, self.tag = path, tag

    def on_epoch_end(self, epoch, logs):
        with open(self.path, "a") as out:
            out.write(f"{self.tag} {epoch + 1} {logs['val_loss']:.6f}\\n")


class LabelSmoothed(nn.CrossEntropyLoss):
    """A classification loss by subclassing: the task follows the class."""
'''

BASE = {
    "experiment_name": "objects",
    "model_plugin": "simple_nn",
    "dataset_plugin": "digits",
    "model_config": {"hidden_dim": 16},
    "training_config": {"epochs": 2, "batch_size": 128},
    "metrics": ["accuracy"],
}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "AIFORGE_TRACKING": "false", "PYTHONPATH": str(cwd)}
    env.pop("AIFORGE_RESULTS_DIR", None)
    command = [sys.executable, "-m", "aiforge", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def write(tmp_path: Path, **changes) -> Path:
    (tmp_path / "userobjs.py").write_text(textwrap.dedent(MODULE))
    data = {**BASE, **changes}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_config_callbacks_and_class_path_objects_run(tmp_path: Path) -> None:
    out = tmp_path / "epochs.txt"
    training = {
        **BASE["training_config"],
        "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.01, "weight_decay": 0.01}},
        "loss": {"class_path": "userobjs.LabelSmoothed", "init_args": {"label_smoothing": 0.1}},
        "scheduler": {
            "class_path": "torch.optim.lr_scheduler.StepLR",
            "init_args": {"step_size": 1, "gamma": 0.5},
        },
    }
    callbacks = [{"class_path": "userobjs.WriteEpochs", "init_args": {"path": str(out), "tag": "seen"}}]
    config = write(tmp_path, training_config=training, callbacks=callbacks)
    result = run_cli("run", str(config), "--results-dir", str(tmp_path / "results"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert [line.split()[:2] for line in lines] == [["seen", "1"], ["seen", "2"]]
    (run_dir,) = (tmp_path / "results").glob("objects/*")
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["callbacks"] == callbacks
    assert saved["training_config"]["optimizer_name"] == "AdamW"  # torch's own: the short name
    assert saved["training_config"]["learning_rate"] == 0.01
    assert saved["training_config"]["loss_fn_name"] == "userobjs.LabelSmoothed"
    assert saved["training_config"]["scheduler"]["name"] == "StepLR"
    assert '"task": "classification"' in (run_dir / "final_results.json").read_text()  # by its class


def test_a_bad_class_path_and_a_bad_init_arg_are_exit_2_naming_them(tmp_path: Path) -> None:
    config = write(tmp_path, callbacks=[{"class_path": "userobjs.NoSuchCallback"}])
    result = run_cli("check", str(config), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "callbacks.0.class_path" in result.stderr and "'userobjs.NoSuchCallback'" in result.stderr
    config = write(tmp_path, callbacks=[{"class_path": "userobjs.WriteEpochs", "init_args": {"pth": "x"}}])
    result = run_cli("run", str(config), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert (
        "WriteEpochs" in result.stderr and "'pth'" in result.stderr and "did you mean 'path'" in result.stderr
    )
    assert not (tmp_path / "results").exists()


def test_no_imports_refuses_dotted_paths_and_accepts_built_in_names(tmp_path: Path) -> None:
    config = write(tmp_path, callbacks=[{"class_path": "userobjs.WriteEpochs", "init_args": {"path": "x"}}])
    result = run_cli("check", "--no-imports", str(config), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert (
        "callbacks.0.class_path" in result.stderr
        and "--no-imports allows only built-in names" in result.stderr
    )
    config = write(tmp_path, model_plugin="aiforge.plugins.simple_nn")
    result = run_cli("run", "--no-imports", str(config), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "plugin 'aiforge.plugins.simple_nn' is a dotted import path" in result.stderr
    sweep = {
        "metric": "val_loss",
        "trials": 1,
        "space": {"training_config.learning_rate": {"type": "float", "low": 0.001, "high": 0.01}},
    }
    config = write(tmp_path, sweep=sweep, training_config={"optimizer_name": "torch.optim.sgd.SGD"})
    result = run_cli("sweep", "--no-imports", str(config), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "optimizer 'torch.optim.sgd.SGD' is a dotted import path, and --no-imports" in result.stderr
    training = {**BASE["training_config"], "optimizer": {"class_path": "AdamW"}}
    config = write(
        tmp_path,
        training_config=training,
        callbacks=[{"class_path": "EarlyStopping", "init_args": {"patience": 2}}],
    )
    result = run_cli("check", "--no-imports", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_a_run_folder_naming_a_dotted_callback_is_refused_on_resume(tmp_path: Path) -> None:
    write(tmp_path)
    run_dir = tmp_path / "results" / "objects" / "20250101-000000"
    run_dir.mkdir(parents=True)
    data = {**BASE, "callbacks": [{"class_path": "userobjs.WriteEpochs", "init_args": {"path": "x"}}]}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(data))
    result = run_cli("run", "--resume", str(run_dir), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert (
        "callback 'userobjs.WriteEpochs' is a dotted import path named by the run folder's" in result.stderr
    )
    assert "--allow-dotted-plugins" in result.stderr
