"""scikit-learn's digits set as an in-memory dataset."""

from aiforge.plugins._sklearn import SklearnToyDataset


class Dataset(SklearnToyDataset):
    """8x8 images of handwritten digits (1,797 rows, 64 features, 10 classes)."""

    loader_name = "load_digits"
    task = "classification"
