"""scikit-learn's diabetes set as an in-memory dataset."""

from aiforge.plugins._sklearn import SklearnToyDataset


class Dataset(SklearnToyDataset):
    """Diabetes progression (442 rows, 10 features, regression target)."""

    loader_name = "load_diabetes"
    task = "regression"
