"""The Lightning column of ``training_overhead.py``: the same model and loaders, trained by Lightning.

Lightning is the optional ``bench`` extra (``pip install "aiforge[bench]"``); without it
:data:`lightning` is ``None`` and this module still imports, so ``--help`` works.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import DataLoader

try:
    import lightning
except ImportError:  # the optional `bench` extra: pip install "aiforge[bench]"
    lightning = None

Batch = dict[str, torch.Tensor]


class Laps:
    """Time between consecutive :meth:`lap` calls, the first from :meth:`start`: epoch clocks' core.

    Framework hooks are aliased to its methods (extra hook arguments are ignored).
    """

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.times: list[float] = []

    def start(self, *_: Any) -> None:
        self._last = self.now()

    def lap(self, *_: Any) -> None:
        moment = self.now()
        self.times.append(moment - self._last)
        self._last = moment


def lightning_epochs(
    model: torch.nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    epochs: int,
    *,
    precision: str = "32",
    device: str = "cpu",
    now: Callable[[], float],
    make_optimizer: Callable[[torch.nn.Module], torch.optim.Optimizer] | None = None,
) -> list[float]:
    """Lightning's epoch times: Adam lr 1e-3, then validation loss and accuracy once per epoch.

    ``model`` is trained as given (torch.compile it first for a compiled run), with the
    optimizer ``make_optimizer`` builds over it (default: ``torch.optim.Adam``); an epoch is
    the time between consecutive training-epoch ends, validation included, as AIForge's.
    """
    assert lightning is not None, 'lightning is not installed (pip install "aiforge[bench]")'

    class Classifier(lightning.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.loss_fn = torch.nn.CrossEntropyLoss()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            if make_optimizer is not None:
                return make_optimizer(self.model)
            return torch.optim.Adam(self.model.parameters(), lr=1e-3)

        def on_train_epoch_start(self) -> None:
            self.train_total = torch.zeros((), device=self.device)

        def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
            loss = self.loss_fn(self.model(batch["features"]), batch["labels"])
            self.train_total += loss.detach() * len(batch["labels"])
            return loss

        def on_validation_epoch_start(self) -> None:
            self.val_total = torch.zeros((), device=self.device)
            self.correct = torch.zeros((), device=self.device)

        def validation_step(self, batch: Batch, batch_idx: int) -> None:
            outputs = self.model(batch["features"])
            self.val_total += self.loss_fn(outputs, batch["labels"]) * len(batch["labels"])
            self.correct += (outputs.argmax(dim=1) == batch["labels"]).sum()

        def on_validation_epoch_end(self) -> None:
            # Lightning 2 validates at the end of the training epoch: this is its one host sync.
            float(self.train_total), float(self.val_total), int(self.correct)

    class Clock(Laps, lightning.Callback):
        on_train_start = Laps.start
        on_train_epoch_end = Laps.lap  # validation runs before it: an epoch includes validation

    clock = Clock(now)
    trainer = lightning.Trainer(
        accelerator="gpu" if device.startswith("cuda") else "cpu",
        devices=1,
        max_epochs=epochs,
        precision="32-true" if precision == "32" else precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[clock],
    )
    trainer.fit(Classifier(), train_loader, val_loader)
    return clock.times
