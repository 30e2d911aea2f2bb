"""End-to-end: a cnn run on images, exported with `aiforge export`, gives the eager model's probabilities."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

pytestmark = pytest.mark.slow

_IMAGES_PLUGIN = '''
import torch

from aiforge.core.data_pipeline import InMemoryDataset


class Dataset(InMemoryDataset):
    """Float gray images [N, 1, 10, 12]: class 1 is brighter."""

    def load_data(self, data_path=None, num_samples=64):
        generator = torch.Generator().manual_seed(0)
        labels = torch.arange(num_samples) % 2
        noise = torch.rand(num_samples, 1, 10, 12, generator=generator) * 0.5
        images = noise + 0.4 * labels.view(-1, 1, 1, 1)
        self.set_tensors(images, labels)
        self.class_names = ["dark", "light"]
'''


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "AIFORGE_TRACKING": "false", **(env or {})}
    full_env.pop("AIFORGE_RESULTS_DIR", None)
    command = [sys.executable, "-m", "aiforge", *args]
    return subprocess.run(command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


def train(tmp_path: Path, config: dict, env: dict[str, str] | None = None) -> Path:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = run_cli("run", "config.yaml", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = [p for p in tmp_path.glob("results/*/*") if p.is_dir()]
    return run_dir


def exported_probabilities(run_dir: Path, tmp_path: Path, images: torch.Tensor, env=None) -> torch.Tensor:
    result = run_cli("export", str(run_dir), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    extra = {"aiforge.json": ""}
    scripted = torch.jit.load(str(run_dir / "inference_model.torchscript.pt"), _extra_files=extra)
    shape = json.loads(extra["aiforge.json"])["input_shape"]  # [C, H, W]: what to resize images to
    assert len(shape) == 3 and math.prod(shape) == math.prod(images.shape[1:])  # images may come flat
    with torch.no_grad():
        return scripted(images)


def test_cnn_run_on_in_memory_images_exports_to_torchscript(tmp_path):
    plugins = tmp_path / "plugins" / "tiny_images"
    plugins.mkdir(parents=True)
    (plugins / "__init__.py").write_text("")
    (plugins / "dataset.py").write_text(textwrap.dedent(_IMAGES_PLUGIN))
    env = {"AIFORGE_PLUGINS_DIR": str(tmp_path / "plugins")}
    config = {
        "experiment_name": "tiny_cnn",
        "model_plugin": "cnn",
        "dataset_plugin": "tiny_images",
        "model_config": {"channels": [4, 8]},
        "training_config": {"epochs": 1, "batch_size": 16},
    }
    run_dir = train(tmp_path, config, env)
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["model_config"]["in_channels"] == 1  # filled from the [N, C, H, W] batches
    images = torch.rand(5, 1, 10, 12)
    probabilities = exported_probabilities(run_dir, tmp_path, images, env)
    assert probabilities.shape == (5, 2)
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(5))
    flat = exported_probabilities(run_dir, tmp_path, images.reshape(5, -1), env)  # a table's rows
    torch.testing.assert_close(flat, probabilities)


def write_png_folder(root: Path, per_class: int = 12) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for index, name in enumerate(["dark", "light"]):
        (root / name).mkdir(parents=True)
        for item in range(per_class):
            pixels = np.clip(rng.normal(70 + 110 * index, 30, (12, 12, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{item}.png")


def test_image_folder_cnn_run_exports_to_torchscript(tmp_path):
    write_png_folder(tmp_path / "images")
    config = {
        "experiment_name": "folder_cnn",
        "model_plugin": "cnn",
        "dataset_plugin": "image_folder",
        "data_path": str(tmp_path / "images"),
        "model_config": {"channels": [4]},
        "training_config": {"epochs": 1, "batch_size": 8},
    }
    run_dir = train(tmp_path, config)
    images = torch.randint(0, 256, (3, 3, 12, 12)).float()  # raw pixel values, as float32
    probabilities = exported_probabilities(run_dir, tmp_path, images)
    assert probabilities.shape == (3, 2)
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(3))
