"""The pyfunc side of AIForge's MLflow model: DataFrames by column name, arrays by position.

MLflow's own torch wrapper takes the input as it comes (a signature can either name columns or
accept arrays, not both), so this one turns what users pass into the one float64 matrix the
model was traced with. It is copied into every logged model's ``code`` folder and named there
as the pyfunc loader, so loading the model needs MLflow, torch, numpy and pandas, not AIForge:
it must import nothing from ``aiforge``.
"""

from __future__ import annotations

import os
from typing import Any

MODULE_NAME = "aiforge_mlflow_pyfunc"  # this file's name in a logged model's code folder
SHOWN_NAMES = 10  # feature names quoted in an error message


def _load_pyfunc(data_path: str, model_config: dict[str, Any] | None = None) -> TabularModel:
    """Called by ``mlflow.pyfunc.load_model``; the torch model itself loads through ``mlflow.pytorch``.

    The weights were logged on the CPU, so that is the default device (MLflow's own wrapper
    would pick a GPU, where a traced graph's weights cannot go).
    """
    import mlflow.pytorch
    from mlflow.environment_variables import MLFLOW_DEFAULT_PREDICTION_DEVICE
    from mlflow.models import Model

    root = os.path.dirname(os.path.abspath(data_path))
    names = Model.load(os.path.join(root, "MLmodel")).metadata["feature_names"]
    device = (model_config or {}).get("device") or MLFLOW_DEFAULT_PREDICTION_DEVICE.get() or "cpu"
    return TabularModel(mlflow.pytorch.load_model(root, device=device), names, device)


class TabularModel:
    """``predict`` takes a DataFrame with the named feature columns (any order, integer or float,
    extra columns ignored) or a NumPy array of shape (rows, features) or (features,)."""

    def __init__(self, model: Any, feature_names: list[str], device: str) -> None:
        self.model = model
        self.feature_names = list(feature_names)
        self.device = device

    def get_raw_model(self) -> Any:
        """The torch module (MLflow's wrappers offer the same)."""
        return self.model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Probabilities (classification) or values, as a DataFrame for a DataFrame, else an array."""
        import pandas as pd
        import torch

        matrix = self.matrix(data)
        with torch.no_grad():
            output = self.model(torch.from_numpy(matrix).to(self.device)).cpu().numpy()
        return pd.DataFrame(output, index=data.index) if isinstance(data, pd.DataFrame) else output

    def matrix(self, data: Any) -> Any:
        """A new C-contiguous, writable float64 array of shape (rows, features): what the model
        was traced with (torch refuses negative strides and warns about read-only arrays)."""
        import numpy as np
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            values = self._columns(data)
        elif isinstance(data, (np.ndarray, list, tuple)):
            values = np.asarray(data)
            if values.ndim == 1:
                values = values.reshape(1, -1)  # one row
        else:
            raise _invalid(f"the model takes a pandas DataFrame or a NumPy array, not {type(data).__name__}")
        width = len(self.feature_names)
        if values.ndim != 2 or values.shape[1] != width:
            raise _invalid(
                f"the model takes rows of {width} features ({self._shown()}); "
                f"got an array of shape {values.shape}"
            )
        if values.dtype.kind not in "biuf":
            raise _invalid(f"the features must be numbers; got an array of {values.dtype}")
        return np.array(values, dtype=np.float64, order="C")  # always a copy: writable, contiguous

    def _columns(self, frame: Any) -> Any:
        """The feature columns by name; by position only when the frame's columns are unnamed
        (0, 1, ..., as ``pd.DataFrame(array)`` makes them) and name none of the features.

        A model whose features are unnamed too (f0, f1, ...) takes such a frame, or one with the
        columns f0, f1, ... (by name); a frame with other names is an error, not read by position.
        """
        import numpy as np
        from pandas.api.types import is_numeric_dtype

        names, columns = self.feature_names, list(frame.columns)
        missing = [name for name in names if name not in columns]
        unnamed = columns == list(range(len(columns)))
        if missing and len(missing) == len(names) and unnamed and len(columns) == len(names):
            selected = frame
        elif len(missing) == len(names):
            generic = names == [f"f{i}" for i in range(len(names))]
            hint = (
                "; the model's features have no names (f0, f1, ...): pass a NumPy array, a DataFrame "
                "with unnamed columns (pd.DataFrame(array)) or one with the columns f0, f1, ..."
                if generic
                else ""
            )
            raise _invalid(
                f"the input has none of the model's feature columns {self._shown()}; "
                f"its columns are {columns[:SHOWN_NAMES]}{hint}"
            )
        elif missing:
            more = f" (and {len(missing) - 1} more: {missing[1:SHOWN_NAMES]})" if len(missing) > 1 else ""
            raise _invalid(
                f"feature column {missing[0]!r} is missing from the input{more}; the model takes "
                f"the columns {self._shown()} (in any order; extra columns are ignored)"
            )
        else:
            selected = frame[names]
        for name in selected.columns:
            if not is_numeric_dtype(selected[name]):
                raise _invalid(f"feature column {name!r} holds {selected[name].dtype}, not numbers")
        return selected.to_numpy(dtype=np.float64, na_value=np.nan)

    def _shown(self) -> str:
        names = self.feature_names
        return str(names) if len(names) <= SHOWN_NAMES else f"{names[:SHOWN_NAMES]} ... ({len(names)} in all)"


def _invalid(message: str) -> Exception:
    """MLflow's error for input that does not fit the model, as its own schema checks raise."""
    from mlflow.exceptions import MlflowException

    return MlflowException.invalid_parameter_value(message)
