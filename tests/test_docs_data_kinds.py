"""The worked examples of the tables, text, images and image-models pages run as written.

The tables and text pages show their bundled example's config: the shown keys must be the
example's (the example itself is trained end to end by tests/test_mixed_table_cli.py and
tests/test_text_cli.py). The images pages' configs are run here, on images made in the test.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from cli_runner import run_aiforge

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "src" / "aiforge" / "examples"


def yaml_block_after(page: str, marker: str) -> dict[str, Any]:
    """The first ```yaml block after ``marker`` on a docs page, parsed."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    after = text[text.index(marker) :]
    match = re.search(r"```yaml\n(.*?)```", after, re.S)
    assert match, f"no yaml block after {marker!r} in {page}"
    return yaml.safe_load(match.group(1))


def missing_from(shown: Any, actual: Any, path: str = "") -> list[str]:
    """Where ``shown`` says something ``actual`` does not (``shown`` may leave keys out)."""
    if isinstance(shown, dict) and isinstance(actual, dict):
        return [
            p for key, value in shown.items() for p in missing_from(value, actual.get(key), f"{path}{key}.")
        ]
    return [] if shown == actual else [f"{path.rstrip('.')}: docs {shown!r}, example {actual!r}"]


@pytest.mark.parametrize(
    ("page", "marker", "example"),
    [("tables.md", "Its configuration", "mixed_table"), ("text.md", "Its config", "reviews_text")],
)
def test_the_page_shows_its_bundled_example_as_it_is(page: str, marker: str, example: str) -> None:
    shown = yaml_block_after(page, marker)
    actual = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text(encoding="utf-8"))
    assert missing_from(shown, actual) == []


def aiforge(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"AIFORGE_TRACKING": "false", "AIFORGE_DATA_DIR": str(tmp_path / "data")}
    return run_aiforge(tmp_path, *args, env=env)


def write_pets(folder: Path) -> None:
    """Two classes of small RGB images a network can tell apart: dark cats, bright dogs."""
    rng = np.random.default_rng(0)
    for name, level in (("cat", 60), ("dog", 190)):
        (folder / name).mkdir(parents=True)
        for index in range(24):
            pixels = np.clip(rng.normal(level, 25, (20, 24, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{index:03d}.png")


@pytest.mark.slow
def test_the_images_page_config_trains_on_a_folder_of_images(tmp_path: Path) -> None:
    config = yaml_block_after("images.md", "subfolders inside a class folder")
    write_pets(tmp_path / "pets")
    config["training_config"]["epochs"] = 2
    (tmp_path / "pets.yaml").write_text(yaml.safe_dump(config))
    done = aiforge(tmp_path, "run", "pets.yaml", "--results-dir", str(tmp_path / "results"), "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "results" / "pets").iterdir()
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["model_config"]["in_channels"] == 3  # from the data
    predicted = aiforge(tmp_path, "predict", str(run_dir), "--input", "pets/dog", "--output", "dogs.csv")
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    rows = (tmp_path / "dogs.csv").read_text().splitlines()
    assert rows[0].split(",")[:2] == ["path", "prediction"] and len(rows) == 25


@pytest.mark.slow
def test_the_image_models_page_worked_example_trains(tmp_path: Path) -> None:
    config = yaml_block_after("image-models.md", "A worked example")
    config["training_config"]["epochs"] = 2
    (tmp_path / "cnn_digits.yaml").write_text(yaml.safe_dump(config))
    done = aiforge(
        tmp_path, "run", "cnn_digits.yaml", "--results-dir", str(tmp_path / "results"), "--no-progress"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "results" / "digits_cnn").iterdir()
    results = json.loads((run_dir / "final_results.json").read_text())
    assert results["final_val_metrics"]["accuracy"] > 0.5  # ten classes: far above chance in 2 epochs
