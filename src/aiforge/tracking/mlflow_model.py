"""The trained model in MLflow, with its preprocessing: a torch.export graph, pickled only as a fallback.

MLflow's ``pt2`` format stores a traced graph and the weights, so loading it runs no pickled
code. Not every model can be traced (Python control flow on tensor values, numpy inside a
preprocessor); such a model is pickled as before, with a warning that says why.
"""

from __future__ import annotations

import inspect
import logging
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiforge.runtime.log import logger

if TYPE_CHECKING:
    from collections.abc import Iterator

    import torch

EXAMPLE_ROWS = 5
PT2_MIN_TORCH = "2.4"  # MLflow saves and loads pt2 models only from this torch on
SAFE_FORMAT = "pt2"
PICKLE_FORMAT = "pickle"


def log_inference_model(model: torch.nn.Module, rows: torch.Tensor, names: list[str]) -> str:
    """Log ``model`` (the trained model with its preprocessing, on the CPU, in eval mode) under
    ``model`` in the active MLflow run; returns the format used. ``rows``: an example input (see
    :func:`example_rows`); ``names``: the names of its feature columns.

    Both formats get AIForge's pyfunc wrapper (:mod:`aiforge.tracking.mlflow_pyfunc`, copied into the
    model): a DataFrame's feature columns by name, integer or float, or an array of either float
    width. The signature names no inputs, since MLflow's input schemas take named columns or
    arrays but not both; the wrapper checks the input and names a missing column.
    """
    import mlflow
    import torch
    from mlflow.models import Model, ModelSignature, infer_signature

    with torch.no_grad():
        output = model(rows).numpy()
    traced = infer_signature(rows.numpy(), output)  # the tensor signature pt2 is saved with
    flavor = _TabularTorchFlavor(ModelSignature(outputs=traced.outputs))
    # Named requirements: inferring them scans the environment and takes many seconds.
    requirements = [f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}"]
    common: dict[str, Any] = {
        "artifact_path": None,  # MLflow 3 names a model with ``name``
        "name": "model",
        "flavor": flavor,
        "flavor_name": "mlflow.pytorch",
        "pytorch_model": model,
        "metadata": {"feature_names": names},
    }
    problem = pt2_problem(model, rows)
    if problem is None:  # MLflow traces it again, as this check did: a failure now is a real error
        with _quiet_example_check():
            Model.log(
                signature=traced,
                input_example=rows.numpy(),
                serialization_format=SAFE_FORMAT,
                pip_requirements=requirements,
                **common,
            )
        return SAFE_FORMAT
    logger.warning(
        f"The MLflow model is pickled: {problem}. Load it only from a store you trust "
        "(the run folder's own files need no pickle)."
    )
    import pandas as pd

    # A DataFrame with the named columns: what users pass to pyfunc's predict.
    example = pd.DataFrame(rows.numpy(), columns=names)
    format_option = {"serialization_format": PICKLE_FORMAT} if _has_format_option() else {}
    with _quiet_example_check(), _without_mlflow_pickle_warning():
        Model.log(
            signature=flavor.signature,
            input_example=example,
            pip_requirements=[*requirements, "aiforge"],  # unpickling needs AIForge's classes
            **format_option,
            **common,
        )
    return PICKLE_FORMAT


class _TabularTorchFlavor:
    """``mlflow.pytorch``'s model, whose pyfunc loader is AIForge's wrapper, copied into the model.

    The ``pytorch`` flavor stays as MLflow saves it, so ``mlflow.pytorch.load_model`` works too.
    """

    def __init__(self, signature: Any) -> None:
        self.signature = signature  # replaces the tensor signature pt2 is traced with

    def save_model(self, path: str, mlflow_model: Any, **options: Any) -> None:
        """Called by ``mlflow.models.Model.log`` with a new folder."""
        import mlflow.pytorch

        from aiforge.tracking import mlflow_pyfunc

        mlflow.pytorch.save_model(path=path, mlflow_model=mlflow_model, **options)
        code = Path(path) / "code"
        code.mkdir(exist_ok=True)
        copied = shutil.copyfile(mlflow_pyfunc.__file__, code / f"{mlflow_pyfunc.MODULE_NAME}.py")
        mlflow_model.model_size_bytes = (mlflow_model.model_size_bytes or 0) + copied.stat().st_size
        pyfunc = mlflow_model.flavors["python_function"]
        pyfunc.update(loader_module=mlflow_pyfunc.MODULE_NAME, code="code")
        mlflow_model.signature = self.signature
        mlflow_model.save(str(Path(path) / "MLmodel"))


