"""Kill a run anywhere, resume it, and get the uninterrupted run's weights and history bit for bit.

Every run here is the real `aiforge` command in a subprocess. A small plugin folder makes the
interruptions exact: its model kills its own process at a chosen training step, and its
package patches ``torch.save`` to die half-way through a chosen checkpoint write.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

pytestmark = pytest.mark.slow

PLUGIN_INIT = '''
"""Test instrumentation: KILL_AT_SAVE=N dies half-way through the N-th torch.save;
DISK_FULL_AT_SAVE=N makes the N-th torch.save fail as a full disk does."""
import errno
import os
import signal

import torch

_real_save = torch.save
_saves = 0


def _save(obj, f, *args, **kwargs):
    global _saves
    _saves += 1
    _real_save(obj, f, *args, **kwargs)
    if os.environ.get("DISK_FULL_AT_SAVE") == str(_saves):
        os.truncate(f, os.path.getsize(f) // 2)
        raise OSError(errno.ENOSPC, "No space left on device")
    if os.environ.get("KILL_AT_SAVE") == str(_saves):
        os.truncate(f, os.path.getsize(f) // 2)
        os.kill(os.getpid(), signal.SIGKILL)


torch.save = _save
'''

PLUGIN_MODEL = '''
"""simple_nn's network; KILL_AT_STEP=N sends KILL_SIGNAL (default SIGKILL) in the N-th training batch."""
import os
import signal

from aiforge.plugins.simple_nn.model import Model as SimpleModel


class Model(SimpleModel):
    steps = 0

    def training_step(self, batch, batch_idx):
        Model.steps += self.training  # validation_step calls training_step too
        if os.environ.get("KILL_AT_STEP") == str(Model.steps):
            os.kill(os.getpid(), getattr(signal, os.environ.get("KILL_SIGNAL", "SIGKILL")))
        return super().training_step(batch, batch_idx)
'''

PLUGIN_DATASET = '''
"""simple_nn's synthetic set; per_item: true hides the tensors, so batches come from a DataLoader."""
from aiforge.plugins.simple_nn.dataset import Dataset as SimpleDataset


class Dataset(SimpleDataset):
    def load_data(self, data_path=None, per_item=False, **kwargs):
        super().load_data(data_path, **kwargs)
        self.per_item = per_item

    def as_tensors(self):
        return None if self.per_item else super().as_tensors()
