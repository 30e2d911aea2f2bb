"""scikit-learn's breast_cancer set as an in-memory dataset."""

from aiforge.plugins._sklearn import SklearnToyDataset


class Dataset(SklearnToyDataset):
    """Breast cancer Wisconsin (569 rows, 30 features, 2 classes)."""

    loader_name = "load_breast_cancer"
    task = "classification"
