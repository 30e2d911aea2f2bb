"""LR schedules per optimizer step or per epoch, with warmup, sized from the run's real steps."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from pydantic import ValidationError
from torch import nn

from aiforge.config.model_configs import ExperimentConfig, TrainingConfig
from aiforge.errors import ConfigError
from aiforge.runs.records import config_record
from aiforge.training.from_config import lr_scheduler
from aiforge.utils.callbacks import Callback, LRSchedulerCallback

# The unit tests step schedulers without an optimizer step, which torch warns about.
no_step_order_warning = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`")


def optimizer(lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=lr, momentum=0.9)


def training(**scheduler: Any) -> TrainingConfig:
    extra = scheduler.pop("training", {})
    return TrainingConfig(scheduler=scheduler, **extra)


def scheduler_parts(scheduler: Any) -> tuple[Any, Any | None, list[int]]:
    """(main scheduler, warmup or None, milestones)."""
    if isinstance(scheduler, torch.optim.lr_scheduler.SequentialLR):
        warmup, main = scheduler._schedulers
        return main, warmup, list(scheduler._milestones)
    return scheduler, None, []


# -- sizing ----------------------------------------------------------------------------------
def test_one_cycle_per_step_is_sized_from_epochs_times_optimizer_steps() -> None:
    config = training(
        name="OneCycleLR",
        interval="step",
        args={"max_lr": 0.05},
        training={"epochs": 3, "gradient_accumulation_steps": 4},
    )
    built = lr_scheduler(config, optimizer(), batches_per_epoch=10)
    assert isinstance(built, torch.optim.lr_scheduler.OneCycleLR)
    assert built.total_steps == 3 * math.ceil(10 / 4)  # 9: the last partial group steps too


def test_one_cycle_per_epoch_is_sized_from_the_epochs() -> None:
    config = training(name="OneCycleLR", args={"max_lr": 0.05}, training={"epochs": 7})
    assert lr_scheduler(config, optimizer(), batches_per_epoch=10).total_steps == 7


def test_a_size_given_by_the_user_is_kept() -> None:
    given = training(name="OneCycleLR", interval="step", args={"max_lr": 0.05, "total_steps": 1000})
    assert lr_scheduler(given, optimizer(), batches_per_epoch=10).total_steps == 1000
    by_epochs = training(
        name="OneCycleLR", interval="step", args={"max_lr": 0.05, "epochs": 2, "steps_per_epoch": 3}
    )
    assert lr_scheduler(by_epochs, optimizer(), batches_per_epoch=10).total_steps == 6
    cosine = training(name="CosineAnnealingLR", interval="step", args={"T_max": 17})
    assert lr_scheduler(cosine, optimizer(), batches_per_epoch=10).T_max == 17


@pytest.mark.parametrize(("ratio", "warmup"), [(0.1, 3), (0.15, 5), (0.0, 0), (0.01, 1)])
def test_cosine_with_a_warmup_ratio_rounds_the_warmup_up(ratio: float, warmup: int) -> None:
    config = training(name="CosineAnnealingLR", interval="step", warmup_ratio=ratio, training={"epochs": 3})
    built = lr_scheduler(config, optimizer(), batches_per_epoch=10)  # 30 optimizer steps
    main, warm, milestones = scheduler_parts(built)
    assert isinstance(main, torch.optim.lr_scheduler.CosineAnnealingLR)
    assert main.T_max == 30 - warmup
    if warmup:
        assert isinstance(warm, torch.optim.lr_scheduler.LinearLR)
        assert milestones == [warmup] and warm.total_iters == warmup
    else:
        assert warm is None


def test_warmup_in_epochs_when_stepped_per_epoch() -> None:
    config = training(name="CosineAnnealingLR", warmup_steps=2, training={"epochs": 10})
    main, _, milestones = scheduler_parts(lr_scheduler(config, optimizer(), batches_per_epoch=50))
    assert main.T_max == 8 and milestones == [2]


def test_per_step_linear_and_polynomial_decay_last_the_run_unless_sized() -> None:
    for name in ("LinearLR", "PolynomialLR"):
        config = training(name=name, interval="step", warmup_steps=4, training={"epochs": 2})
        main, _, _ = scheduler_parts(lr_scheduler(config, optimizer(), batches_per_epoch=10))
        assert main.total_iters == 16
    # Per epoch, torch's own default stays: configs that ran before keep their schedule.
    per_epoch = training(name="LinearLR")
    assert lr_scheduler(per_epoch, optimizer(), batches_per_epoch=10).total_iters == 5


@no_step_order_warning
def test_the_warmup_rises_linearly_to_the_learning_rate() -> None:
    config = training(name="ConstantLR", interval="step", warmup_steps=4, args={"factor": 1.0})
    opt = optimizer(lr=0.5)
    built = lr_scheduler(config, opt, batches_per_epoch=10)
    seen = []
    for _ in range(7):
        seen.append(opt.param_groups[0]["lr"])
        built.step()
    # Step s (0-based) uses (s + 1) / (warmup + 1) of the LR, then the main schedule.
    assert seen == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5])


def test_sizing_per_step_needs_a_sized_loader() -> None:
    config = training(name="OneCycleLR", interval="step", args={"max_lr": 0.05})
    with pytest.raises(ConfigError, match=r"training_config\.scheduler.*total_steps"):
        lr_scheduler(config, optimizer(), batches_per_epoch=None)


# -- config errors ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        ({"name": "StepLR", "args": {"step_size": 1}, "warmup_steps": 3, "warmup_ratio": 0.1}, "not both"),
        ({"name": "ReduceLROnPlateau", "interval": "step"}, "ReduceLROnPlateau.*per epoch"),
        ({"name": "ReduceLROnPlateau", "warmup_steps": 2}, "ReduceLROnPlateau.*warmup"),
        ({"name": "StepLR", "args": {"step_size": 1}, "warmup_steps": -1}, "warmup_steps"),
        ({"name": "StepLR", "args": {"step_size": 1}, "warmup_ratio": -0.1}, "warmup_ratio"),
        ({"name": "StepLR", "args": {"step_size": 1}, "warmup_ratio": 1.0}, "warmup_ratio"),
        ({"name": "StepLR", "args": {"step_size": 1}, "interval": "batch"}, "interval"),
    ],
)
def test_bad_scheduler_settings_are_refused(scheduler: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TrainingConfig(scheduler=scheduler)


def test_a_bad_scheduler_setting_in_a_file_is_exit_2(tmp_path: Path) -> None:
    config = tiny_digits("bad_schedule")
    config["training_config"]["scheduler"] = {"name": "ReduceLROnPlateau", "interval": "step"}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [sys.executable, "-m", "aiforge", "check", str(path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stderr
    assert "ReduceLROnPlateau" in done.stderr and "interval" in done.stderr


# -- the saved record ------------------------------------------------------------------------
def test_the_record_of_a_per_epoch_scheduler_is_unchanged() -> None:
    per_epoch = tiny_digits("record")
    per_epoch["training_config"]["scheduler"] = {"name": "StepLR"}
    config = ExperimentConfig(**per_epoch)
    assert config_record(config)["training_config"]["scheduler"] == {
        "name": "StepLR",
        "args": {},
        "monitor": "val_loss",
    }
    per_step = tiny_digits("record")
    per_step["training_config"]["scheduler"] = {"name": "StepLR", "interval": "step", "warmup_ratio": 0.1}
    saved = config_record(ExperimentConfig(**per_step))["training_config"]["scheduler"]
    assert saved["interval"] == "step" and saved["warmup_ratio"] == 0.1 and "warmup_steps" not in saved


# -- stepping --------------------------------------------------------------------------------
class FakeTrainer:
    global_step = 0


@no_step_order_warning
def test_a_per_step_callback_steps_once_per_optimizer_step_only() -> None:
    opt = optimizer()
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    callback = LRSchedulerCallback(scheduler, interval="step")
    callback.trainer = FakeTrainer()
    callback.on_train_start(callback.trainer)
    callback.on_train_batch_end(0, torch.tensor(1.0))  # inside an accumulation group, or a skipped step
    assert scheduler.last_epoch == 0
    callback.trainer.global_step = 1
    callback.on_train_batch_end(1, torch.tensor(1.0))
    callback.on_train_batch_end(2, torch.tensor(1.0))  # the step did not advance again
    assert scheduler.last_epoch == 1
    callback.on_epoch_end(0, {"val_loss": 1.0})  # per step: nothing at the epoch's end
    assert scheduler.last_epoch == 1
    callback.trainer.global_step = 2  # a step the loop took after its last batch (an unsized loader)
    callback.on_epoch_end(1, {"val_loss": 1.0})
    assert scheduler.last_epoch == 2


def test_a_per_epoch_callback_costs_nothing_per_batch() -> None:
    from aiforge.training.trainer import Trainer  # noqa: F401  (the rule the Trainer applies)

    callback = LRSchedulerCallback(torch.optim.lr_scheduler.StepLR(optimizer(), step_size=1))
    assert getattr(callback.on_train_batch_end, "__func__", None) is Callback.on_train_batch_end
    stepping = LRSchedulerCallback(torch.optim.lr_scheduler.StepLR(optimizer(), step_size=1), interval="step")
    assert getattr(stepping.on_train_batch_end, "__func__", None) is not Callback.on_train_batch_end


@no_step_order_warning
def test_one_cycle_is_never_stepped_past_its_size() -> None:
    opt = optimizer()
    scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    callback = LRSchedulerCallback(scheduler, interval="step")
    callback.trainer = FakeTrainer()
    callback.on_train_start(callback.trainer)
    for step in range(1, 6):  # e.g. a resume with more epochs than the schedule was sized for
        callback.trainer.global_step = step
        callback.on_train_batch_end(step, torch.tensor(1.0))
    # Its 3 steps use the curve's steps 0, 1, 2; a step to 3 would be past the curve's end.
    assert scheduler.last_epoch == 2
    assert scheduler.get_last_lr()[0] == pytest.approx(0.1 / 25 / 1e4)  # the annealed end


@no_step_order_warning
def test_one_cycle_after_warmup_ends_at_its_annealed_minimum() -> None:
    opt = optimizer()
    warmup = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=2)
    cycle = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=4)
    callback = LRSchedulerCallback(
        torch.optim.lr_scheduler.SequentialLR(opt, [warmup, cycle], [2]), "val_loss", "step"
    )
    callback.trainer = FakeTrainer()
    callback.on_train_start(callback.trainer)
    used = []
    for step in range(1, 7):  # 2 warmup steps + the cycle's 4
        used.append(opt.param_groups[0]["lr"])
        callback.trainer.global_step = step
        callback.on_train_batch_end(step, torch.tensor(1.0))
    assert cycle.last_epoch == 3
    alone_opt = optimizer()
    alone = torch.optim.lr_scheduler.OneCycleLR(alone_opt, max_lr=0.1, total_steps=4)
    curve = []
    for _ in range(4):
        curve.append(alone_opt.param_groups[0]["lr"])
        if alone.last_epoch < 3:
            alone.step()
    assert used[2:] == pytest.approx(curve)  # the cycle's 4 steps used its whole curve
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 / 25 / 1e4)


# -- end to end ------------------------------------------------------------------------------
def tiny_digits(name: str) -> dict[str, Any]:
    return {
        "experiment_name": name,
        "model_plugin": "simple_nn",
        "dataset_plugin": "digits",
        "model_config": {"hidden_dim": 16},
        "seed": 5,
        "training_config": {"epochs": 2, "batch_size": 128, "learning_rate": 0.01},
    }


class LRPerBatch(Callback):
    """Records, after each training batch, the epoch, the optimizer steps and the LR."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, float]] = []

    def on_train_batch_end(self, batch_idx: int, loss: Any) -> None:
        trainer = self.trainer
        self.seen.append((trainer.epoch, trainer.global_step, trainer.optimizer.param_groups[0]["lr"]))


