"""The image_folder plugin: layout, decoding (cached and lazy alike), bad files, the image
Preprocessor (normalisation fitted on training rows, per-image augmentation) and predict's files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tests.log_capture import logged_messages

from aiforge.data.fitting import fitted_preprocessor
from aiforge.errors import ArgumentError, DataError, PluginError
from aiforge.inference_commands.predict import input_files
from aiforge.plugins.image_folder.dataset import Dataset
from aiforge.plugins.image_folder.preprocessor import Preprocessor


@pytest.fixture
def warnings():
    yield from logged_messages("WARNING")


def write_image(path: Path, pixels: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8), mode=mode).save(path)
    return path


def make_folder(root: Path, classes=("cat", "dog"), per_class=5, size=(6, 8), rgb=True, seed=0) -> Path:
    """Random images, a different size each (resizing is exercised), in class folders."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        for n in range(per_class):
            height, width = size[0] + n % 2, size[1] + n % 3
            shape = (height, width, 3) if rgb else (height, width)
            pixels = rng.integers(0, 256, shape) // 2 + 100 * label
            sub = "nested/" if n == 0 else ""
            write_image(root / name / f"{sub}{n}.png", pixels)
    return root


def loaded(root: Path, **dataset_args) -> Dataset:
    dataset = Dataset()
    dataset.load_data(str(root), **dataset_args)
    return dataset


def test_class_folders_give_sorted_class_names_and_labels(tmp_path):
    root = make_folder(tmp_path / "imgs", classes=("zebra", "ant", "moth"), per_class=3)
    (root / "ant" / "notes.txt").write_text("not an image, ignored")
    (root / "ant" / ".hidden.png").write_text("hidden, ignored")
    dataset = loaded(root, image_size=[4, 5])
    assert dataset.class_names == ["ant", "moth", "zebra"]
    assert dataset.labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3
    assert dataset.files[0] == root / "ant" / "1.png"  # sorted paths; nested/0.png sorts after
    assert dataset[0]["features"].shape == (3, 4, 5) and dataset[0]["features"].dtype == torch.uint8


def test_size_defaults_to_the_first_image_and_color_mode_follows_it(tmp_path):
    gray = loaded(make_folder(tmp_path / "gray", rgb=False, size=(7, 9)))
    assert gray.color_mode == "grayscale" and gray.image_size == (8, 10)  # cat/1.png, the first file
    assert gray.as_tensors()["features"].shape == (10, 1, 8, 10)
    forced = loaded(tmp_path / "gray", color_mode="rgb", image_size=12)
    assert forced.as_tensors()["features"].shape == (10, 3, 12, 12)


def test_lazy_decoding_gives_exactly_the_cached_tensors(tmp_path):
    root = make_folder(tmp_path / "imgs")
    cached = loaded(root, image_size=[5, 7], cache=True)
    lazy = loaded(root, image_size=[5, 7], cache=False)
    assert lazy.as_tensors() is None
    lazy_images = torch.stack([lazy[i]["features"] for i in range(len(lazy))])
    assert torch.equal(cached.as_tensors()["features"], lazy_images)
    assert torch.equal(cached.labels, torch.stack([lazy[i]["labels"] for i in range(len(lazy))]))
    assert torch.equal(cached.features_from_files(cached.files), lazy_images)


