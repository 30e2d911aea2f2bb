"""A run whose LR schedule steps per optimizer step, killed mid-epoch and resumed, ends bit for bit
as the uninterrupted run: the same weights, metrics (LR column included) and scheduler state.

The same kind of runs as tests/test_resume.py (the real `aiforge` command, a plugin whose model
kills its own process at a chosen training batch), with per-step schedules.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch
import yaml

from test_resume import CONFIG, assert_same_run, record, resume, start, write_resumable_plugin

pytestmark = pytest.mark.slow

# 160 training rows in batches of 16: 10 batches per epoch, 4 epochs; a step checkpoint every 3 steps.
SCHEDULES = {
    "one_cycle": {
        "scheduler": {"name": "OneCycleLR", "interval": "step", "args": {"max_lr": 0.05}},
    },
    "warmup_cosine": {  # 4 optimizer steps per epoch (3 + 3 + 3 + 1 batches): 16 steps, 2 of warmup
        "scheduler": {"name": "CosineAnnealingLR", "interval": "step", "warmup_ratio": 0.1},
        "gradient_accumulation_steps": 3,
    },
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("resume_schedules")
    write_resumable_plugin(root)
    for name, training in SCHEDULES.items():
        config = json.loads(json.dumps(CONFIG))
        config["training_config"].update(training)
        config["training_config"]["early_stopping_patience"] = None  # all 4 epochs: the whole schedule
        (root / f"{name}.yaml").write_text(yaml.safe_dump(config))
    return root


def scheduler_state(run_dir: Path) -> dict:
    """The LR schedule's state in the last checkpoint, and the optimizer's LR there."""
    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    (state,) = [s for key, s in last["callbacks"].items() if "LRScheduler" in key]
    return {"scheduler": state, "lr": [g["lr"] for g in last["optimizer"]["param_groups"]]}


@pytest.fixture(scope="module")
def reference(workspace: Path) -> dict[str, tuple[dict, dict, Path]]:
    """The uninterrupted run of each schedule."""
    found = {}
    for name in SCHEDULES:
        code, run_dir = start(workspace, f"{name}.yaml", workspace / f"reference_{name}", {})
        assert code == 0
        found[name] = (record(run_dir), scheduler_state(run_dir), run_dir)
    return found


def test_the_reference_runs_step_their_schedule_per_optimizer_step(reference: dict) -> None:
    _, state, run_dir = reference["one_cycle"]
    one_cycle = state["scheduler"]
    # 40 steps used its steps 0..39: never stepped to 40, past the end of its curve
    assert one_cycle["total_steps"] == 40 and one_cycle["last_epoch"] == 39
    lrs = [float(row.split(",")[-1]) for row in (run_dir / "metrics.csv").read_text().splitlines()[1:]]
    assert len(set(lrs)) == 4  # the LR at each epoch's end differs: it moved within the epochs
    _, state, _ = reference["warmup_cosine"]
    assert state["scheduler"]["_milestones"] == [2] and state["scheduler"]["last_epoch"] == 16
    assert state["scheduler"]["_schedulers"][1]["T_max"] == 14


@pytest.mark.parametrize(
    ("schedule", "kill_at"),
    [
        ("one_cycle", "8"),  # mid epoch 1, after the step-6 checkpoint
        ("one_cycle", "23"),  # mid epoch 3, after the step-21 checkpoint
        ("warmup_cosine", "18"),  # mid epoch 2, after the step-6 checkpoint (batch 16)
        ("warmup_cosine", "40"),  # the last batch, after the step-15 checkpoint (batch 39)
    ],
)
def test_a_per_step_schedule_killed_mid_epoch_resumes_bit_exact(
    workspace: Path, reference: dict, tmp_path: Path, schedule: str, kill_at: str
) -> None:
    code, run_dir = start(workspace, f"{schedule}.yaml", tmp_path / "results", {"KILL_AT_STEP": kill_at})
    assert code == -signal.SIGKILL
    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert last["epoch_progress"]["batches_done"] > 0  # it resumes from inside an epoch
    resume(workspace, run_dir)
    expected_record, expected_state, _ = reference[schedule]
    assert_same_run(record(run_dir), expected_record)
    assert scheduler_state(run_dir) == expected_state
