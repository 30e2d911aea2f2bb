"""scikit-learn's bundled toy sets (shipped inside the package, no download)."""

from __future__ import annotations

from typing import ClassVar

import torch

from aiforge.core.data_pipeline import InMemoryDataset
from aiforge.errors import ArgumentError


class SklearnToyDataset(InMemoryDataset):
    """One of ``sklearn.datasets.load_*``; ``data_path`` is ignored.

    ``dataset_args``: ``max_samples`` keeps a random N rows (quick trials), drawn with
    ``sample_seed`` (default 0) and kept in their original order. Random, not the first N:
    some sets (iris, wine) are sorted by class, and their first rows hold one class only.
    An unknown argument is an error, so a misspelled one is never silently ignored.
    """

    loader_name: ClassVar[str]
    task: ClassVar[str] = "classification"

    def load_data(
        self, data_path: str | None = None, max_samples: int | None = None, sample_seed: int = 0
    ) -> None:
        from sklearn import datasets

        bunch = getattr(datasets, self.loader_name)()
        features = torch.as_tensor(bunch.data, dtype=torch.float32)
        self.feature_names = [str(name) for name in getattr(bunch, "feature_names", [])]
        if self.task == "classification":
            labels = torch.as_tensor(bunch.target, dtype=torch.long)
            self.class_names = [str(name) for name in bunch.target_names]
        else:
            labels = torch.as_tensor(bunch.target, dtype=torch.float32)
        if max_samples is not None:
            if max_samples < 1:
                raise ArgumentError(f"max_samples must be at least 1, not {max_samples}")
            if max_samples < len(features):
                generator = torch.Generator().manual_seed(sample_seed)
                keep = torch.randperm(len(features), generator=generator)[:max_samples].sort().values
                features, labels = features[keep], labels[keep]
        self.set_tensors(features, labels)