def test_predict_files_are_listed_recursively_and_decoded_as_in_training(tmp_path):
    root = make_folder(tmp_path / "imgs")
    files = input_files([root], Dataset.file_suffixes)  # what predict --input FOLDER reads
    assert files == sorted(files) and len(files) == 10 and root / "cat" / "nested" / "0.png" in files
    assert input_files([files[3]]) == [files[3]]
    dataset = loaded(root, image_size=[4, 4])
    images = dataset.features_from_files(files)
    by_path = dict(zip(dataset.files, dataset.as_tensors()["features"], strict=True))
    assert all(torch.equal(image, by_path[path]) for image, path in zip(images, files, strict=True))
    (tmp_path / "bad.png").write_text("text")
    with pytest.raises(DataError, match=r"bad\.png"):
        dataset.features_from_files([tmp_path / "bad.png"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no input files"):
        input_files([tmp_path / "empty"], Dataset.file_suffixes)


def truncated_png(path: Path) -> Path:
    write_image(path, np.random.default_rng(1).integers(0, 256, (64, 64, 3)))  # a header, then pixel data
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("cache", [True, False])
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / "cat" / "x.png").write_text("hello"), r"cat/x\.png: not an image"),
        (lambda p: truncated_png(p / "dog" / "t.png"), r"dog/t\.png: damaged or truncated"),
    ],
)
def test_a_bad_image_is_an_error_naming_it_or_skipped_and_counted(tmp_path, warnings, damage, message, cache):
    root = make_folder(tmp_path / "imgs")
    damage(root)
    with pytest.raises(DataError, match=message):
        loaded(root, cache=cache)
    dataset = loaded(root, cache=cache, on_bad_item="skip")
    assert len(dataset) == 10 and dataset.skipped == 1
    assert [w for w in warnings if "skipped 1 bad image file(s)" in w]


@pytest.mark.parametrize(
    ("arrange", "message"),
    [
        (lambda p: (p / "empty_class").mkdir(), r"class folder .*empty_class has no image files"),
        (lambda p: [(p / "cat").rename(p / "c"), __import__("shutil").rmtree(p / "dog")], "single class"),
        (lambda p: [__import__("shutil").rmtree(p / c) for c in ("cat", "dog")], "no class subfolders"),
    ],
)
def test_folder_layout_problems_are_data_errors(tmp_path, arrange, message):
    root = make_folder(tmp_path / "imgs")
    arrange(root)
    with pytest.raises(DataError, match=message):
        loaded(root)


def test_a_class_whose_every_image_is_skipped_is_an_error(tmp_path):
    root = make_folder(tmp_path / "imgs")
    (root / "zzz").mkdir()
    (root / "zzz" / "a.png").write_text("no")
    with pytest.raises(DataError, match=r"zzz has no readable images left"):
        loaded(root, on_bad_item="skip")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_links_out_of_the_folder_are_refused_links_inside_followed(tmp_path):
    root = make_folder(tmp_path / "imgs")
    outside = write_image(tmp_path / "secret.png", np.zeros((6, 8, 3)))
    (root / "cat" / "inside.png").symlink_to(root / "dog" / "1.png")
    assert len(loaded(root)) == 11
    (root / "dog" / "link.png").symlink_to(outside)
    with pytest.raises(DataError, match=r"link\.png is a link to .*secret\.png, outside"):
        loaded(root)
    (root / "dog" / "link.png").unlink()
    (root / "bird").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(DataError, match=r"bird is a link to .*, outside"):
        loaded(root)


@pytest.mark.parametrize(
    "args",
    [
        {"image_size": [0, 3]},
        {"image_size": "big"},
        {"color_mode": "cmyk"},
        {"cache": "yes"},
        {"on_bad_item": "ignore"},
    ],
)
def test_bad_dataset_args_are_data_errors(tmp_path, args):
    with pytest.raises(DataError, match=next(iter(args))):
        loaded(make_folder(tmp_path / "imgs"), **args)


def two_kinds(tmp_path: Path) -> tuple[Dataset, torch.Tensor, torch.Tensor]:
    """Dark 'cat' images and bright 'dog' images: statistics tell which rows were used."""
    root = tmp_path / "imgs"
    for n in range(4):
        write_image(root / "cat" / f"{n}.png", np.full((4, 4, 3), 10 * n))
        write_image(root / "dog" / f"{n}.png", np.full((4, 4, 3), 200 + 10 * n))
    dataset = loaded(root)
    return dataset, torch.arange(4), torch.arange(4, 8)


def test_normalisation_is_fitted_on_the_training_rows_only(tmp_path):
    dataset, train, _ = two_kinds(tmp_path)
    preprocessor = fitted_preprocessor(Preprocessor, dataset, train, "image_folder", {})
    pixels = dataset.as_tensors()["features"][train].double() / 255
    assert torch.allclose(preprocessor.mean, pixels.mean(dim=(0, 2, 3)).float())
    assert torch.allclose(preprocessor.std, pixels.std(dim=(0, 2, 3), unbiased=False).float())
    out = preprocessor.transform_batch({"features": dataset.as_tensors()["features"][train]})["features"]
    assert out.dtype == torch.float32 and abs(float(out.mean())) < 1e-5