'''

CONFIG = {
    "experiment_name": "resume_test",
    "model_plugin": "resumable",
    "dataset_plugin": "resumable",
    "dataset_args": {"num_samples": 200, "input_dim": 6, "num_classes": 3, "seed": 3},
    "preprocess_args": {"scaler_type": "standard"},
    "model_config": {"hidden_dim": 16, "dropout_rate": 0.3},  # dropout: the torch RNG matters
    "seed": 11,
    "training_config": {
        "epochs": 4,
        "batch_size": 16,  # 160 training rows: 10 batches per epoch
        "learning_rate": 0.01,
        "checkpoint_every_n_steps": 3,
        "early_stopping_patience": 3,
        "scheduler": {"name": "StepLR", "args": {"step_size": 2, "gamma": 0.5}},
    },
}


def write_resumable_plugin(root: Path) -> None:
    """The ``resumable`` plugin (model, dataset, preprocessor) in ``root/plugins``."""
    package = root / "plugins" / "resumable"
    package.mkdir(parents=True)
    preprocessor = "from aiforge.plugins.simple_nn.preprocessor import Preprocessor  # noqa: F401\n"
    files = {
        "__init__": PLUGIN_INIT,
        "model": PLUGIN_MODEL,
        "dataset": PLUGIN_DATASET,
        "preprocessor": preprocessor,
    }
    for name, text in files.items():
        (package / f"{name}.py").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("resume")
    write_resumable_plugin(root)
    for per_item in (False, True):
        config = json.loads(json.dumps(CONFIG))
        config["dataset_args"]["per_item"] = per_item
        (root / f"exp_{'items' if per_item else 'tensors'}.yaml").write_text(yaml.safe_dump(config))
    return root


def aiforge(
    workspace: Path, *args: str, env: dict[str, str] | None = None, **options: Any
) -> subprocess.CompletedProcess:
    full_env = {
        **os.environ,
        "AIFORGE_PLUGINS_DIR": str(workspace / "plugins"),
        "AIFORGE_TRACKING": "false",
        **(env or {}),
    }
    for name in ("KILL_AT_STEP", "KILL_AT_SAVE", "KILL_SIGNAL", "DISK_FULL_AT_SAVE"):
        if env is None or name not in env:
            full_env.pop(name, None)
    command = [sys.executable, "-m", "aiforge", *args, "--no-progress"]
    return subprocess.run(
        command, cwd=workspace, env=full_env, capture_output=True, text=True, timeout=300, **options
    )


def new_run_dir(results: Path) -> Path:
    (run_dir,) = [p for p in results.glob("*/*") if p.is_dir()]
    return run_dir


def start(workspace: Path, config: str, results: Path, env: dict[str, str]) -> tuple[int, Path]:
    done = aiforge(workspace, "run", config, "--results-dir", str(results), env=env)
    return done.returncode, new_run_dir(results)


def resume(workspace: Path, run_dir: Path, *args: str) -> subprocess.CompletedProcess:
    done = aiforge(workspace, "run", *args, "--resume", str(run_dir))
    assert done.returncode == 0, done.stderr
    return done


def record(run_dir: Path) -> dict:
    """What must match between an interrupted-and-resumed run and an uninterrupted one."""
    results = json.loads((run_dir / "final_results.json").read_text())
    for varying in ("duration_seconds", "run_dir", "model_path", "config_path"):
        results.pop(varying)
    return {
        "final_model": torch.load(run_dir / "final_model.pt", weights_only=True),
        "best": torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True),
        "metrics_csv": (run_dir / "metrics.csv").read_text(),
        "results": results,
    }


def assert_same_run(resumed: dict, reference: dict) -> None:
    for weights, expected in (
        (resumed["final_model"], reference["final_model"]),
        (resumed["best"]["model"], reference["best"]["model"]),
    ):
        assert weights.keys() == expected.keys()
        for key in weights:
            assert torch.equal(weights[key], expected[key]), f"{key} differs"
    assert resumed["metrics_csv"] == reference["metrics_csv"]
    assert resumed["results"] == reference["results"]


@pytest.fixture(scope="module")
def reference(workspace: Path) -> dict[str, dict]:
    """The uninterrupted runs, one per data path."""
    found = {}
    for data_path in ("tensors", "items"):
        results = workspace / f"reference_{data_path}"
        code, run_dir = start(workspace, f"exp_{data_path}.yaml", results, {})
        assert code == 0
        found[data_path] = record(run_dir)
    return found


@pytest.mark.parametrize(
    ("data_path", "kill"),
    [
        ("tensors", {"KILL_AT_STEP": "8"}),  # mid epoch 1, after the step-6 checkpoint
        ("tensors", {"KILL_AT_STEP": "31"}),  # first batch of epoch 4, right after an epoch checkpoint
        ("tensors", {"KILL_AT_SAVE": "6"}),  # during a checkpoint write: a half-written temp file
        ("items", {"KILL_AT_STEP": "25"}),  # the DataLoader path, mid epoch 3
    ],
)
def test_sigkill_then_resume_equals_the_uninterrupted_run(
    workspace: Path, reference: dict, tmp_path: Path, data_path: str, kill: dict[str, str]
) -> None:
    code, run_dir = start(workspace, f"exp_{data_path}.yaml", tmp_path / "results", kill)
    assert code == -signal.SIGKILL
    assert not (run_dir / "final_results.json").exists()
    if "KILL_AT_SAVE" in kill:
        assert list((run_dir / "checkpoints").glob(".*.tmp"))  # the half-written file the kill left
    resume(workspace, run_dir)
    assert_same_run(record(run_dir), reference[data_path])
    assert not list(run_dir.rglob(".*.tmp"))  # the resume cleared away the killed write's leftovers


def test_a_run_killed_before_its_first_checkpoint_is_not_resumed(workspace: Path, tmp_path: Path) -> None:
    code, run_dir = start(workspace, "exp_tensors.yaml", tmp_path / "results", {"KILL_AT_STEP": "2"})
    assert code == -signal.SIGKILL
    refused = aiforge(workspace, "run", "--resume", str(run_dir))
    assert refused.returncode == 2 and "no checkpoint to resume from yet" in refused.stderr


def test_checkpoints_every_n_epochs_resume_from_the_last_one_written(
    workspace: Path, reference: dict, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    every_3 = (
        "-o",
        "training_config.checkpoint_every_n_epochs=3",
        "-o",
        "training_config.checkpoint_every_n_steps=null",
    )
    done = aiforge(
        workspace,
        "run",
        "exp_tensors.yaml",
        *every_3,
        "--results-dir",
        str(results),
        env={"KILL_AT_STEP": "35"},
    )
    assert done.returncode == -signal.SIGKILL
    run_dir = new_run_dir(results)
    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert (last["epoch"], last["global_step"]) == (3, 30)  # epoch 4's first steps are lost
    assert not (run_dir / "checkpoints" / "previous.pt").exists()
    resume(workspace, run_dir)
    assert_same_run(record(run_dir), reference["tensors"])  # checkpoints change nothing else


def test_kill_at_a_random_moment_then_resume(workspace: Path, reference: dict, tmp_path: Path) -> None:
    """An outside SIGKILL at a random moment after the first checkpoint."""
    results = tmp_path / "results"
    env = {**os.environ, "AIFORGE_PLUGINS_DIR": str(workspace / "plugins"), "AIFORGE_TRACKING": "false"}
    command = [sys.executable, "-m", "aiforge", "run", "exp_tensors.yaml", "--results-dir", str(results)]
    process = subprocess.Popen(
        command, cwd=workspace, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    # Until the first checkpoint or the run's end, however long a busy machine takes to start it;
    # the deadline only stops a hang (300 s, as the other commands' limit).
    deadline = time.monotonic() + 300
    while not list(results.glob("*/*/checkpoints/last.pt")) and process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("no checkpoint after 300 s")
        time.sleep(0.01)
    time.sleep(random.uniform(0.0, 0.1))  # the rest of the run takes about a second
    process.kill()
    stderr = process.communicate(timeout=60)[1].decode(errors="replace")
    assert list(results.glob("*/*/checkpoints/last.pt")), stderr[-3000:]  # it did not end early
    run_dir = new_run_dir(results)
    if (run_dir / "final_results.json").exists():
        pytest.skip("the run finished before the kill landed")
    resume(workspace, run_dir)
    assert_same_run(record(run_dir), reference["tensors"])


def test_corrupt_last_checkpoint_falls_back_to_previous(
    workspace: Path, reference: dict, tmp_path: Path
) -> None:
    code, run_dir = start(workspace, "exp_tensors.yaml", tmp_path / "results", {"KILL_AT_STEP": "27"})
    assert code == -signal.SIGKILL
    checkpoints = run_dir / "checkpoints"
    last = checkpoints / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])  # truncated, as by a disk crash
    done = resume(workspace, run_dir)
    assert "last.pt is damaged and is skipped" in done.stderr
    assert_same_run(record(run_dir), reference["tensors"])


def test_no_loadable_checkpoint_is_an_error_not_a_fresh_start(workspace: Path, tmp_path: Path) -> None:
    code, run_dir = start(workspace, "exp_tensors.yaml", tmp_path / "results", {"KILL_AT_STEP": "27"})
    assert code == -signal.SIGKILL
    for name in ("last.pt", "previous.pt"):
        (run_dir / "checkpoints" / name).write_bytes(b"not a checkpoint")
    done = aiforge(workspace, "run", "--resume", str(run_dir))
    assert done.returncode == 2
    assert "no usable checkpoint" in done.stderr and "last.pt" in done.stderr and "previous.pt" in done.stderr
    assert not (run_dir / "final_results.json").exists()


@pytest.mark.parametrize(("signal_name", "exit_code"), [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_checkpoints_exits_and_resumes(
    workspace: Path, reference: dict, tmp_path: Path, signal_name: str, exit_code: int
) -> None:
    env = {"KILL_AT_STEP": "14", "KILL_SIGNAL": signal_name}
    done = aiforge(workspace, "run", "exp_tensors.yaml", "--results-dir", str(tmp_path / "results"), env=env)
    run_dir = new_run_dir(tmp_path / "results")
    assert done.returncode == exit_code
    assert f"interrupted by {signal_name}" in done.stderr and f"aiforge run --resume {run_dir}" in done.stderr
    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    # The signal came inside batch 4 of epoch 2: that step finished, then the checkpoint was written.
    assert last["global_step"] == 14 and last["epoch"] == 1
    assert last["epoch_progress"]["batches_done"] == 4
    if signal_name == "SIGTERM":  # one resume is enough to show the checkpoint continues exactly
        resume(workspace, run_dir, "exp_tensors.yaml")  # the same config file again is fine
        assert_same_run(record(run_dir), reference["tensors"])


def test_a_resume_with_a_changed_config_is_refused(workspace: Path, tmp_path: Path) -> None:
    code, run_dir = start(workspace, "exp_tensors.yaml", tmp_path / "results", {"KILL_AT_STEP": "12"})
    assert code == -signal.SIGKILL
    checkpoints_before = {p.name: p.read_bytes() for p in (run_dir / "checkpoints").glob("*.pt")}
    changed = aiforge(workspace, "run", "--resume", str(run_dir), "-o", "training_config.learning_rate=0.1")
    assert changed.returncode == 2
    assert "training_config.learning_rate: 0.01 -> 0.1" in changed.stderr
    assert "start a new run for a changed config" in changed.stderr
    config_file = run_dir / "config.yaml"
    config_file.write_text(config_file.read_text().replace("hidden_dim: 16", "hidden_dim: 32"))
    edited = aiforge(workspace, "run", "--resume", str(run_dir))
    assert edited.returncode == 2 and "model_config.hidden_dim: 16 -> 32" in edited.stderr
    # Refusals change nothing: the checkpoints are as the kill left them (a temporary file of a
    # write the kill cut short may be cleaned up).
    assert {p.name: p.read_bytes() for p in (run_dir / "checkpoints").glob("*.pt")} == checkpoints_before


def test_a_checkpoint_that_does_not_fit_the_model_is_refused(workspace: Path, tmp_path: Path) -> None:
    code, run_dir = start(workspace, "exp_tensors.yaml", tmp_path / "results", {"KILL_AT_STEP": "12"})
    assert code == -signal.SIGKILL
    changed_plugins = tmp_path / "plugins"
    shutil.copytree(workspace / "plugins", changed_plugins)
    model_file = changed_plugins / "resumable" / "model.py"
    model_file.write_text(
        model_file.read_text() + "\n\nclass Model(Model):  # the plugin's code changed since the checkpoint\n"
        "    def __init__(self, model_config):\n"
        "        super().__init__(model_config)\n"
        "        import torch\n"
        "        self.extra = torch.nn.Linear(2, 2)\n"
    )
    env = {"AIFORGE_PLUGINS_DIR": str(changed_plugins)}
    refused = aiforge(workspace, "run", "--resume", str(run_dir), env=env)
    assert refused.returncode == 2
    assert "does not fit the model" in refused.stderr and "extra.weight" in refused.stderr


def test_a_full_disk_is_a_clear_error_and_keeps_the_last_checkpoint(
    workspace: Path, reference: dict, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    done = aiforge(
        workspace, "run", "exp_tensors.yaml", "--results-dir", str(results), env={"DISK_FULL_AT_SAVE": "8"}
    )
    run_dir = new_run_dir(results)
    assert done.returncode == 1
    assert "cannot write" in done.stderr and "No space left on device" in done.stderr
    assert "the existing last.pt is intact" in done.stderr
    assert f"aiforge run --resume {run_dir}" in done.stderr
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["global_step"] > 0
    resume(workspace, run_dir)
    assert_same_run(record(run_dir), reference["tensors"])


def _limit_file_size() -> None:
    """A file size limit: the operating system refuses writes past 16 KiB, as a full disk does."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))


def test_a_write_refused_by_the_operating_system_is_a_clear_error(workspace: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = aiforge(
        workspace, "run", "exp_tensors.yaml", "--results-dir", str(results), preexec_fn=_limit_file_size
    )
    assert done.returncode == 1, done.stderr
    assert "cannot write" in done.stderr and "last.pt" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_resume_on_data_of_another_width_says_the_data_changed(workspace: Path, tmp_path: Path) -> None:
    rows = ["colour,size,label"] + [f"{'red' if i % 2 else 'blue'},{i % 7},{i % 3}" for i in range(200)]
    table = tmp_path / "table.csv"
    table.write_text("\n".join(rows) + "\n")
    config = {**CONFIG, "dataset_plugin": "tabular", "data_path": str(table), "preprocess_args": {}}
    config["dataset_args"] = {"target_column": "label"}
    (tmp_path / "table.yaml").write_text(yaml.safe_dump(config))
    code, run_dir = start(
        workspace, str(tmp_path / "table.yaml"), tmp_path / "results", {"KILL_AT_STEP": "12"}
    )
    assert code == -signal.SIGKILL
    table.write_text(table.read_text().replace("red,1,", "green,1,"))  # a third colour: one more column
    resumed = aiforge(workspace, "run", "--resume", str(run_dir))
    assert resumed.returncode == 2
    assert "the training data differs from the data this run started with" in resumed.stderr
    assert "remove input_dim" not in resumed.stderr  # advice for a new config, not a resume
