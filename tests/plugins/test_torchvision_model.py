"""torchvision_model: any torchvision classifier by name, offline; user weights loaded with a new head."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from aiforge.errors import AIForgeError, CheckpointError
from aiforge.plugins.torchvision_model.config import TorchvisionModelConfig
from aiforge.plugins.torchvision_model.model import Model
from aiforge.runtime.torchvision_import import import_torchvision


def config(**fields) -> TorchvisionModelConfig:
    return TorchvisionModelConfig(**{"name": "resnet18", "in_channels": 3, "output_dim": 4, **fields})


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("size", [(32, 32), (40, 56)])
def test_outputs_for_gray_colour_and_other_channel_counts(channels, size):
    model = Model(config(in_channels=channels)).eval()
    with torch.no_grad():
        assert model(torch.rand(2, channels, *size)).shape == (2, 4)


def test_another_architecture_by_name():
    model = Model(config(name="mobilenet_v3_small", output_dim=7)).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 32, 32)).shape == (1, 7)


def test_unknown_name_suggests_the_closest():
    with pytest.raises(
        ValidationError, match=r"unknown torchvision classification model 'resnet19'.*did you mean 'resnet18'"
    ):
        config(name="resnet19")


def test_detection_models_are_not_offered():
    with pytest.raises(ValidationError, match="unknown torchvision classification model"):
        config(name="fasterrcnn_resnet50_fpn")


@pytest.mark.parametrize("weights", ["DEFAULT", "IMAGENET1K_V1", "ResNet18_Weights.IMAGENET1K_V1"])
def test_named_weights_are_refused_instead_of_downloaded(weights, monkeypatch):
    torchvision = import_torchvision()

    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torchvision.models._api.WeightsEnum, "get_state_dict", no_download)
    with pytest.raises(ValidationError, match=r"never downloads.*weights_file"):
        config(weights=weights)


def test_weights_file_round_trip_replaces_only_the_head(tmp_path):
    torchvision = import_torchvision()
    torch.manual_seed(0)
    source = torchvision.models.get_model("resnet18", weights=None, num_classes=10)
    path = tmp_path / "resnet18_10.pth"
    torch.save(source.state_dict(), path)
    model = Model(config(output_dim=3, weights_file=str(path)))
    loaded, saved = model.network.state_dict(), source.state_dict()
    assert model.network.fc.out_features == 3
    for key, value in saved.items():
        if not key.startswith("fc."):
            assert torch.equal(loaded[key], value), key
    assert loaded["fc.weight"].shape == (3, 512)


def test_weights_file_with_the_same_class_count_is_loaded_whole(tmp_path):
    torchvision = import_torchvision()
    source = torchvision.models.get_model("resnet18", weights=None, num_classes=4)
    path = tmp_path / "w.pth"
    torch.save({"state_dict": source.state_dict()}, path)  # a Lightning-style wrapper is unwrapped
    model = Model(config(weights_file=str(path)))
    for key, value in source.state_dict().items():
        assert torch.equal(model.network.state_dict()[key], value), key


def test_weights_file_gray_input_keeps_the_rgb_first_conv(tmp_path):
    torchvision = import_torchvision()
    source = torchvision.models.get_model("resnet18", weights=None, num_classes=4)
    path = tmp_path / "w.pth"
    torch.save(source.state_dict(), path)
    model = Model(config(in_channels=1, weights_file=str(path)))
    assert torch.equal(model.network.conv1.weight, source.conv1.weight)


def test_weights_file_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config(weights_file="w.pth").weights_file == str(tmp_path / "w.pth")


def test_missing_weights_file(tmp_path):
    with pytest.raises(CheckpointError, match="no file at"):
        Model(config(weights_file=str(tmp_path / "nope.pth")))


def test_weights_file_that_is_not_a_state_dict(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="cannot be read as a PyTorch state dict"):
        Model(config(weights_file=str(text)))
    tensor = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor)
    with pytest.raises(CheckpointError, match="holds a Tensor, not a state dict"):
        Model(config(weights_file=str(tensor)))


def test_weights_file_of_another_architecture(tmp_path):
    torchvision = import_torchvision()
    path = tmp_path / "mobilenet.pth"
    torch.save(torchvision.models.get_model("mobilenet_v3_small", weights=None).state_dict(), path)
    with pytest.raises(CheckpointError, match="does not fit torchvision model 'resnet18'") as caught:
        Model(config(weights_file=str(path)))
    assert isinstance(caught.value, AIForgeError)  # exit 2


def test_torchscript_trace_of_a_gray_model():
    model = Model(config(name="resnet18", in_channels=1, output_dim=2)).eval()
    traced = torch.jit.trace(model, torch.rand(2, 1, 32, 32))
    batch = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(traced(batch), model(batch))


@pytest.mark.slow
def test_a_finished_run_predicts_after_its_weights_file_moved(tmp_path):
    import os
    import subprocess
    import sys

    import numpy as np
    import yaml
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, level in (("dark", 40), ("bright", 210)):
        (tmp_path / "images" / name).mkdir(parents=True)
        for index in range(8):
            pixels = np.clip(rng.normal(level, 20, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "images" / name / f"{index}.png")
    torch.save(Model(config(in_channels=3, output_dim=5)).network.state_dict(), tmp_path / "start.pth")
    experiment = {
        "experiment_name": "moved",
        "model_plugin": "torchvision_model",
        "dataset_plugin": "image_folder",
        "data_path": "images",
        "model_config": {"name": "resnet18", "weights_file": "start.pth"},
        "training_config": {"epochs": 1, "batch_size": 8},
    }
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(experiment))
    env = {**os.environ, "AIFORGE_TRACKING": "false"}

    def aiforge(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "aiforge", *args]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    trained = aiforge("run", "exp.yaml", "--results-dir", "results", "--no-progress")
    assert trained.returncode == 0, trained.stderr[-3000:]
    (run_dir,) = (tmp_path / "results" / "moved").iterdir()
    (tmp_path / "start.pth").unlink()  # the starting weights are gone; the run's own remain
    predicted = aiforge("predict", str(run_dir), "--input", "images/dark", "--output", "out.csv")
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 9
