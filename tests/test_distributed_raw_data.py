"""torchrun on CPU (gloo) with the data kinds of issue 19: a table of mixed columns (a row
container, sharded by slicing), texts (a DataLoader with DistributedSampler, padded per batch) and
a folder of images augmented per batch. Each trains on two processes, only rank 0 writes, and
the saved run predicts from raw inputs like any other run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXAMPLES = {
    "mixed_table": ["training_config.epochs=2"],
    "reviews_text": ["training_config.epochs=2"],
    "digits_images": [
        "training_config.epochs=1",
        "preprocess_args.augment=[{RandomAffine: {degrees: 10}}]",
    ],
}


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHELASTIC")}
    env.update(AIFORGE_TRACKING="false", OMP_NUM_THREADS="1", AIFORGE_DATA_DIR=str(tmp_path / "data"))
    return env


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_an_example_of_each_data_kind_trains_on_two_processes(tmp_path: Path, example: str) -> None:
    overrides = [item for override in EXAMPLES[example] for item in ("-o", override)]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command = [*launcher, "-m", "aiforge", "run", "--example", example, *overrides]
    done = subprocess.run(
        [*command, "--results-dir", str(tmp_path / "results"), "--no-progress"],
        cwd=tmp_path,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("Run finished") == 1  # rank 0 alone reports
    (run_dir,) = [p for p in (tmp_path / "results").glob("*/*") if p.is_dir()]
    results = json.loads((run_dir / "final_results.json").read_text())
    assert results["train_samples"] > 0 and 0.0 <= results["final_val_metrics"]["accuracy"] <= 1.0
    assert (run_dir / "preprocessor.json").is_file()  # the fitted state, readable
