"""Image training throughput of AIForge (image_folder + cnn) against a hand-written torchvision loop.

    python benchmarks/image_throughput.py [--images 2000] [--size 32] [--epochs 3] [--batch-size 64]
        [--num-workers 0] [--threads 1] [--quick] [--json PATH]

One folder of PNG files (``--images`` RGB images of ``--size`` pixels, 10 classes, rendered
with Pillow into a temporary folder) is read three ways, with the same CNN
(``aiforge.plugins.cnn``, channels [32, 64]), batch size, epochs, Adam and DataLoader workers:

  hand_lazy       torchvision.datasets.ImageFolder (Pillow decodes each image per item) with
                  PILToTensor + scaling + Normalize, a DataLoader, and a plain loop: what a
                  PyTorch user writes.
  aiforge_lazy    AIForge, ``dataset_args: {cache: false}``: image_folder decodes each image
                  per item too (DataLoader path).
  aiforge_cached  AIForge, ``cache: true`` (the default ``auto`` for folders up to 1 GiB):
                  every image is decoded once, before training, and batches are slices.

Each epoch is a pass over the training images (80%) and one over the validation images, as
AIForge does. Printed: images per second (training images / seconds per epoch, the median of
the epochs after the first, which is dropped as warm-up when there are two or more), the time
before the first epoch (AIForge's cached mode decodes there), and the ratios to hand_lazy.
AIForge runs lean: no tracking, checkpoint only at the end (``checkpoint_every_n_epochs: 0``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

CLASSES = 10
CHANNELS = [32, 64]


def render_images(root: Path, count: int, size: int, seed: int = 0) -> None:
    """``count`` PNGs in ``root/class_k/``: per-class mean colours with noise, so the task is learnable."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    colours = rng.integers(40, 216, (CLASSES, 3))
    for index in range(count):
        label = index % CLASSES
        folder = root / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.clip(rng.normal(colours[label], 45, (size, size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{index:05d}.png")


def summary(epoch_times: list[float], train_images: int, before_first: float) -> dict[str, Any]:
    timed = epoch_times[1:] if len(epoch_times) > 1 else epoch_times
    seconds = statistics.median(timed)
    return {
        "epoch_s": seconds,
        "images_per_s": train_images / seconds,
        "before_first_epoch_s": before_first,
        "epoch_times_s": epoch_times,
    }


# -- hand-written ------------------------------------------------------------------------
def hand_lazy(root: Path, epochs: int, batch_size: int, num_workers: int) -> dict[str, Any]:
    """torchvision's ImageFolder and a DataLoader, Pillow decoding per item; a plain training loop."""
    from torch.utils.data import DataLoader, Subset

    from aiforge.plugins.cnn.config import CNNConfig
    from aiforge.plugins.cnn.model import Model
    from aiforge.runtime.torchvision_import import import_torchvision

    started = time.perf_counter()
    import_torchvision("this benchmark")  # importable here, or a message saying how to install it
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import v2

    transform = v2.Compose(
        [v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True), v2.Normalize([0.5] * 3, [0.25] * 3)]
    )
    folder = ImageFolder(str(root), transform=transform)
    order = torch.randperm(len(folder), generator=torch.Generator().manual_seed(0)).tolist()
    cut = int(len(order) * 0.8)
    loader_args: dict[str, Any] = {"num_workers": num_workers, "persistent_workers": num_workers > 0}
    train = DataLoader(
        Subset(folder, order[:cut]),
        batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
        **loader_args,
    )
    val = DataLoader(Subset(folder, order[cut:]), batch_size, **loader_args)
    torch.manual_seed(0)
    model = Model(CNNConfig(in_channels=3, output_dim=len(folder.classes), channels=CHANNELS))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    before_first = time.perf_counter() - started
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for images, labels in train:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.inference_mode():
            for images, labels in val:
                correct += int((model(images).argmax(dim=1) == labels).sum())
        times.append(time.perf_counter() - start)
    return {**summary(times, cut, before_first), "val_accuracy": correct / (len(order) - cut)}


# -- AIForge -----------------------------------------------------------------------------
def aiforge_run(root: Path, epochs: int, batch_size: int, num_workers: int, cache: bool) -> dict[str, Any]:
    """AIForge's Python API on the same folder: image_folder + cnn, lean (no tracking)."""
    from aiforge.config.model_configs import ExperimentConfig
    from aiforge.config.settings import AppSettings
    from aiforge.core.orchestrator import Orchestrator
    from aiforge.utils.callbacks import Callback

    class EpochClock(Callback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.train_start = 0.0

        def on_train_start(self, *_: Any) -> None:
            self.train_start = self._last = time.perf_counter()

        def on_epoch_end(self, *_: Any) -> None:
            now = time.perf_counter()
            self.times.append(now - self._last)
            self._last = now

    config = ExperimentConfig(
        experiment_name="bench_images",
        model_plugin="cnn",
        dataset_plugin="image_folder",
        data_path=str(root),
        dataset_args={"cache": cache},
        model_config={"channels": CHANNELS},
        training_config={
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": 1e-3,
            "num_workers": num_workers,
            "checkpoint_every_n_epochs": 0,
        },
        metrics=["accuracy"],
        seed=0,
    )
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as folder:
        settings = AppSettings(RESULTS_DIR=Path(folder), DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING")
        started = time.perf_counter()
        orchestrator = Orchestrator(config, settings=settings, callbacks=[clock])
        results = orchestrator.run_experiment()
    train_images = len(orchestrator.train_indices)
    accuracy = (results.get("final_val_metrics") or {}).get("accuracy")
    return {**summary(clock.times, train_images, clock.train_start - started), "val_accuracy": accuracy}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: steadier)")
    parser.add_argument(
        "--quick", action="store_true", help="200 images, 2 epochs: seconds, for a smoke test"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.epochs = min(args.images, 200), min(args.epochs, 2)
    torch.set_num_threads(args.threads)
    from aiforge.runtime.log import configure_logging

    configure_logging("WARNING")
    shape = f"{args.images} PNGs {args.size}x{args.size} RGB, {CLASSES} classes"
    print(f"{shape}; {args.epochs} epochs, batch {args.batch_size}, {args.num_workers} workers", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "images"
        render_images(root, args.images, args.size)
        columns = {
            "hand_lazy": lambda: hand_lazy(root, args.epochs, args.batch_size, args.num_workers),
            "aiforge_lazy": lambda: aiforge_run(root, args.epochs, args.batch_size, args.num_workers, False),
            "aiforge_cached": lambda: aiforge_run(root, args.epochs, args.batch_size, args.num_workers, True),
        }
        measured = {}
        for name, run in columns.items():
            measured[name] = run()
            print(f"  {name} done", flush=True)
    base = measured["hand_lazy"]["images_per_s"]
    print("\n| loop | images/s | s/epoch | before 1st epoch (s) | vs hand_lazy |\n|---|---|---|---|---|")
    for name, row in measured.items():
        row["ratio_to_hand_lazy"] = row["images_per_s"] / base
        print(
            f"| {name} | {row['images_per_s']:.0f} | {row['epoch_s']:.3f} | "
            f"{row['before_first_epoch_s']:.2f} | {row['ratio_to_hand_lazy']:.2f}x |"
        )
    report = {"settings": vars(args) | {"json": str(args.json) if args.json else None}, "results": measured}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