def test_given_imagenet_and_no_normalisation(tmp_path):
    dataset, _, _ = two_kinds(tmp_path)
    images = dataset.as_tensors()["features"]
    fitted = Preprocessor()
    fitted.fit(images, mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    assert fitted.normalize == "given"
    assert torch.allclose(
        fitted.transform_batch({"features": images})["features"], (images / 255 - 0.5) / 0.25
    )
    fitted.fit(images, normalize="imagenet")
    assert fitted.mean.tolist() == pytest.approx([0.485, 0.456, 0.406])
    fitted.fit(images, normalize="none")
    assert torch.equal(fitted.transform_batch({"features": images})["features"], images / 255)
    with pytest.raises(ArgumentError, match="one number or 3"):
        fitted.fit(images, mean=[0.5, 0.5], std=[1, 1])
    with pytest.raises(ArgumentError, match="normalize must be one of"):
        fitted.fit(images, normalize="standard")


def test_the_saved_state_restores_exactly(tmp_path):
    dataset, train, _ = two_kinds(tmp_path)
    images = dataset.as_tensors()["features"]
    fitted = Preprocessor()
    fitted.fit(images[train], augment=[{"RandomHorizontalFlip": {"p": 0.5}}])
    fitted.save(tmp_path / "state.safetensors")
    restored = Preprocessor()
    restored.load(tmp_path / "state.safetensors")
    assert restored.state_dict().keys() == fitted.state_dict().keys()
    assert restored.augment == [{"RandomHorizontalFlip": {"p": 0.5}}]
    assert torch.equal(
        restored.transform_batch({"features": images})["features"],
        fitted.transform_batch({"features": images})["features"],
    )
    Preprocessor().save(tmp_path / "never_fitted.safetensors")
    with pytest.raises(DataError, match="never fitted"):
        Preprocessor().load(tmp_path / "never_fitted.safetensors")


def test_augmentation_draws_per_image_and_keeps_uint8(tmp_path):
    left_half = np.zeros((6, 6), dtype=np.uint8)
    left_half[:, :3] = 255
    images = torch.from_numpy(left_half).expand(32, 1, 6, 6).clone()
    preprocessor = Preprocessor()
    preprocessor.fit(images, augment=["RandomHorizontalFlip"])
    torch.manual_seed(0)
    out = preprocessor.augment_batch({"features": images, "labels": torch.zeros(32)})["features"]
    assert out.dtype == torch.uint8 and out.shape == images.shape
    flipped = [bool(torch.equal(image, images[0].flip(-1))) for image in out]
    assert 0 < sum(flipped) < 32  # some images flipped, some not: not one draw for the batch
    expected = (images / 255 - preprocessor.mean.view(-1, 1, 1)) / preprocessor.std.view(-1, 1, 1)
    assert torch.allclose(
        preprocessor.transform_batch({"features": images})["features"], expected
    )  # no flips


def test_no_augment_leaves_the_batch_as_it_is(tmp_path):
    dataset, train, _ = two_kinds(tmp_path)
    preprocessor = fitted_preprocessor(Preprocessor, dataset, train, "image_folder", {})
    batch = {"features": dataset.as_tensors()["features"]}
    assert preprocessor.augment_batch(batch) is batch


@pytest.mark.parametrize(
    ("augment", "message"),
    [
        ([{"RandomFlip": {"p": 0.5}}], r"augment\[0\]: 'RandomFlip' is not a transform .*did you mean"),
        ([{"RandomCrop": {"sise": 4}}], r"augment\[0\]: RandomCrop\(sise=4\) is not valid"),
        ("RandomHorizontalFlip", "must be a list"),
        ([{"RandomApply": {"transforms": ["NoSuch"]}}], r"augment\[0\]\.RandomApply\[0\]: 'NoSuch'"),
    ],
)
def test_bad_augment_entries_are_argument_errors_naming_them(tmp_path, augment, message):
    dataset, _, _ = two_kinds(tmp_path)
    with pytest.raises(ArgumentError, match=message):
        Preprocessor().fit(dataset.as_tensors()["features"], augment=augment)


def test_an_augmentation_that_changes_the_size_is_refused(tmp_path):
    dataset, _, _ = two_kinds(tmp_path)
    with pytest.raises(
        ArgumentError, match=r"augment\[0\] \(Resize\) turns images of shape \[3, 4, 4\] .* into \[3, 2, 2\]"
    ):  # at fit time, tried on training images: not at the first training batch
        Preprocessor().fit(dataset.as_tensors()["features"], augment=[{"Resize": {"size": [2, 2]}}])
    preprocessor = Preprocessor()
    preprocessor.fit(dataset.as_tensors()["features"])
    preprocessor.augment = [{"Resize": {"size": [2, 2]}}]  # e.g. a saved state: still refused per batch
    with pytest.raises(ArgumentError, match=r"turns images of shape \[3, 4, 4\] .* into \[3, 2, 2\]"):
        preprocessor.augment_batch({"features": dataset.as_tensors()["features"]})


def test_augment_without_torchvision_names_the_install_command(tmp_path, monkeypatch):
    dataset, _, _ = two_kinds(tmp_path)
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision -> ImportError
    with pytest.raises(PluginError, match=r'pip install "torch==2.13.0" "torchvision==0.28.0"'):
        Preprocessor().fit(dataset.as_tensors()["features"], augment=["RandomHorizontalFlip"])
    Preprocessor().fit(dataset.as_tensors()["features"])  # no augment: no torchvision needed


def test_reading_and_normalising_never_import_torchvision(tmp_path):
    root = make_folder(tmp_path / "imgs")
    code = (
        "import sys; from aiforge.plugins.image_folder.dataset import Dataset; "
        "from aiforge.plugins.image_folder.preprocessor import Preprocessor; "
        f"d = Dataset(); d.load_data({str(root)!r}); p = Preprocessor(); "
        "p.fit(d.as_tensors()['features']); p.transform_batch(d.as_tensors()); "
        "p.augment_batch(d.as_tensors()); print('torchvision' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("cache", [True, False])
def test_core_augments_training_batches_only(tmp_path, cache):
    from aiforge.data.batching import make_batches

    root = tmp_path / "imgs"
    for label, name in enumerate(("cat", "dog")):
        for n in range(8):
            pixels = np.zeros((4, 4), dtype=np.uint8)
            pixels[:, :2] = 50 + 100 * label
            write_image(root / name / f"{n}.png", pixels)
    dataset = loaded(root, cache=cache)
    rows = torch.arange(len(dataset))
    preprocessor = Preprocessor()
    preprocessor.fit(
        torch.stack([dataset[i]["features"] for i in range(len(dataset))]),
        normalize="none",
        augment=[{"RandomHorizontalFlip": {"p": 1.0}}],
    )
    plain = preprocessor.transform_batch({"features": torch.stack([dataset[i]["features"] for i in rows])})
    shuffled = torch.cat([b["features"] for b in make_batches(dataset, rows, preprocessor, 16, True, 0)])
    fixed = torch.cat([b["features"] for b in make_batches(dataset, rows, preprocessor, 16, False, 0)])
    assert torch.equal(fixed, plain["features"])  # validation order: never augmented
    assert torch.equal(shuffled.sort(dim=0).values, plain["features"].flip(-1).sort(dim=0).values)


def test_rendering_the_digits_again_beside_a_finished_folder_is_harmless(tmp_path):
    from aiforge.plugins.digits_png.dataset import render_digits

    folder = tmp_path / "digits_png"
    render_digits(folder)
    render_digits(folder)  # as a second process that lost the race: its copy is dropped
    assert [p.name for p in tmp_path.iterdir()] == ["digits_png"]  # no temporary folder left
    assert len(list(folder.glob("*/*.png"))) == 1797
