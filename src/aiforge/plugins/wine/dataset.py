"""scikit-learn's wine set as an in-memory dataset."""

from aiforge.plugins._sklearn import SklearnToyDataset


class Dataset(SklearnToyDataset):
    """Wine cultivars (178 rows, 13 features, 3 classes)."""

    loader_name = "load_wine"
    task = "classification"