def run_digits(tmp_path: Path, scheduler: dict, **training_extra: Any) -> tuple[dict, LRPerBatch, Any]:
    from aiforge.config.settings import AppSettings
    from aiforge.core.orchestrator import Orchestrator

    experiment = tiny_digits("lr_per_step")
    experiment["training_config"].update(training_extra, scheduler=scheduler)
    recorder = LRPerBatch()
    settings = AppSettings(RESULTS_DIR=tmp_path / "results", DEVICE="cpu")
    orchestrator = Orchestrator(ExperimentConfig(**experiment), settings=settings, callbacks=[recorder])
    results = orchestrator.run_experiment()
    return results, recorder, orchestrator


@pytest.mark.slow
def test_one_cycle_per_step_changes_the_lr_within_an_epoch(tmp_path: Path) -> None:
    scheduler = {"name": "OneCycleLR", "interval": "step", "args": {"max_lr": 0.05}}
    results, recorder, orchestrator = run_digits(tmp_path, scheduler, gradient_accumulation_steps=3)
    trainer = orchestrator.trainer
    batches = len(orchestrator.train_dataloader)
    steps_per_epoch = math.ceil(batches / 3)
    assert trainer.global_step == 2 * steps_per_epoch  # the whole run, and OneCycleLR did not raise
    # A callback sees the LR its batch's optimizer step uses: the schedule steps after the
    # callbacks (as Lightning's LearningRateMonitor logs it). One LR per optimizer step...
    first_epoch = [lr for epoch, _, lr in recorder.seen if epoch == 0]
    assert len(first_epoch) == batches
    assert len(set(first_epoch)) == steps_per_epoch
    # ...which changes right after each batch that completed a step (every 3rd, and an epoch's last).
    steps = [0] + [step for _, step, _ in recorder.seen]
    lrs = [lr for _, _, lr in recorder.seen]
    for index in range(1, len(lrs)):
        assert (lrs[index] != lrs[index - 1]) == (steps[index] > steps[index - 1])
    (one_cycle,) = [cb for cb in trainer.callbacks if isinstance(cb, LRSchedulerCallback)]
    assert one_cycle.scheduler.total_steps == trainer.global_step == one_cycle.scheduler.last_epoch + 1
    assert trainer.history[-1]["lr"] == pytest.approx(0.05 / 25 / 1e4)  # the curve's annealed end
    # The epoch's "lr" is the LR at the end of the epoch: the one the next epoch starts with.
    assert trainer.history[0]["lr"] == next(lr for epoch, _, lr in recorder.seen if epoch == 1)
    assert results["epochs_completed"] == 2


@pytest.mark.slow
def test_per_epoch_the_lr_stays_put_within_an_epoch(tmp_path: Path) -> None:
    scheduler = {"name": "StepLR", "args": {"step_size": 1, "gamma": 0.5}}
    _, recorder, orchestrator = run_digits(tmp_path, scheduler)
    for epoch, expected in ((0, 0.01), (1, 0.005)):
        assert [lr for e, _, lr in recorder.seen if e == epoch] == pytest.approx([expected] * 12)
    assert [row["lr"] for row in orchestrator.trainer.history] == pytest.approx([0.01, 0.005])
