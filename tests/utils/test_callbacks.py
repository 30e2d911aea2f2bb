"""Callbacks: early stopping (the seed's rule), checkpoints, metric history, LR schedules."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from aiforge.config.model_configs import TrainingConfig
from aiforge.core.base_model import BaseModel
from aiforge.training.trainer import Trainer
from aiforge.utils.callbacks import (
    Callback,
    EarlyStopping,
    LRSchedulerCallback,
    MetricsHistory,
    ModelCheckpoint,
)
from aiforge.utils.metrics import MetricSet


def feed(callback: Callback, values: list[float | None], monitor: str = "val_loss") -> list[bool]:
    """Epoch-end calls with ``monitor`` set to each value; returns stop_training after each."""
    stops = []
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {} if value is None else {monitor: value})
        stops.append(callback.stop_training)
    return stops


# -- EarlyStopping --------------------------------------------------------------------------------
def test_min_mode_stops_after_patience_epochs_without_improvement() -> None:
    stopper = EarlyStopping(patience=3, min_delta=0.0)
    stops = feed(stopper, [1.0, 0.9, 0.95, 0.92, 0.91])
    assert stops == [False, False, False, False, True]
    assert stopper.best_value == 0.9 and stopper.epochs_no_improve == 3


def test_improvement_resets_the_count() -> None:
    stopper = EarlyStopping(patience=2, min_delta=0.0)
    stops = feed(stopper, [1.0, 1.1, 0.8, 0.85, 0.7, 0.75, 0.76])
    assert stops == [False, False, False, False, False, False, True]
    assert stopper.best_value == 0.7


def test_max_mode() -> None:
    stopper = EarlyStopping(patience=2, min_delta=0.0, monitor="val_accuracy", mode="max")
    stops = feed(stopper, [0.5, 0.6, 0.6, 0.55], monitor="val_accuracy")
    assert stops == [False, False, False, True]
    assert stopper.best_value == 0.6


@pytest.mark.parametrize(("mode", "values"), [("min", [1.0, 0.9995, 0.9985]), ("max", [1.0, 1.0005, 1.0015])])
def test_changes_smaller_than_min_delta_do_not_count(mode: str, values: list[float]) -> None:
    stopper = EarlyStopping(patience=2, min_delta=0.001, mode=mode)  # type: ignore[arg-type]
    feed(stopper, values[:2])
    assert stopper.best_value == 1.0 and stopper.epochs_no_improve == 1  # 5e-4 is under min_delta
    feed(stopper, values[2:])
    assert stopper.best_value == values[2] and stopper.epochs_no_improve == 0  # 1.5e-3 is over it
    assert stopper.stop_training is False


def test_a_change_larger_than_min_delta_counts() -> None:
    stopper = EarlyStopping(patience=1, min_delta=0.001)
    assert feed(stopper, [1.0, 0.998]) == [False, False]
    assert stopper.best_value == 0.998


def test_negative_min_delta_is_taken_as_its_size() -> None:
    assert EarlyStopping(patience=1, min_delta=-0.5).min_delta == 0.5


def test_missing_monitor_warns_and_does_not_stop(warnings: list[str]) -> None:
    stopper = EarlyStopping(patience=1, monitor="val_f1")
    stops = feed(stopper, [None, None, None], monitor="val_f1")
    assert stops == [False, False, False] and stopper.epochs_no_improve == 0
    assert len(warnings) == 3
    assert "EarlyStopping: 'val_f1' not in logs at epoch 1" in warnings[0]


@pytest.mark.parametrize("patience", [0, -1, 1.5, "3", None])
def test_patience_must_be_a_positive_integer(patience: object) -> None:
    with pytest.raises(ValueError, match=r"^Argument patience should be positive integer\.$"):
        EarlyStopping(patience=patience)  # type: ignore[arg-type]


def test_mode_must_be_min_or_max() -> None:
    with pytest.raises(ValueError, match=r"^EarlyStopping mode must be 'min' or 'max'\.$"):
        EarlyStopping(patience=1, mode="avg")  # type: ignore[arg-type]


def test_early_stopping_state_round_trips() -> None:
    stopper = EarlyStopping(patience=3, min_delta=0.0)
    feed(stopper, [1.0, 0.5, 0.6, 0.7])
    resumed = EarlyStopping(patience=3, min_delta=0.0)
    resumed.load_state_dict(stopper.state_dict())
    assert resumed.state_dict() == {"best_value": 0.5, "epochs_no_improve": 2, "stop_training": False}
    resumed.on_epoch_end(4, {"val_loss": 0.8})  # the third epoch without improvement
    assert resumed.stop_training is True


def test_fresh_state_is_safe_to_save(tmp_path: Path) -> None:
    state = EarlyStopping(patience=2).state_dict()
    torch.save(state, tmp_path / "s.pt")
    assert torch.load(tmp_path / "s.pt", weights_only=True) == {
        "best_value": math.inf,
        "epochs_no_improve": 0,
        "stop_training": False,
    }


# -- ModelCheckpoint ------------------------------------------------------------------------------
class Scalar(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


def trainer_with(callbacks: list[Callback]) -> Trainer:
    model = Scalar()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    metrics = MetricSet(["mse"], "regression", 1)
    return Trainer(model, optimizer, TrainingConfig(), torch.device("cpu"), metrics, callbacks)


def set_weight(trainer: Trainer, value: float) -> None:
    with torch.no_grad():
        trainer.model.weight.fill_(value)


@pytest.mark.parametrize(
    ("mode", "values", "best_epoch"),
    [("min", [3.0, 1.0, float("nan"), 2.0], 2), ("max", [1.0, 3.0, 2.0, float("nan")], 2)],
)
def test_checkpoint_keeps_best_and_last_and_restores_best(
    tmp_path: Path, mode: str, values: list[float], best_epoch: int
) -> None:
    checkpoint = ModelCheckpoint(tmp_path, monitor="val_loss", mode=mode)  # type: ignore[arg-type]
    trainer = trainer_with([checkpoint])
    checkpoint.on_train_start(trainer)
    for epoch, value in enumerate(values):
        set_weight(trainer, float(epoch + 1))  # weights of epoch e are e
        trainer.epoch = epoch + 1  # as the trainer counts before calling on_epoch_end
        checkpoint.on_epoch_end(epoch, {"val_loss": value})
    best = torch.load(checkpoint.best_path, weights_only=True)
    last = torch.load(checkpoint.last_path, weights_only=True)
    previous = torch.load(checkpoint.previous_path, weights_only=True)
    assert best["epoch"] == best_epoch and best["model"]["weight"].item() == best_epoch
    assert last["epoch"] == 4 and last["model"]["weight"].item() == 4.0
    assert previous["epoch"] == 3 and previous["model"]["weight"].item() == 3.0
    assert last["callbacks"]["ModelCheckpoint"] == {
        "best_value": 3.0 if mode == "max" else 1.0,
        "best_epoch": 2,
    }
    checkpoint.on_train_end(trainer)
    assert trainer.model.weight.item() == best_epoch


def run_epochs(checkpoint: ModelCheckpoint, values: list[float]) -> list[tuple[int | None, int | None]]:
    """Feed ``values`` as epochs (weights of epoch e are e); after each, the epochs that
    ``last.pt`` and ``best.pt`` on disk hold."""
    trainer = trainer_with([checkpoint])
    checkpoint.on_train_start(trainer)
    on_disk = []
    for epoch, value in enumerate(values):
        set_weight(trainer, float(epoch + 1))
        trainer.epoch = epoch + 1
        checkpoint.on_epoch_end(epoch, {"val_loss": value})
        on_disk.append(tuple(saved_epoch(path) for path in (checkpoint.last_path, checkpoint.best_path)))
    checkpoint.on_train_end(trainer)
    on_disk.append(tuple(saved_epoch(path) for path in (checkpoint.last_path, checkpoint.best_path)))
    assert trainer.model.weight.item() == checkpoint.best_epoch  # the best weights are restored
    return on_disk


def saved_epoch(path: Path) -> int | None:
    return torch.load(path, weights_only=True)["epoch"] if path.exists() else None


def test_every_n_epochs_saves_the_best_with_each_last_checkpoint(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(tmp_path, every_n_epochs=2)
    # (last.pt, best.pt) after epochs 1-5 and after the end: best.pt never runs ahead of last.pt.
    assert run_epochs(checkpoint, [3.0, 2.0, 1.0, 4.0, 0.5]) == [
        (None, None),
        (2, 2),
        (2, 2),  # epoch 3 is the new best, kept in memory until the next last.pt
        (4, 3),
        (4, 3),
        (5, 5),  # the last epoch is always saved
    ]
    assert torch.load(checkpoint.previous_path, weights_only=True)["epoch"] == 4


def test_every_n_epochs_zero_saves_only_at_the_end(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(tmp_path, every_n_epochs=0)
    assert run_epochs(checkpoint, [3.0, 1.0, 2.0]) == [(None, None)] * 3 + [(3, 2)]
    assert not checkpoint.previous_path.exists()


def test_a_best_pt_newer_than_the_runs_best_is_not_restored(tmp_path: Path, warnings: list[str]) -> None:
    # A crash fell between best.pt (epoch 3) and last.pt; the resumed run, from last.pt's record
    # (best: epoch 2), did not improve again, so best.pt is not this run's best.
    checkpoint = ModelCheckpoint(tmp_path)
    trainer = trainer_with([checkpoint])
    checkpoint.on_train_start(trainer)
    torch.save({"model": {"weight": torch.tensor([3.0])}, "epoch": 3, "val_loss": 0.1}, checkpoint.best_path)
    checkpoint.load_state_dict({"best_value": 0.5, "best_epoch": 2})
    set_weight(trainer, 4.0)
    checkpoint.on_train_end(trainer)
    assert trainer.model.weight.item() == 4.0  # the final weights are kept
    assert any("holds epoch 3, not this run's best epoch 2" in line for line in warnings)


def test_every_n_epochs_must_not_be_negative(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="every_n_epochs must be 0 or more"):
        ModelCheckpoint(tmp_path, every_n_epochs=-1)


def test_checkpoint_without_restore_keeps_last_weights(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(tmp_path, restore_best=False)
    trainer = trainer_with([checkpoint])
    checkpoint.on_train_start(trainer)
    for epoch, value in enumerate([1.0, 2.0]):
        set_weight(trainer, float(epoch + 1))
        checkpoint.on_epoch_end(epoch, {"val_loss": value})
    checkpoint.on_train_end(trainer)
    assert trainer.model.weight.item() == 2.0


def test_checkpoint_state_round_trips(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(tmp_path)
    checkpoint.load_state_dict({"best_value": 0.25, "best_epoch": 7})
    assert checkpoint.state_dict() == {"best_value": 0.25, "best_epoch": 7}
    trainer = trainer_with([checkpoint])
    checkpoint.on_train_start(trainer)
    checkpoint.on_epoch_end(7, {"val_loss": 0.3})  # worse than the restored best
    assert not checkpoint.best_path.exists() and checkpoint.last_path.exists()


# -- MetricsHistory -------------------------------------------------------------------------------
def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_history_rewrites_the_csv_each_epoch(tmp_path: Path) -> None:
    history = MetricsHistory(tmp_path / "metrics.csv", flush_interval_s=0)
    history.on_epoch_end(0, {"epoch": 1, "train_loss": 0.5, "val_loss": 0.6})
    assert read_csv(tmp_path / "metrics.csv") == [{"epoch": "1", "train_loss": "0.5", "val_loss": "0.6"}]
    history.on_epoch_end(1, {"epoch": 2, "train_loss": 0.4, "val_loss": 0.5, "lr": 0.1})
    rows = read_csv(tmp_path / "metrics.csv")
    assert list(rows[0]) == ["epoch", "train_loss", "val_loss", "lr"]
    assert rows[0]["lr"] == "" and rows[1]["lr"] == "0.1"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]


def test_history_appends_an_epoch_and_rewrites_for_new_columns_or_a_lost_file(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    history = MetricsHistory(path, flush_interval_s=0)
    history.on_epoch_end(0, {"epoch": 1, "val_loss": 0.6})
    first = path.stat().st_ino
    history.on_epoch_end(1, {"epoch": 2, "val_loss": 0.5})
    assert path.stat().st_ino == first  # appended in place, not replaced
    assert path.read_text() == "epoch,val_loss\n1,0.6\n2,0.5\n"
    history.on_epoch_end(2, {"epoch": 3, "val_loss": 0.4, "val_f1": 0.9})  # a new column: rewritten
    assert path.read_text() == "epoch,val_loss,val_f1\n1,0.6,\n2,0.5,\n3,0.4,0.9\n"
    path.unlink()  # removed while training (by hand): written whole again, header included
    history.on_epoch_end(3, {"epoch": 4, "val_loss": 0.3})
    assert [row["epoch"] for row in read_csv(path)] == ["1", "2", "3", "4"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]


def test_history_writes_tiny_epochs_at_most_once_per_interval(tmp_path: Path) -> None:
    """Epochs shorter than the interval wait in memory; the end of training, or of the run
    (failed or stopped), writes them."""
    path = tmp_path / "metrics.csv"
    history = MetricsHistory(path, flush_interval_s=3600)
    history.on_epoch_end(0, {"epoch": 1, "val_loss": 0.6})  # the first epoch: at once
    history.on_epoch_end(1, {"epoch": 2, "val_loss": 0.5})
    history.on_epoch_end(2, {"epoch": 3, "val_loss": 0.4})
    assert [row["epoch"] for row in read_csv(path)] == ["1"]
    history.on_train_end(None)  # type: ignore[arg-type]  # the trainer is not used
    assert [row["epoch"] for row in read_csv(path)] == ["1", "2", "3"]
    history.on_epoch_end(3, {"epoch": 4, "val_loss": 0.3})
    history.on_experiment_end(None, "FAILED", RuntimeError("boom"))  # type: ignore[arg-type]
    assert path.read_text() == "epoch,val_loss\n1,0.6\n2,0.5\n3,0.4\n4,0.3\n"


def test_history_append_to_a_full_disk_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from aiforge.runs.files import RunFileError

    history = MetricsHistory(tmp_path / "metrics.csv", flush_interval_s=0)
    history.on_epoch_end(0, {"epoch": 1, "val_loss": 0.6})

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.write", full_disk)
    with pytest.raises(RunFileError, match=r"cannot write .*metrics\.csv: .*No space left on device"):
        history.on_epoch_end(1, {"epoch": 2, "val_loss": 0.5})


def test_history_state_round_trips(tmp_path: Path) -> None:
    history = MetricsHistory(tmp_path / "a.csv", flush_interval_s=0)
    history.on_epoch_end(0, {"epoch": 1, "val_loss": 0.6})
    resumed = MetricsHistory(tmp_path / "b.csv", flush_interval_s=0)
    resumed.load_state_dict(history.state_dict())
    resumed.on_epoch_end(1, {"epoch": 2, "val_loss": 0.5})
    assert [row["epoch"] for row in read_csv(tmp_path / "b.csv")] == ["1", "2"]
    assert len(history.rows) == 1  # the resumed copy does not share rows


# -- LRSchedulerCallback --------------------------------------------------------------------------
def optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)


def test_plateau_scheduler_gets_the_monitored_value() -> None:
    opt = optimizer()
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=1)
    callback = LRSchedulerCallback(scheduler, monitor="val_accuracy")
    lrs = []
    # val_accuracy rises, then stalls; val_loss (ignored) would say otherwise.
    for epoch, accuracy in enumerate([0.5, 0.6, 0.7, 0.7, 0.7, 0.7]):
        callback.on_epoch_end(epoch, {"val_accuracy": accuracy, "val_loss": 1.0 / (epoch + 1)})
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5]


def test_plateau_scheduler_state_round_trips() -> None:
    opt = optimizer()
    callback = LRSchedulerCallback(torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=2))
    feed(callback, [1.0, 1.0, 1.0])
    state = callback.state_dict()
    resumed = LRSchedulerCallback(torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer(), patience=2))
    resumed.load_state_dict(state)
    assert resumed.scheduler.num_bad_epochs == 2 and resumed.scheduler.best == 1.0


def test_epoch_scheduler_steps_once_per_epoch() -> None:
    opt = optimizer()
    callback = LRSchedulerCallback(torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1))
    lrs = []
    for epoch in range(4):
        opt.step()
        callback.on_epoch_end(epoch, {"val_loss": 1.0})
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([1.0, 0.1, 0.1, 0.01])


def test_base_callback_does_nothing() -> None:
    callback = Callback()
    callback.on_train_start(None)  # type: ignore[arg-type]
    callback.on_epoch_end(0, {})
    callback.on_train_end(None)  # type: ignore[arg-type]
    assert callback.state_dict() == {} and callback.stop_training is False


# -- last.pt and previous.pt; non-finite weights; history after a resume --------------------------
def test_save_last_keeps_the_two_latest_full_states(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(tmp_path, extra_state={"config": '{"seed": 0}'})
    trainer = trainer_with([checkpoint])
    for step in (1, 2, 3):
        set_weight(trainer, float(step))
        trainer.global_step = step
        checkpoint.save_last(trainer)
    last = torch.load(checkpoint.last_path, weights_only=True)
    previous = torch.load(checkpoint.previous_path, weights_only=True)
    assert (last["global_step"], last["model"]["weight"].item()) == (3, 3.0)
    assert (previous["global_step"], previous["model"]["weight"].item()) == (2, 2.0)
    assert last["config"] == '{"seed": 0}' and last["format"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "previous.pt"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_never_written(tmp_path: Path, bad: float) -> None:
    from aiforge.training.trainer import TrainingError

    checkpoint = ModelCheckpoint(tmp_path)
    trainer = trainer_with([checkpoint])
    checkpoint.on_train_start(trainer)
    for epoch in (0, 1):
        set_weight(trainer, float(epoch + 1))
        trainer.epoch = epoch + 1
        checkpoint.on_epoch_end(epoch, {"val_loss": 1.0 - epoch})
    set_weight(trainer, bad)
    trainer.global_step = 99
    with pytest.raises(TrainingError, match="weights are no longer finite"):
        checkpoint.save_last(trainer)
    with pytest.raises(TrainingError, match="weights are no longer finite"):
        checkpoint.on_epoch_end(2, {"val_loss": 0.1})  # better, but never saved as best either
    assert torch.load(checkpoint.last_path, weights_only=True)["model"]["weight"].item() == 2.0
    assert torch.load(checkpoint.previous_path, weights_only=True)["model"]["weight"].item() == 1.0
    assert torch.load(checkpoint.best_path, weights_only=True)["epoch"] == 2
    assert checkpoint.best_value == 0.0


def test_a_failed_checkpoint_write_leaves_last_pt_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiforge.runs.files import RunFileError

    checkpoint = ModelCheckpoint(tmp_path)
    trainer = trainer_with([checkpoint])
    set_weight(trainer, 1.0)
    checkpoint.save_last(trainer)

    def full_disk(*args: object, **kwargs: object) -> None:
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(torch, "save", full_disk)
    set_weight(trainer, 2.0)
    with pytest.raises(RunFileError, match=r"last\.pt is intact"):
        checkpoint.save_last(trainer)
    monkeypatch.undo()
    assert torch.load(checkpoint.last_path, weights_only=True)["model"]["weight"].item() == 1.0
    assert not checkpoint.previous_path.exists()


def test_history_load_state_rewrites_the_csv_to_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    history = MetricsHistory(path, flush_interval_s=0)
    for epoch in range(3):
        history.on_epoch_end(epoch, {"epoch": epoch + 1, "val_loss": 1.0 / (epoch + 1)})
    state = {"rows": [dict(row) for row in history.rows[:1]]}  # the checkpoint was taken after epoch 1

    resumed = MetricsHistory(path, flush_interval_s=0)
    resumed.load_state_dict(state)
    assert [row["epoch"] for row in read_csv(path)] == ["1"]  # epochs 2 and 3 will be trained again
    state["rows"].append({"epoch": 9})
    assert len(resumed.rows) == 1  # a copy of the checkpoint's rows
    resumed.on_epoch_end(1, {"epoch": 2, "val_loss": 0.4})
    assert [row["epoch"] for row in read_csv(path)] == ["1", "2"]


def test_history_load_of_an_empty_state_removes_the_csv(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    history = MetricsHistory(path, flush_interval_s=0)
    history.on_epoch_end(0, {"epoch": 1, "val_loss": 0.5})
    MetricsHistory(path).load_state_dict({"rows": []})  # resumed before the first epoch ended
    assert not path.exists()
    MetricsHistory(path).load_state_dict({"rows": []})  # and again: nothing to remove is fine


def test_history_writes_the_first_epoch_after_a_resume_at_once(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    resumed = MetricsHistory(path, flush_interval_s=3600)
    resumed.load_state_dict({"rows": [{"epoch": 1, "val_loss": 0.6}]})
    resumed.on_epoch_end(1, {"epoch": 2, "val_loss": 0.5})  # the rest of the resumed epoch, soon after
    assert [row["epoch"] for row in read_csv(path)] == ["1", "2"]


def test_history_on_another_rank_never_writes_even_when_the_run_fails_early(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("aiforge.runtime.distributed.is_main_process", lambda: False)
    path = tmp_path / "metrics.csv"
    resumed = MetricsHistory(path, flush_interval_s=0)
    resumed.load_state_dict({"rows": [{"epoch": 1, "val_loss": 0.6}]})
    resumed.on_experiment_end(None, "FAILED", RuntimeError("before training started"))  # type: ignore[arg-type]
    assert not path.exists()
