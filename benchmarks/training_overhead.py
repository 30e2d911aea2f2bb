"""Epoch time of AIForge against a hand-written PyTorch loop and Lightning: same model, data, split, seeds.

    python benchmarks/training_overhead.py [--workloads digits synthetic] [--repeats 5]
        [--precision {32,bf16-mixed,16-mixed}] [--compile] [--device cpu] [--json PATH]
        [--baseline-optimizer {same,torch-default}] [--paired] [--num-workers {auto,N}]

Workloads (MLP 64-128-10, Adam lr 1e-3, batch 64, 1 torch thread, CPU):
  digits     scikit-learn's digits (1,438 training rows), 20 epochs
  synthetic  simple_nn's synthetic set, 200,000 training rows x 64 features, 3 epochs

Each epoch is a pass over the training rows and one over the validation rows (loss and
accuracy), as a hand-written loop would do; only the epochs are timed (no start-up, no data
loading), the first one dropped as warm-up. Two data paths, each run three ways:

  slicing   AIForge's built-in in-memory path (its own dataset plugin and preprocessor)
            against a hand-written loop that slices AIForge's prepared tensors.
  per-item  a custom map-style dataset plugin (one prepared row per ``__getitem__``, no
            ``as_tensors``, no preprocessor), read through a DataLoader by AIForge, by the
            hand-written loop and by Lightning: the very same class and rows (same split).

AIForge runs through its Python API "lean" (tracking and progress off, and the checkpoint
written once at the end, ``checkpoint_every_n_epochs: 0``: what a user switches off for a
benchmark, and what the hand-written loop and Lightning's column do not do either) and, on
the slicing path, with the defaults ("defaults": MLflow tracking, a checkpoint every epoch).
The other loops get a fresh model of the same class and seed, and the Adam AIForge builds
(torch's fused kernel), so the ratios measure the loop alone; ``--baseline-optimizer
torch-default`` gives them the bare ``torch.optim.Adam`` a user would write instead. Printed:
the median seconds per epoch over all timed epochs of all repeats, the spread (max-min of the
repeats' medians), the ratios, and a Markdown table for the README.

``--paired`` runs AIForge lean and the hand-written loop only, taking turns epoch by epoch: a
hand-written epoch runs after each AIForge epoch (from a callback, its time kept out of
AIForge's), so both loops of a pair meet the same moment of a shared machine. Both run with
caches the other has just used, which costs AIForge's per-epoch work a little more than when
it runs alone: a conservative ratio, and a much steadier one.

``--num-workers`` sets the per-item path's DataLoader workers in all three loops, with what
AIForge picks for the rest (pinned memory with CUDA, workers kept between epochs): ``auto``, the
default, is AIForge's default per device (none on a CPU, up to 4 per GPU process).

Lightning (the optional ``bench`` extra) is skipped with a note when it is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from lightning_loop import Laps, lightning, lightning_epochs  # sibling modules: sys.path[0] is benchmarks/
from overhead_report import Run, markdown_table, measure, ratios_of
from torch.utils.data import DataLoader

from aiforge.config.model_configs import ExperimentConfig
from aiforge.config.settings import AppSettings
from aiforge.core.data_pipeline import BaseDataset, Item
from aiforge.core.orchestrator import Orchestrator
from aiforge.data.batching import loader_options
from aiforge.training.builders import build_optimizer
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
PRECISIONS = ("32", "bf16-mixed", "16-mixed")
Tensors = dict[str, torch.Tensor]
BASELINE_OPTIMIZERS = ("same", "torch-default")
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


@dataclass(frozen=True)
class Options:
    """What every column runs with."""

    precision: str = "32"
    compile: bool = False
    device: str = "cpu"
    epochs: int | None = None  # None: the workload's own
    clock: str = "wall"
    baseline_optimizer: str = "same"
    num_workers: int | str = "auto"  # the per-item path's DataLoader workers, as AIForge's config takes them

    def optimizer_for(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        """The other loops' Adam: the one AIForge builds (``same``: fused where torch has the
        kernel), or ``torch-default``, the bare ``torch.optim.Adam`` a user would write."""
        if self.baseline_optimizer == "torch-default":
            return torch.optim.Adam(model.parameters(), lr=1e-3)
        return build_optimizer(model.parameters(), "Adam", 1e-3)

    def now(self) -> float:
        """Wall time, or this process's CPU time (``--clock cpu``).

        CPU time leaves out waits for a core that other processes on a shared machine cause,
        and also waits for the disk (MLflow's database), so it flatters the defaults column.
        """
        return CLOCKS[self.clock]()

    def loader_settings(self) -> dict[str, Any]:
        """The per-item path's DataLoader workers, pinned memory and persistent workers: what
        AIForge picks for this device and ``num_workers``."""
        chosen = loader_options(torch.device(self.device), self.num_workers)
        return {
            "num_workers": chosen.num_workers,
            "pin_memory": chosen.pin_memory,
            "persistent_workers": chosen.persistent_workers,
        }

    def epochs_for(self, workload: str) -> int:
        return self.epochs or WORKLOADS[workload]["epochs"]

    def autocast(self) -> Any:
        """The hand-written loop's mixed precision: torch.autocast, or nothing for 32."""
        if self.precision == "32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16-mixed" else torch.float16
        return torch.autocast(torch.device(self.device).type, dtype=dtype)


def experiment(
    workload: str, options: Options, per_item: bool = False, lean: bool = True
) -> ExperimentConfig:
    spec = WORKLOADS[workload]
    training = {
        "epochs": options.epochs_for(workload),
        "checkpoint_every_n_epochs": 0 if lean else 1,
        "batch_size": BATCH,
        "learning_rate": 1e-3,
        "precision": options.precision,
        "compile": options.compile,
        "num_workers": options.num_workers,
    }
    return ExperimentConfig(
        experiment_name=f"bench_{workload}",
        model_plugin="simple_nn",
        dataset_plugin=spec["dataset_plugin"],
        dataset_args={} if per_item else spec["dataset_args"],
        preprocess_args={} if per_item else {"scaler_type": "standard"},
        model_config={"hidden_dim": 128, "dropout_rate": 0.0},
        training_config=training,
        metrics=["accuracy"],
        seed=0,
    )


class PreparedRows(BaseDataset):
    """A custom per-item dataset plugin: one already-prepared row per ``__getitem__``.

    No ``as_tensors`` and no preprocessor, so AIForge batches it with a DataLoader, as the
    hand-written loop and Lightning do. The rows come with the class (:meth:`holding`).
    """

    source: ClassVar[tuple[torch.Tensor, torch.Tensor]] = (torch.empty(0), torch.empty(0))

    @classmethod
    def holding(cls, features: torch.Tensor, labels: torch.Tensor) -> type[PreparedRows]:
        """A plugin class whose ``load_data`` loads these rows."""
        return type(cls.__name__, (cls,), {"source": (features, labels)})

    @classmethod
    def loaded(cls, tensors: Tensors) -> PreparedRows:
        dataset = cls.holding(tensors["features"], tensors["labels"])()
        dataset.load_data(None)
        return dataset

    def load_data(self, data_path: str | None = None) -> None:
        self.features, self.labels = self.source

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: int) -> Item:
        return {"features": self.features[idx], "labels": self.labels[idx]}


