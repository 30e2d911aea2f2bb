"""The seed's synthetic classification set, made learnable: labels follow the features."""

from __future__ import annotations

import torch

from aiforge.core.data_pipeline import InMemoryDataset
from aiforge.errors import ArgumentError
from aiforge.runtime.log import logger


class Dataset(InMemoryDataset):
    """Gaussian features; each label is the arg-max of a fixed random linear map of them.

    ``data_path`` is accepted and ignored. ``dataset_args``: ``num_samples`` (1000),
    ``input_dim`` (10), ``num_classes`` (2), ``noise`` (0.1, std of label noise in
    the scores) and ``seed`` (42) make it reproducible without touching global RNGs.
    An unknown argument is an error, so a misspelled one is never silently ignored.
    """

    def load_data(
        self,
        data_path: str | None = None,
        num_samples: int = 1000,
        input_dim: int = 10,
        num_classes: int = 2,
        noise: float = 0.1,
        seed: int = 42,
    ) -> None:
        if num_samples < 1 or input_dim < 1 or num_classes < 2:
            raise ArgumentError("simple_nn needs num_samples >= 1, input_dim >= 1 and num_classes >= 2")
        generator = torch.Generator().manual_seed(seed)
        features = torch.randn(num_samples, input_dim, generator=generator) * 2 + 1
        teacher = torch.randn(input_dim, num_classes, generator=generator)
        centred = features - features.mean(dim=0)
        scores = centred @ teacher + noise * torch.randn(num_samples, num_classes, generator=generator)
        self.set_tensors(features, scores.argmax(dim=1))
        self.class_names = [str(i) for i in range(num_classes)]
        logger.debug(
            f"simple_nn: generated {num_samples} samples, {input_dim} features, {num_classes} classes"
        )
