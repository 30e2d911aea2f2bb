"""Tables of mixed columns end to end through the real command line (issue 19): run, predict, check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "aiforge" / "examples"
GENERATOR = Path(__file__).resolve().parent / "plugins" / "make_mixed_table.py"


def aiforge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("AIFORGE_")}
    env["AIFORGE_TRACKING"] = "false"
    command = [sys.executable, "-m", "aiforge", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled mixed_table example, trained for a few epochs from a copy of its config."""
    folder = tmp_path_factory.mktemp("mixed")
    config = yaml.safe_load((EXAMPLES / "mixed_table.yaml").read_text())
    config["data_path"] = str(EXAMPLES / "mixed_table.csv")
    config["training_config"].update(epochs=8, early_stopping_patience=None)
    (folder / "exp.yaml").write_text(yaml.safe_dump(config))
    result = aiforge("run", "exp.yaml", "--no-progress", cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return next((folder / "results" / "mixed_table").iterdir())


def test_the_example_trains_well_above_the_majority_class(mixed_run: Path) -> None:
    accuracy = json.loads((mixed_run / "final_results.json").read_text())["final_val_metrics"]["accuracy"]
    labels = pd.read_csv(EXAMPLES / "mixed_table.csv")["churned"]
    majority = labels.value_counts(normalize=True).max()
    assert accuracy >= max(0.75, majority + 0.1), (accuracy, majority)
    config = yaml.safe_load((mixed_run / "config.yaml").read_text())
    assert config["model_config"]["embedding_cardinalities"] == [42]  # 40 cities, (missing), unknown
    state = json.loads((mixed_run / "preprocessor.json").read_text())
    assert "customer_id" not in json.dumps(state)  # ignored by the example's column_types


def test_predict_on_raw_rows_with_an_unseen_level_and_a_gap(mixed_run: Path, tmp_path: Path) -> None:
    rows = pd.read_csv(EXAMPLES / "mixed_table.csv", nrows=3).drop(columns=["churned", "customer_id"])
    rows.loc[0, "city"] = "Atlantis"
    rows.loc[1, "monthly_charges"] = None
    rows.loc[2, "contract"] = None
    rows.to_csv(tmp_path / "rows.csv", index=False)
    result = aiforge("predict", str(mixed_run), "--input", "rows.csv", "--output", "out.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "'city': 1 row(s), e.g. 'Atlantis'" in result.stderr and "unknown bucket" in result.stderr
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == 3 and set(out["prediction"]) <= {"yes", "no"}
    assert out[["prob_no", "prob_yes"]].sum(axis=1).round(4).eq(1).all()

    rows["tenure_months"] = rows["tenure_months"].astype(object)
    rows.loc[1, "tenure_months"] = "long"
    rows.to_csv(tmp_path / "bad.csv", index=False)
    result = aiforge("predict", str(mixed_run), "--input", "bad.csv", "--output", "bad_out.csv", cwd=tmp_path)
    assert result.returncode == 2
    assert "column 'tenure_months' row 2 (line 3 of the file): 'long' is not a number" in result.stderr


def test_check_accepts_the_example(tmp_path: Path) -> None:
    result = aiforge("check", str(EXAMPLES / "mixed_table.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_table_of_text_booleans_and_gaps_trains(tmp_path: Path) -> None:
    # Before issue 19, the first text cell ('Rome') or empty cell stopped the run with exit 2.
    lines = ["city,member,visits,signup,label"]
    for i in range(60):
        city = ["Rome", "Oslo", "Lima", ""][i % 4]
        member = ["true", "false", ""][i % 3]
        visits = "" if i % 7 == 0 else str(i % 9)
        lines.append(f"{city},{member},{visits},2024-0{1 + i % 9}-1{i % 10},{'yes' if i % 9 > 4 else 'no'}")
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    config = {
        "experiment_name": "strings",
        "model_plugin": "simple_nn",
        "dataset_plugin": "tabular",
        "data_path": "data.csv",
        "model_config": {"hidden_dim": 8},
        "training_config": {"epochs": 2, "batch_size": 16},
    }
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(config))
    result = aiforge("run", "exp.yaml", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_shipped_csv_is_what_the_generator_writes(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(GENERATOR), str(tmp_path / "made.csv")], check=True, timeout=120)
    assert (tmp_path / "made.csv").read_bytes() == (EXAMPLES / "mixed_table.csv").read_bytes()