@dataclass
class Prepared:
    """AIForge's training and validation tensors, its split, and a maker of fresh seeded models."""

    train: Tensors
    val: Tensors
    all_rows: Tensors  # train and val rows in their original positions: the same split again
    fresh_model: Callable[[], Any]


def prepared(workload: str, options: Options) -> Prepared:
    with tempfile.TemporaryDirectory() as folder:
        settings = AppSettings(RESULTS_DIR=Path(folder), DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING")
        orchestrator = Orchestrator(experiment(workload, options), settings=settings)
        orchestrator.prepare_data()
    train = orchestrator.train_dataloader.tensors
    val = orchestrator.val_dataloader.tensors
    train_rows, val_rows = orchestrator.train_indices, orchestrator.val_indices
    all_rows = {}
    for key in train:
        rows = train[key].new_empty((len(train_rows) + len(val_rows), *train[key].shape[1:]))
        rows[train_rows], rows[val_rows] = train[key], val[key]
        all_rows[key] = rows

    def fresh_model() -> Any:
        torch.manual_seed(0)
        return orchestrator.ModelClass(orchestrator.config.model_specific_config)

    return Prepared(train, val, all_rows, fresh_model)


def per_item_loaders(data: Prepared, options: Options = Options()) -> tuple[DataLoader, DataLoader]:
    """The hand-written loop's and Lightning's DataLoaders over :class:`PreparedRows` (seeded
    shuffle), with the workers and pinned memory AIForge's loaders get."""
    settings = options.loader_settings()
    generator = torch.Generator().manual_seed(0)
    train_loader = DataLoader(
        PreparedRows.loaded(data.train), BATCH, shuffle=True, generator=generator, **settings
    )
    return train_loader, DataLoader(PreparedRows.loaded(data.val), BATCH, **settings)


# -- AIForge -----------------------------------------------------------------------------
class EpochClock(Laps, Callback):
    """Time between consecutive epoch ends (the first from the start of training)."""

    on_train_start = Laps.start
    on_epoch_end = Laps.lap


def aiforge_epochs(
    workload: str,
    per_item: bool,
    defaults: bool,
    options: Options = Options(),
    data: Prepared | None = None,
    clock: EpochClock | None = None,
) -> list[float]:
    """AIForge's epoch times; ``per_item`` reads ``data``'s rows through :class:`PreparedRows`."""
    clock = clock or EpochClock(options.now)
    with tempfile.TemporaryDirectory() as folder:
        settings = AppSettings(
            RESULTS_DIR=Path(folder), DEVICE=options.device, TRACKING=defaults, LOG_LEVEL="WARNING"
        )
        config = experiment(workload, options, per_item, lean=not defaults)
        if defaults:
            config.tracking.tracking_uri = f"sqlite:///{folder}/mlflow.db"
        dataset = None
        if per_item:
            assert data is not None, "the per-item plugin needs the prepared rows"
            dataset = PreparedRows.holding(data.all_rows["features"], data.all_rows["labels"])
        orchestrator = Orchestrator(config, None, dataset, None, settings=settings, callbacks=[clock])
        orchestrator.run_experiment()
        if per_item and data is not None:  # the same training rows, in the same order, as the other loops
            rows = data.all_rows["features"][orchestrator.train_indices]
            assert torch.equal(rows, data.train["features"]), "the per-item split differs"
    return clock.times


# -- hand-written ------------------------------------------------------------------------
class HandLoop:
    """The loop a user writes: shuffle, step, then validation loss and accuracy once per epoch."""

    def __init__(self, data: Prepared, per_item: bool, options: Options = Options()) -> None:
        self.device = device = torch.device(options.device)
        self.options = options
        model = data.fresh_model().to(device)
        self.model = torch.compile(model) if options.compile else model
        self.optimizer = options.optimizer_for(model)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        use_scaler = options.precision == "16-mixed" and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        self.generator = torch.Generator().manual_seed(0)
        self.train, self.val = data.train, data.val
        self.loaders = per_item_loaders(data, options) if per_item else None
        self.validation_times: list[float] = []  # each epoch's validation part (benchmarks/epoch_costs.py)

    def _on_device(self, pairs: Iterator[tuple[torch.Tensor, ...]]) -> Iterator[tuple[torch.Tensor, ...]]:
        return (tuple(t.to(self.device, non_blocking=True) for t in pair) for pair in pairs)

    def _pairs(self, loader: DataLoader) -> Iterator[tuple[torch.Tensor, ...]]:
        return self._on_device((batch["features"], batch["labels"]) for batch in loader)

    def _slices(self, x: torch.Tensor, y: torch.Tensor) -> Iterator[tuple[torch.Tensor, ...]]:
        return self._on_device((x[i : i + BATCH], y[i : i + BATCH]) for i in range(0, len(x), BATCH))

    def epoch(self) -> float:
        """One epoch; its time."""
        model, optimizer, loss_fn, scaler, options = (
            self.model,
            self.optimizer,
            self.loss_fn,
            self.scaler,
            self.options,
        )
        start = options.now()
        model.train()
        total = torch.zeros((), device=self.device)
        if self.loaders is not None:
            batches = self._pairs(self.loaders[0])
        else:
            order = torch.randperm(len(self.train["labels"]), generator=self.generator)
            batches = self._slices(self.train["features"][order], self.train["labels"][order])
        for features, labels in batches:
            with options.autocast():
                loss = loss_fn(model(features), labels)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            total += loss.detach() * len(labels)
        validation_start = options.now()
        model.eval()
        with torch.no_grad():
            correct, val_loss = torch.zeros((), device=self.device), torch.zeros((), device=self.device)
            val_batches = (
                self._pairs(self.loaders[1])
                if self.loaders is not None
                else self._slices(self.val["features"], self.val["labels"])
            )
            for features, labels in val_batches:
                with options.autocast():
                    outputs = model(features)
                    val_loss += loss_fn(outputs, labels) * len(labels)
                correct += (outputs.argmax(dim=1) == labels).sum()
        float(total), float(val_loss), int(correct)  # the epoch's one host sync, as in AIForge
        end = options.now()
        self.validation_times.append(end - validation_start)
        return end - start


def handwritten_epochs(
    data: Prepared, epochs: int, per_item: bool, options: Options = Options()
) -> list[float]:
    """The hand-written loop's epoch times."""
    loop = HandLoop(data, per_item, options)
    return [loop.epoch() for _ in range(epochs)]


# -- paired: the two loops take turns epoch by epoch ----------------------------------------
class PairedClock(EpochClock):
    """AIForge's epoch times, with a hand-written epoch run (and timed) after each one.

    Each AIForge epoch is timed from the end of the hand-written epoch before it, so neither
    loop's time holds the other's; the two epochs of a pair run milliseconds apart.
    """

    def __init__(self, hand: HandLoop, now: Callable[[], float]) -> None:
        super().__init__(now)
        self.hand = hand
        self.hand_times: list[float] = []

    def on_epoch_end(self, *_: Any) -> None:
        self.lap()
        self.hand_times.append(self.hand.epoch())
        self.start()


def paired_epochs(workload: str, per_item: bool, options: Options, data: Prepared) -> dict[str, list[float]]:
    """AIForge lean and the hand-written loop on one data path, taking turns epoch by epoch."""
    clock = PairedClock(HandLoop(data, per_item, options), options.now)
    path = "per_item" if per_item else "slicing"
    aiforge = aiforge_epochs(workload, per_item, False, options, data, clock=clock)
    return {f"aiforge_{path}": aiforge, f"hand_{path}": clock.hand_times}


# -- Lightning (lightning_loop.py) -------------------------------------------------------
def lightning_column(data: Prepared, epochs: int, options: Options = Options()) -> list[float]:
    """Lightning's epoch times on the per-item path: the same dataset class, rows and model."""
    train_loader, val_loader = per_item_loaders(data, options)
    model = data.fresh_model()
    quiet()  # MLflow may have imported pytorch_lightning since, which sets its loggers to INFO
    return lightning_epochs(
        torch.compile(model) if options.compile else model,
        train_loader,
        val_loader,
        epochs,
        precision=options.precision,
        device=options.device,
        now=options.now,
        make_optimizer=options.optimizer_for,
    )


def quiet() -> None:
    """Only results on the console: no INFO logs, no hints (few DataLoader workers, model pickling)."""
    from aiforge.runtime.log import configure_logging

    configure_logging("WARNING")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # read when MLflow sets up its loggers
    for name in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric", "mlflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(lightning|pytorch_lightning|mlflow)(\..*)?")


def compare(workload: str, repeats: int, options: Options, paired: bool = False) -> dict[str, Any]:
    epochs = options.epochs_for(workload)
    data = prepared(workload, options)
    print(
        f"{workload}: {len(data.train['labels']):,} training rows, {epochs} epochs, batch {BATCH}", flush=True
    )
    runs: dict[str, Run]
    if paired:  # AIForge lean and the hand-written loop only, epoch by epoch in turn
        runs = {
            "slicing": lambda: paired_epochs(workload, False, options, data),
            "per_item": lambda: paired_epochs(workload, True, options, data),
        }
    else:
        runs = {
            "hand_slicing": lambda: handwritten_epochs(data, epochs, False, options),
            "aiforge_slicing": lambda: aiforge_epochs(workload, False, False, options),
            "hand_per_item": lambda: handwritten_epochs(data, epochs, True, options),
            "aiforge_per_item": lambda: aiforge_epochs(workload, True, False, options, data),
            "lightning_per_item": lambda: lightning_column(data, epochs, options),
            "aiforge_defaults": lambda: aiforge_epochs(workload, False, True, options),
        }
        if lightning is None:
            del runs["lightning_per_item"]
    columns = measure(runs, repeats)
    return {
        "training_rows": len(data.train["labels"]),
        "epochs": epochs,
        "columns": columns,
        "ratios": ratios_of(columns),
    }


def workers_count(text: str) -> int | str:
    """``--num-workers``: ``auto`` or a whole number of at least 0."""
    if text == "auto":
        return text
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected 'auto' or a whole number of at least 0, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precision", choices=PRECISIONS, default="32")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model in every column")
    parser.add_argument("--device", default="cpu", help="cpu (the benchmark's setting) or cuda")
    parser.add_argument("--epochs", type=int, help="override every workload's epochs (at least 2)")
    parser.add_argument(
        "--clock", choices=list(CLOCKS), default="wall", help="cpu: steadier on a shared machine"
    )
    parser.add_argument(
        "--baseline-optimizer",
        choices=BASELINE_OPTIMIZERS,
        default="same",
        help="the hand-written and Lightning loops' Adam: the one AIForge builds (fused), or torch's default",
    )
    parser.add_argument(
        "--paired",
        action="store_true",
        help="AIForge lean and the hand-written loop only, taking turns epoch by epoch: steadier ratios "
        "on a busy machine",
    )
    parser.add_argument(
        "--num-workers",
        type=workers_count,
        default="auto",
        metavar="{auto,N}",
        help="the per-item path's DataLoader workers in every loop (auto: AIForge's default per device)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write medians, spreads and ratios here")
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is dropped as warm-up")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    options = Options(
        args.precision,
        args.compile,
        args.device,
        args.epochs,
        args.clock,
        args.baseline_optimizer,
        args.num_workers,
    )
    torch.set_num_threads(1)
    quiet()
    if lightning is None:
        print('note: lightning is not installed (pip install "aiforge[bench]"); its column is skipped')
    elif options.precision == "16-mixed" and options.device == "cpu":
        print("note: on CPU, Lightning runs 16-mixed as bf16-mixed (it has no fp16 AMP on CPU)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {asdict(options)}")
    print(f"per-item DataLoaders: {options.loader_settings()}")
    results = {workload: compare(workload, args.repeats, options, args.paired) for workload in args.workloads}
    print()
    print(markdown_table(results))
    if args.json:
        record = {
            "options": asdict(options),
            "per_item_loaders": options.loader_settings(),
            "paired": args.paired,
            "repeats": args.repeats,
            "torch": torch.__version__,
            "lightning": lightning.__version__ if lightning is not None else None,
            "workloads": results,
        }
        args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