def example_rows(features: torch.Tensor) -> torch.Tensor:
    """A few validation rows (``features``: a batch as stored), flattened, as float64 (what a
    DataFrame of numbers holds).

    At least two rows: torch.export fixes a dimension of size 1, and the batch must stay free.
    """
    import torch

    features = features[:EXAMPLE_ROWS].cpu()
    rows = features.reshape(len(features), -1).to(torch.float64)
    return rows if len(rows) > 1 else torch.cat([rows, rows])


def pt2_problem(model: torch.nn.Module, rows: torch.Tensor) -> str | None:
    """Why ``model`` cannot be stored as a traced graph, or ``None`` when it can.

    The batch size must stay free for any number of rows (a strict dimension: torch.export
    fails where the model fixes it, branches on it, or on a tensor's value, where MLflow's own
    trace would narrow it quietly), and the graph must give the model's own predictions for
    one row and for another number of rows than the traced example.
    """
    import mlflow
    import torch
    from packaging.version import Version  # an MLflow dependency

    if not _has_format_option():
        return f"this MLflow version ({mlflow.__version__}) has no {SAFE_FORMAT} format"
    if Version(torch.__version__.split("+")[0]) < Version(PT2_MIN_TORCH):
        return f"MLflow's {SAFE_FORMAT} format needs torch >= {PT2_MIN_TORCH} (this is {torch.__version__})"
    from torch.export import Dim, export

    probes = (rows[:1], torch.cat([rows, rows[:1]]))  # one row; another number of rows
    try:
        with torch.no_grad():
            eager = [model(probe) for probe in probes]
    except Exception as err:  # the model's own code: whatever it raises
        return f"the model itself fails on {len(rows) + 1} rows or one row ({_described(err)})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.export's own notes; a failure raises
            program = export(model, (rows,), dynamic_shapes=({0: Dim("batch")},))
        with torch.no_grad():
            traced = [program.module()(probe) for probe in probes]
    except Exception as err:  # torch.export raises many error types for code it cannot trace
        return f"torch.export cannot trace it ({_described(err)})"
    for got, expected in zip(traced, eager, strict=True):
        same = got.shape == expected.shape and torch.allclose(got, expected, 1e-4, 1e-6, equal_nan=True)
        if not same:
            return f"its traced graph predicts differently from the model on {len(expected)} row(s)"
    return None


def _has_format_option() -> bool:
    """MLflow 3 releases before the ``serialization_format`` option pickle every torch model."""
    import mlflow.pytorch

    return "serialization_format" in inspect.signature(mlflow.pytorch.log_model).parameters


def _described(err: BaseException) -> str:
    """The error's type and the first line of its message: torch.export's run to many lines."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:300] if text else ''}".rstrip(": ")


@contextmanager
def _quiet_example_check() -> Iterator[None]:
    """MLflow checks the example through pyfunc; pandas 3 warns about MLflow's own code there."""
    with warnings.catch_warnings():
        # pandas 3 about a comparison inside MLflow's example check, not about the user's data
        warnings.filterwarnings("ignore", "Operation with range is deprecated")
        yield


@contextmanager
def _without_mlflow_pickle_warning() -> Iterator[None]:
    """The run log already says why the model is pickled; MLflow's generic advice would repeat it."""
    mlflow_pytorch_logger = logging.getLogger("mlflow.pytorch")
    level = mlflow_pytorch_logger.level
    mlflow_pytorch_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        mlflow_pytorch_logger.setLevel(level)


def log_run_model(orchestrator: Any) -> None:
    """A finished run's model in its MLflow run (the active one), tagged with its format: the
    numeric model with its preprocessing, a raw-input model the dataset can feed, or none."""
    import mlflow

    example = orchestrator.numeric_example()
    if example is None:
        from aiforge.tracking.mlflow_raw_logging import can_log_raw_model, log_raw_input_model

        if can_log_raw_model(orchestrator):  # the dataset can read raw columns without its data
            mlflow.set_tag("aiforge.model_format", log_raw_input_model(orchestrator))
            return
        logger.info(
            "MLflow model not logged: it takes numeric features, and this run's inputs are raw "
            "values (text or categories); predict with `aiforge predict RUN_DIR --input FILE`"
        )
        mlflow.set_tag("aiforge.model_format", "none (raw inputs)")
        return
    model = orchestrator.inference_model().cpu().eval()
    model_format = log_inference_model(model, example_rows(example), orchestrator.feature_names())
    mlflow.set_tag("aiforge.model_format", model_format)
