"""The bundled dataset plugins: scikit-learn's toy sets and the seed's synthetic set."""

from __future__ import annotations

import importlib

import pytest
import torch

from aiforge.core.data_pipeline import BasePreprocessor, InMemoryDataset
from aiforge.data.scaling import FeatureScaler
from aiforge.plugins.simple_nn.dataset import Dataset as SimpleDataset

SKLEARN_SETS = [
    # name, rows, features, class names (None: regression)
    ("digits", 1797, 64, [str(i) for i in range(10)]),
    ("iris", 150, 4, ["setosa", "versicolor", "virginica"]),
    ("wine", 178, 13, ["class_0", "class_1", "class_2"]),
    ("breast_cancer", 569, 30, ["malignant", "benign"]),
    ("diabetes", 442, 10, None),
]


def plugin(name: str, part: str) -> type:
    module = importlib.import_module(f"aiforge.plugins.{name}.{part}")
    return getattr(module, part.capitalize())


@pytest.mark.parametrize(("name", "rows", "features", "classes"), SKLEARN_SETS)
def test_sklearn_plugin_loads(name: str, rows: int, features: int, classes: list[str] | None) -> None:
    dataset = plugin(name, "dataset")()
    assert isinstance(dataset, InMemoryDataset)
    dataset.load_data("ignored/path.csv")
    assert len(dataset) == rows
    assert dataset.features.shape == (rows, features) and dataset.features.dtype == torch.float32
    assert dataset.class_names == classes
    if classes is None:
        assert dataset.labels.dtype == torch.float32
        assert dataset.labels.shape == (rows,) and dataset.labels.min() > 0
    else:
        assert dataset.labels.dtype == torch.long
        assert sorted(dataset.labels.unique().tolist()) == list(range(len(classes)))
    item = dataset[0]
    assert item["features"].shape == (features,) and item["labels"].shape == ()
    assert issubclass(plugin(name, "preprocessor"), BasePreprocessor)
    assert plugin(name, "preprocessor") is FeatureScaler


def test_max_samples_keeps_a_seeded_random_subset_in_order() -> None:
    full, small, again = (plugin("iris", "dataset")() for _ in range(3))
    full.load_data(None)
    small.load_data(None, max_samples=30)
    again.load_data(None, max_samples=30)
    assert len(small) == 30 and small.class_names == full.class_names
    assert torch.equal(small.features, again.features)
    # Iris is sorted by class: the first 30 rows are all setosa, a random 30 are not.
    assert sorted(small.labels.unique().tolist()) == [0, 1, 2]
    rows = [int((full.features == row).all(dim=1).nonzero()[0]) for row in small.features]
    assert rows == sorted(rows) and torch.equal(full.labels[rows], small.labels)
    other = plugin("iris", "dataset")()
    other.load_data(None, max_samples=30, sample_seed=1)
    assert not torch.equal(other.features, small.features)


def test_max_samples_above_the_size_keeps_everything() -> None:
    dataset = plugin("wine", "dataset")()
    dataset.load_data(None, max_samples=10_000)
    assert len(dataset) == 178


@pytest.mark.parametrize("name", ["iris", "simple_nn"])
def test_misspelled_dataset_argument_is_an_error(name: str) -> None:
    typo = "max_sample" if name == "iris" else "num_sample"
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{typo}'"):
        plugin(name, "dataset")().load_data(None, **{typo: 10})


def test_max_samples_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_samples must be at least 1, not 0"):
        plugin("iris", "dataset")().load_data(None, max_samples=0)


def test_sklearn_classes_do_not_share_class_names() -> None:
    iris, wine = plugin("iris", "dataset")(), plugin("wine", "dataset")()
    iris.load_data(None)
    wine.load_data(None)
    assert iris.class_names != wine.class_names
    assert plugin("diabetes", "dataset")().class_names is None


# -- simple_nn ------------------------------------------------------------------------------------
def generate(**args: object) -> SimpleDataset:
    dataset = SimpleDataset()
    dataset.load_data("data/dummy_classification_data.pkl", **args)  # the seed's path is ignored
    return dataset


def test_simple_nn_defaults() -> None:
    dataset = generate()
    assert dataset.features.shape == (1000, 10) and dataset.features.dtype == torch.float32
    assert dataset.labels.dtype == torch.long and dataset.class_names == ["0", "1"]
    counts = torch.bincount(dataset.labels, minlength=2)
    assert counts.min() > 200  # both classes well represented


def test_simple_nn_is_deterministic_per_seed() -> None:
    a, b, c = (
        generate(num_samples=50, seed=1),
        generate(num_samples=50, seed=1),
        generate(num_samples=50, seed=2),
    )
    assert torch.equal(a.features, b.features) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.features, c.features)


def test_simple_nn_leaves_the_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    generate(num_samples=30)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_simple_nn_arguments() -> None:
    dataset = generate(num_samples=40, input_dim=3, num_classes=4, noise=0.0)
    assert dataset.features.shape == (40, 3) and dataset.class_names == ["0", "1", "2", "3"]
    assert int(dataset.labels.max()) <= 3
    with pytest.raises(ValueError, match="num_classes >= 2"):
        generate(num_classes=1)


def test_simple_nn_labels_follow_the_features() -> None:
    """A linear probe fits the labels far better than chance: the set is learnable."""
    dataset = generate(num_samples=400, noise=0.0)
    x = torch.cat([dataset.features, torch.ones(400, 1)], dim=1)
    targets = torch.nn.functional.one_hot(dataset.labels, 2).float()
    weights = torch.linalg.lstsq(x, targets).solution
    accuracy = ((x @ weights).argmax(dim=1) == dataset.labels).float().mean()
    assert accuracy > 0.9
