"""Hostile inputs to the image plugins, refused as user errors (exit 2) before training: augment
entries that fail on real images, 16-bit PNGs, huge image sizes, link loops, contradictory
normalisation, and torchvision model_args the builder does not take."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aiforge.errors import AIForgeError, ArgumentError, DataError
from aiforge.plugins.image_folder.dataset import Dataset
from aiforge.plugins.image_folder.decoding import ImageFormat, decode
from aiforge.plugins.image_folder.preprocessor import Preprocessor

needs_links = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")


def images(count: int = 4, size: int = 8) -> torch.Tensor:
    return torch.randint(0, 256, (count, 3, size, size), generator=torch.Generator().manual_seed(0)).to(
        torch.uint8
    )


def folder(root: Path, per_class: int = 2) -> Path:
    for label, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            Image.fromarray(np.full((4, 4, 3), 40 + 100 * label + n, np.uint8)).save(root / name / f"{n}.png")
    return root


@pytest.mark.parametrize(
    ("augment", "message"),
    [
        (
            [{"Resize": {"size": [16, 16]}}],
            r"augment\[0\] \(Resize\) turns .*\[3, 8, 8\].* into \[3, 16, 16\]",
        ),
        (["RandomHorizontalFlip", {"RandomResizedCrop": {"size": 4}}], r"augment\[1\] \(RandomResizedCrop\)"),
        ([{"Normalize": {"mean": [0], "std": [1]}}], r"augment\[0\]: Normalize .*preprocess_args\.normalize"),
        (["ToDtype"], r"augment\[0\]: ToDtype .*preprocess_args\.normalize"),
        (["ConvertImageDtype"], r"augment\[0\]: ConvertImageDtype"),
        (["ToPureTensor"], r"augment\[0\]: ToPureTensor"),
        (["Transform"], r"augment\[0\]: 'Transform' is a base class"),
        ([{"Lambda": {"lambd": "print"}}], r"augment\[0\]: Lambda .*not supported"),
        ([{"RandomApply": {"transforms": ["Lambda"]}}], r"augment\[0\]\.RandomApply\[0\]: Lambda"),
        ([{"RandomCrop": {"size": 20}}], r"augment\[0\] \(RandomCrop\) fails on the training images"),
        ([{"FiveCrop": {"size": 4}}], r"augment\[0\] \(FiveCrop\)"),
    ],
)
def test_augment_that_cannot_work_fails_at_fit(augment, message):
    with pytest.raises(ArgumentError, match=message):
        Preprocessor().fit(images(), augment=augment)


def test_augment_that_works_still_fits_and_augments():
    preprocessor = Preprocessor()
    preprocessor.fit(images(), augment=[{"RandomCrop": {"size": 8, "padding": 2}}, "RandomHorizontalFlip"])
    out = preprocessor.augment_batch({"features": images()})["features"]
    assert out.shape == (4, 3, 8, 8) and out.dtype == torch.uint8


def test_imagenet_together_with_mean_and_std_is_refused():
    with pytest.raises(ArgumentError, match=r"normalize: imagenet and mean/std.*one of them"):
        Preprocessor().fit(images(), normalize="imagenet", mean=[0.5], std=[0.2])


def test_16_bit_png_is_scaled_not_saturated(tmp_path):
    gradient = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1040).astype(np.uint16)  # 0 .. 65520
    path = tmp_path / "g16.png"
    Image.fromarray(gradient).save(path)
    assert Image.open(path).mode.startswith("I")
    gray = decode(path, ImageFormat("grayscale", (8, 8)))
    assert gray[0].numpy().tolist() == (gradient >> 8).astype(np.uint8).tolist()
    rgb = decode(path, ImageFormat("rgb", (8, 8)))
    assert torch.equal(rgb[0], gray[0]) and torch.equal(rgb[2], gray[0])


def test_32_bit_integer_image_is_read_as_16_bit_values(tmp_path):
    values = np.array([[0, 256, 65535, 70000]], dtype=np.int32).repeat(2, axis=0)
    path = tmp_path / "i32.tif"
    Image.fromarray(values, mode="I").save(path)
    gray = decode(path, ImageFormat("grayscale", (2, 4)))
    assert gray[0, 0].tolist() == [0, 1, 255, 255]


@pytest.mark.parametrize("size", [100000, [20000, 20000], [9460, 9460]])
def test_a_huge_image_size_is_refused_before_decoding(tmp_path, size):
    root = folder(tmp_path / "imgs")
    with pytest.raises(DataError, match=r"image_size .* pixels.*MAX_IMAGE_PIXELS"):
        Dataset().load_data(str(root), image_size=size)


@needs_links
def test_a_self_referencing_link_says_it_leads_nowhere(tmp_path):
    root = folder(tmp_path / "imgs")
    os.symlink("self.png", root / "cat" / "self.png")
    with pytest.raises(DataError, match=r"self\.png is a symbolic link that leads nowhere \(a loop"):
        Dataset().load_data(str(root))
    dataset = Dataset()
    dataset.load_data(str(root), on_bad_item="skip")
    assert len(dataset) == 4 and dataset.skipped == 1


@needs_links
def test_a_link_to_the_root_inside_a_class_folder_does_not_loop(tmp_path):
    root = folder(tmp_path / "imgs")
    os.symlink(root, root / "cat" / "back")
    dataset = Dataset()
    dataset.load_data(str(root))
    assert len(dataset) == 4
    assert sorted(p.name for p in dataset.files) == ["0.png", "0.png", "1.png", "1.png"]


@pytest.fixture
def tv_config():
    from aiforge.plugins.torchvision_model.config import TorchvisionModelConfig

    def make(**model_args):
        return TorchvisionModelConfig(name="resnet18", in_channels=3, output_dim=4, model_args=model_args)

    return make


@pytest.mark.parametrize(
    ("model_args", "message"),
    [
        ({"bogus": 1}, r"model_config\.model_args\.bogus: resnet18 takes no argument 'bogus'"),
        ({"num_classes": 3}, r"model_config\.model_args\.num_classes: .*from the data.*output_dim"),
        ({"weights": "DEFAULT"}, r"model_config\.model_args\.weights: .*download.*weights_file"),
        ({"weights_backbone": "DEFAULT"}, r"model_config\.model_args\.weights_backbone: .*weights_file"),
    ],
)
def test_model_args_the_builder_does_not_take_are_config_errors(tv_config, model_args, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        tv_config(**model_args)


def test_model_args_checked_when_the_model_is_built():
    from aiforge.plugins.torchvision_model import building

    with pytest.raises(ArgumentError, match=r"model_config\.model_args\.bogus") as caught:
        building.build("resnet18", 4, {"bogus": 1})
    assert isinstance(caught.value, AIForgeError)
    with pytest.raises(ArgumentError, match=r"model_config\.model_args .*layers.*resnet18 refuses them"):
        building.build("resnet18", 4, {"layers": [1, 1, 1, 1]})  # one the builder sets itself
    network = building.build("resnet18", 4, {"zero_init_residual": True})
    assert network.fc.out_features == 4
    building.check_model_args("vit_b_16", {"image_size": 32, "dropout": 0.1})
    building.check_model_args("mobilenet_v3_small", {"dropout": 0.3})


def test_model_args_the_builder_takes_are_accepted(tv_config):
    assert tv_config(zero_init_residual=True).model_args == {"zero_init_residual": True}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"preprocess_args": {"augment": [{"Resize": {"size": [16, 16]}}]}},
            "preprocess_args.augment[0] (Resize) turns images of shape [3, 4, 4]",
        ),
        (
            {"preprocess_args": {"augment": [{"Normalize": {"mean": [0], "std": [1]}}]}},
            "preprocess_args.augment[0]: Normalize changes",
        ),
        (
            {
                "model_plugin": "torchvision_model",
                "model_config": {"name": "resnet18", "model_args": {"bogus": 1}},
            },
            "model_config.model_args.bogus",
        ),
        ({"dataset_args": {"image_size": 100000}}, "dataset_args.image_size"),
    ],
)
def test_the_cli_check_exits_2_before_training(tmp_path, capsys, overrides, message):
    import yaml

    from aiforge.cli import main

    config = {
        "experiment_name": "hostile_images",
        "model_plugin": "simple_nn",
        "dataset_plugin": "image_folder",
        "data_path": str(folder(tmp_path / "imgs", per_class=4)),
        "training_config": {"epochs": 1, "batch_size": 4},
        **overrides,
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["check", str(path)]) == 2
    assert message in capsys.readouterr().err
