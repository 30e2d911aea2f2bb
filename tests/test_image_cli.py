"""Images end to end: the bundled digits_images example through the real CLI (run, check,
predict on a folder of PNGs), and bad image folders as exit code 2 naming the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from aiforge.cli import main

pytestmark = pytest.mark.slow


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AIFORGE_LOG_LEVEL": "INFO",
        "AIFORGE_TRACKING": "false",
        "AIFORGE_DATA_DIR": str(cwd / "data"),
    }
    env.pop("AIFORGE_RESULTS_DIR", None)
    command = [sys.executable, "-m", "aiforge", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=400)


def test_the_digits_images_example_trains_checks_and_predicts_from_png_files(tmp_path):
    result = run_cli("run", "--example", "digits_images", "-o", "training_config.epochs=6", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "data" / "digits_png"
    assert sorted(p.name for p in folder.iterdir()) == [str(d) for d in range(10)]
    assert len(list(folder.glob("*/*.png"))) == 1797  # the images really went through PNG files
    (run_dir,) = (tmp_path / "results" / "digits_images").iterdir()
    results = json.loads((run_dir / "final_results.json").read_text())
    assert results["final_val_metrics"]["accuracy"] >= 0.9
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["dataset_plugin"] == "digits_png"

    check = run_cli("check", "--example", "digits_images", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "features [64, 1, 16, 16]" in check.stdout

    inputs = tmp_path / "to_predict"
    for digit in (3, 7):
        source = sorted((folder / str(digit)).glob("*.png"))[0]
        (inputs / "sub").mkdir(parents=True, exist_ok=True)
        (inputs / "sub" / f"digit{digit}.png").write_bytes(source.read_bytes())
    (inputs / "readme.txt").write_text("not an image: not read")
    out = tmp_path / "predictions.csv"
    predicted = run_cli("predict", str(run_dir), "--input", str(inputs), "--output", str(out), cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    table = pd.read_csv(out)
    assert [Path(p).name for p in table["path"]] == ["digit3.png", "digit7.png"]
    assert list(table.columns[:2]) == ["path", "prediction"]
    assert [c for c in table.columns if c.startswith("prob_")] == [f"prob_{d}" for d in range(10)]
    assert table["prediction"].tolist() == [3, 7]
    # A file named like a table is still a file to read as an image on an image run.
    other = run_cli(
        "predict", str(run_dir), "--input", str(inputs / "readme.txt"), "--output", "o.csv", cwd=tmp_path
    )
    assert other.returncode == 2 and "readme.txt" in other.stderr and "image" in other.stderr


def write_images(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        for n in range(6):
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(root / name / f"{n}.png")
    return root


def truncate(path: Path) -> None:
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:300])


BAD_FOLDERS = {
    "empty-class": (lambda root: (root / "c").mkdir(), "c has no image files"),
    "not-an-image": (lambda root: (root / "a" / "x.png").write_text("hi"), "x.png: not an image"),
    "truncated": (lambda root: truncate(root / "b" / "t.png"), "t.png: damaged or truncated"),
    "single-class": (lambda root: __import__("shutil").rmtree(root / "b"), "a single class folder 'a'"),
}


@pytest.mark.parametrize("case", sorted(BAD_FOLDERS))
def test_a_bad_image_folder_exits_2_naming_the_file(tmp_path, capsys, case):
    arrange, message = BAD_FOLDERS[case]
    arrange(write_images(tmp_path / "images"))
    config = {
        "experiment_name": "bad_images",
        "model_plugin": "simple_nn",
        "dataset_plugin": "image_folder",
        "data_path": str(tmp_path / "images"),
        "training_config": {"epochs": 1, "batch_size": 4},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["check", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_skipped_bad_images_are_counted_and_the_run_goes_on(tmp_path, capsys):
    root = write_images(tmp_path / "images")
    (root / "a" / "x.png").write_text("hi")
    truncate(root / "b" / "t.png")
    config = {
        "experiment_name": "skipping",
        "model_plugin": "simple_nn",
        "dataset_plugin": "image_folder",
        "data_path": str(root),
        "dataset_args": {"on_bad_item": "skip"},
        "training_config": {"epochs": 1, "batch_size": 4},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["check", str(path)]) == 0
    assert "skipped 2 bad image file(s)" in capsys.readouterr().err
