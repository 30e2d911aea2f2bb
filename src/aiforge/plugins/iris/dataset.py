"""scikit-learn's iris set as an in-memory dataset."""

from aiforge.plugins._sklearn import SklearnToyDataset


class Dataset(SklearnToyDataset):
    """Iris flowers (150 rows, 4 features, 3 classes)."""

    loader_name = "load_iris"
    task = "classification"
