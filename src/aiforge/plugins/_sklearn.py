"""scikit-learn's bundled toy sets (shipped inside the package, no download)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from aiforge.core.data_pipeline import InMemoryDataset


class SklearnToyDataset(InMemoryDataset):
    """One of ``sklearn.datasets.load_*``; ``data_path`` is ignored.

    ``dataset_args``: ``max_samples`` keeps only the first N rows (quick trials).
    """

    loader_name: ClassVar[str]
    task: ClassVar[str] = "classification"

    def load_data(self, data_path: str | None = None, max_samples: int | None = None, **_: Any) -> None:
        from sklearn import datasets

        bunch = getattr(datasets, self.loader_name)()
        features = torch.as_tensor(bunch.data, dtype=torch.float32)
        if self.task == "classification":
            labels = torch.as_tensor(bunch.target, dtype=torch.long)
            self.class_names = [str(name) for name in bunch.target_names]
        else:
            labels = torch.as_tensor(bunch.target, dtype=torch.float32)
        if max_samples is not None:
            features, labels = features[:max_samples], labels[:max_samples]
        self.set_tensors(features, labels)
