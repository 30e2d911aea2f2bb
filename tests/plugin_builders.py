"""Shared builders for plugins that live outside the aiforge package.

``make_entry_point_plugin`` and ``make_folder_plugin`` are plain functions so that
end-to-end tests can import them (``from plugin_builders import ...``) and point a CLI
subprocess at the result with ``PYTHONPATH`` / ``AIFORGE_PLUGINS_DIR``.
Both plugins are complete: a working model (with its own config class) and a
small learnable dataset, so a real run can use them as model and dataset plugin.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any


def tiny_experiment(name: str) -> dict[str, Any]:
    """A one-epoch experiment on the built-in simple_nn plugins: seconds to run, for CLI tests."""
    return {
        "experiment_name": name,
        "model_plugin": "simple_nn",
        "dataset_plugin": "simple_nn",
        "dataset_args": {"num_samples": 40, "input_dim": 4},
        "model_config": {"hidden_dim": 8},
        "training_config": {"epochs": 1, "batch_size": 8},
    }


_CONFIG_AND_MODEL = """
from pydantic import Field, PositiveInt
from torch import nn

from aiforge.config.model_configs import ModelSpecificConfig
from aiforge.core.base_model import BaseModel


class {config_name}(ModelSpecificConfig):
    input_dim: PositiveInt | None = None
    output_dim: PositiveInt | None = None
    width: PositiveInt = Field(8, description="Hidden width.")


class Model(BaseModel):
    config_class = {config_name}

    def __init__(self, model_config: {config_name}) -> None:
        super().__init__(model_config)
        self.net = {make_net}

    def forward(self, x):
        return self.net(x.flatten(start_dim=1))
"""

_DATASET = '''
import torch

from aiforge.core.data_pipeline import InMemoryDataset


class Dataset(InMemoryDataset):
    """Two Gaussian blobs; the label is the sign of the feature sum (learnable)."""

    def load_data(self, data_path=None, num_samples=64, input_dim=4, seed=0, **_):
        generator = torch.Generator().manual_seed(seed)
        features = torch.randn(num_samples, input_dim, generator=generator)
        self.set_tensors(features, (features.sum(dim=1) > 0).long())
        self.class_names = ["neg", "pos"]
'''


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def make_entry_point_plugin(
    root: Path, name: str = "extplug", package: str = "ext_plugin_pkg", dist: str = "ext-plugin-pkg"
) -> str:
    """An installed-distribution stand-in under ``root``: a package plus its ``.dist-info``.

    With ``root`` on ``sys.path`` (or ``PYTHONPATH``), ``importlib.metadata`` sees the
    distribution ``dist`` registering ``name = package`` in the ``aiforge.plugins``
    entry-point group. Returns the plugin name.
    """
    pkg = root / package
    _write(pkg / "__init__.py", '"""An AIForge plugin shipped by an installed distribution."""\n')
    model = _CONFIG_AND_MODEL.format(
        config_name="ExtConfig",
        make_net="nn.Sequential(nn.Linear(model_config.input_dim, model_config.width), nn.ReLU(), "
        "nn.Linear(model_config.width, model_config.output_dim))",
    )
    _write(pkg / "model.py", model)
    _write(pkg / "dataset.py", _DATASET)
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    _write(info / "METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    _write(info / "entry_points.txt", f"[aiforge.plugins]\n{name} = {package}\n")
    return name


def make_folder_plugin(plugins_dir: Path, name: str) -> None:
    """A plugin package ``plugins_dir/name/`` whose model.py uses a relative import."""
    pkg = plugins_dir / name
    _write(pkg / "__init__.py", '"""A user plugin in a plain folder."""\n')
    _write(
        pkg / "layers.py",
        """
        from torch import nn


        def make_layers(input_dim, width, output_dim):
            return nn.Sequential(nn.Linear(input_dim, width), nn.Tanh(), nn.Linear(width, output_dim))
        """,
    )
    model = _CONFIG_AND_MODEL.format(
        config_name="FolderConfig",
        make_net="make_layers(model_config.input_dim, model_config.width, model_config.output_dim)",
    )
    _write(pkg / "model.py", "from .layers import make_layers\n" + textwrap.dedent(model))
    _write(pkg / "dataset.py", _DATASET)


def make_width_plugin(
    root: Path,
    loss: str,
    outputs: str = "model_config.output_dim",
    rows: str = "",
    dataset: str | None = None,
    experiment: str = "width",
) -> str:
    """A folder plugin in ``root/plugins`` (under a name of its own: imported plugin modules stay
    cached by name) whose model's last layer has ``outputs`` columns and whose forward's result is
    sliced by ``rows`` (``"[:-1]"``: one row short), and ``root/exp.yaml`` that trains it with
    ``loss`` on ``dataset`` (default: its own 2-class data). Returns the plugin's name."""
    import uuid

    import yaml

    name = f"{experiment}_{uuid.uuid4().hex[:8]}"
    make_folder_plugin(root / "plugins", name)
    model = root / "plugins" / name / "model.py"
    text = model.read_text(encoding="utf-8").replace("model_config.output_dim)", f"{outputs})")
    text = text.replace(
        "return self.net(x.flatten(start_dim=1))", f"return self.net(x.flatten(start_dim=1)){rows}"
    )
    model.write_text(text, encoding="utf-8")
    config = {
        "experiment_name": experiment,
        "model_plugin": name,
        "dataset_plugin": dataset or name,
        "training_config": {"epochs": 1, "batch_size": 8, "loss_fn_name": loss},
    }
    (root / "exp.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return name


def finished_iris_run(root: Path, experiment: str) -> Path:
    """A finished two-epoch iris run (tracking off) under ``root/results``: its run folder."""
    from aiforge.config.model_configs import ExperimentConfig, TrainingConfig
    from aiforge.config.settings import AppSettings
    from aiforge.core.orchestrator import Orchestrator

    settings = AppSettings(RESULTS_DIR=root / "results", DEVICE="cpu", TRACKING=False, LOG_LEVEL="WARNING")
    config = ExperimentConfig(
        experiment_name=experiment,
        model_plugin="simple_nn",
        dataset_plugin="iris",
        tracking={"enabled": False},
        training_config=TrainingConfig(epochs=2, batch_size=32),
    )
    return Path(Orchestrator(config, settings=settings).run_experiment()["run_dir"])


def one_batch_trainer(model: Any, plugin: str, classes: int = 2) -> Any:
    """A Trainer (Python API) for ``model`` with CrossEntropyLoss and SGD, told the class count;
    ``trainer.fit(batches, batches, 1)`` then trains one epoch on 8-row batches of 4 features."""
    import torch

    from aiforge.config.model_configs import TrainingConfig
    from aiforge.training.trainer import Trainer
    from aiforge.utils.metrics import MetricSet

    model.loss_fn = model.configure_loss_fn("CrossEntropyLoss")
    return Trainer(
        model,
        model.configure_optimizer("SGD", 0.1),
        TrainingConfig(epochs=1, batch_size=8),
        torch.device("cpu"),
        MetricSet(["accuracy"], "classification", classes),
        plugin_names=(plugin, "data"),
        num_classes=classes,
    )
