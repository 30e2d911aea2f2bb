"""Epoch time of AIForge against a hand-written PyTorch loop: same model, data, split, seeds, threads.

    python benchmarks/training_overhead.py [--workloads digits synthetic] [--repeats 5]

Workloads (MLP 64-128-10, Adam lr 1e-3, batch 64, 1 torch thread, CPU):
  digits     scikit-learn's digits (1,437 training rows), 20 epochs
  synthetic  simple_nn's synthetic set, 200,000 training rows x 64 features, 3 epochs

Each epoch is a pass over the training rows and one over the validation rows (loss and
accuracy), as a hand-written loop would do; only the epochs are timed (no start-up, no data
loading). AIForge runs through its Python API with tracking and progress off ("lean": what a
user switches off for a benchmark) and with tracking on ("defaults"). The hand-written loops get
the very tensors AIForge trains on (after its split and preprocessing) and a fresh model of the
same class and seed. Printed: the median seconds per epoch over all timed epochs of all repeats,
the spread (min-max of the repeats' medians), and AIForge / hand-written per pair.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset

from aiforge.config.model_configs import ExperimentConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator
from aiforge.plugins.digits.dataset import Dataset as DigitsDataset
from aiforge.plugins.simple_nn.dataset import Dataset as SyntheticDataset
from aiforge.utils.callbacks import Callback

WORKLOADS: dict[str, dict[str, Any]] = {
    "digits": {"dataset_plugin": "digits", "dataset_args": {}, "epochs": 20},
    "synthetic": {
        "dataset_plugin": "simple_nn",
        "dataset_args": {"num_samples": 250_000, "input_dim": 64, "num_classes": 10, "seed": 0},
        "epochs": 3,
    },
}
BATCH = 64


def experiment(workload: str) -> ExperimentConfig:
    spec = WORKLOADS[workload]
    return ExperimentConfig(
        experiment_name=f"bench_{workload}",
        model_plugin="simple_nn",
        dataset_plugin=spec["dataset_plugin"],
        dataset_args=spec["dataset_args"],
        preprocess_args={"scaler_type": "standard"},
        model_config={"hidden_dim": 128, "dropout_rate": 0.0},
        training_config={"epochs": spec["epochs"], "batch_size": BATCH, "learning_rate": 1e-3},
        metrics=["accuracy"],
        seed=0,
    )


class PerItemDigits(DigitsDataset):
    """A custom-plugin stand-in: no tensors exposed, so batches come from a per-item DataLoader."""

    def as_tensors(self) -> None:
        return None


class PerItemSynthetic(SyntheticDataset):
    def as_tensors(self) -> None:
        return None


PER_ITEM = {"digits": PerItemDigits, "synthetic": PerItemSynthetic}


class EpochClock(Callback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_start(self, trainer: Any) -> None:
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        now = time.perf_counter()
        self.times.append(now - self._last)
        self._last = now


def aiforge_epochs(workload: str, per_item: bool, tracking: bool) -> list[float]:
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as folder:
        settings = AppSettings(RESULTS_DIR=Path(folder), DEVICE="cpu", TRACKING=tracking, LOG_LEVEL="WARNING")
        config = experiment(workload)
        if tracking:
            config.tracking.tracking_uri = f"sqlite:///{folder}/mlflow.db"
        dataset = PER_ITEM[workload] if per_item else None
        preprocessor = None
        if per_item:
            from aiforge.core.plugins import load_class

            preprocessor = load_class(config.dataset_plugin, "preprocessor", None, required=False)
        Orchestrator(
            config, None, dataset, preprocessor, settings=settings, callbacks=[clock]
        ).run_experiment()
    return clock.times


def prepared(workload: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], Callable[[], Any]]:
    """AIForge's own training and validation tensors, and a maker of fresh seeded models."""
    with tempfile.TemporaryDirectory() as folder:
        settings = AppSettings(RESULTS_DIR=Path(folder), DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING")
        orchestrator = Orchestrator(experiment(workload), settings=settings)
        orchestrator.prepare_data()
    train = orchestrator.train_dataloader.tensors
    val = orchestrator.val_dataloader.tensors

    def fresh_model() -> Any:
        torch.manual_seed(0)
        return orchestrator.ModelClass(orchestrator.config.model_specific_config)

    return train, val, fresh_model


def handwritten_epochs(
    train: dict[str, torch.Tensor], val: dict[str, torch.Tensor], model: Any, epochs: int, per_item: bool
) -> list[float]:
    """The loop a user writes: shuffle, step, then validation loss and accuracy once per epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    x, y = train["features"], train["labels"]
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True, generator=generator)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        total = torch.zeros(())
        if per_item:
            batches = iter(loader)
        else:
            order = torch.randperm(len(x), generator=generator)
            xs, ys = x[order], y[order]
            batches = ((xs[i : i + BATCH], ys[i : i + BATCH]) for i in range(0, len(xs), BATCH))
        for features, labels in batches:
            loss = loss_fn(model(features), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(labels)
        model.eval()
        with torch.no_grad():
            correct, val_loss = 0, torch.zeros(())
            for i in range(0, len(val["labels"]), BATCH):
                outputs = model(val["features"][i : i + BATCH])
                labels = val["labels"][i : i + BATCH]
                val_loss += loss_fn(outputs, labels) * len(labels)
                correct += (outputs.argmax(dim=1) == labels).sum()
        float(total), float(val_loss), int(correct)  # the epoch's one host sync, as in AIForge
        times.append(time.perf_counter() - start)
    return times


def measure(name: str, run: Callable[[], list[float]], repeats: int) -> tuple[float, float]:
    medians, every = [], []
    for _ in range(repeats):
        times = run()[1:]  # the first epoch warms caches and allocators
        medians.append(statistics.median(times))
        every += times
    median = statistics.median(every)
    print(
        f"  {name:<34} {median * 1000:9.2f} ms/epoch   spread {1000 * (max(medians) - min(medians)):7.2f} ms"
    )
    return median, max(medians) - min(medians)


def compare(workload: str, repeats: int) -> None:
    epochs = WORKLOADS[workload]["epochs"]
    train, val, fresh_model = prepared(workload)
    print(f"{workload}: {len(train['labels']):,} training rows, {epochs} epochs, batch {BATCH}")
    hand, lean = "hand-written", "AIForge lean"
    runs = {
        f"{hand}, slicing": lambda: handwritten_epochs(train, val, fresh_model(), epochs, False),
        f"{lean}, built-in (slicing)": lambda: aiforge_epochs(workload, False, False),
        f"{hand}, per-item DataLoader": lambda: handwritten_epochs(train, val, fresh_model(), epochs, True),
        f"{lean}, per-item plugin": lambda: aiforge_epochs(workload, True, False),
        "AIForge defaults (MLflow on)": lambda: aiforge_epochs(workload, False, True),
    }
    times = [measure(name, run, repeats)[0] for name, run in runs.items()]
    print(f"  AIForge / hand-written, slicing:          {times[1] / times[0]:.3f}")
    print(f"  AIForge / hand-written, per-item:         {times[3] / times[2]:.3f}")
    print(f"  AIForge defaults / hand-written, slicing: {times[4] / times[0]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for workload in args.workloads:
        compare(workload, args.repeats)


if __name__ == "__main__":
    main()
