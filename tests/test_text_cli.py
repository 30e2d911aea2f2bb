"""End-to-end: the bundled text example trains, checks and predicts on raw text, by the real CLI."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FEW_EPOCHS = ["-o", "training_config.epochs=3", "-o", "training_config.early_stopping_patience=null"]


def aiforge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIFORGE_TRACKING": "false", "AIFORGE_LOG_LEVEL": "INFO"}
    env.pop("AIFORGE_RESULTS_DIR", None)
    command = [sys.executable, "-m", "aiforge", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One short run of the example, shared by the tests below."""
    root = tmp_path_factory.mktemp("reviews")
    result = aiforge("run", "--example", "reviews_text", *FEW_EPOCHS, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = [p for p in root.glob("results/reviews_text/*") if p.is_dir()]
    return run_dir


def test_the_example_learns_the_reviews(trained):
    final = json.loads((trained / "final_results.json").read_text())
    assert final["final_val_metrics"]["accuracy"] >= 0.8
    state = json.loads((trained / "preprocessor.json").read_text())
    assert "great" in json.dumps(state)  # the vocabulary, readable in the run folder
    config = (trained / "config.yaml").read_text()
    assert "vocab_size" in config and "padding_index" in config


def test_predict_reads_raw_text(trained, tmp_path):
    texts = tmp_path / "texts.csv"
    rows = [["review"], ["What a wonderful comedy. Five stars."], ["I hate this tent. Avoid it."]]
    with texts.open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows(rows)
    out = tmp_path / "predictions.csv"
    result = aiforge("predict", str(trained), "--input", str(texts), "--output", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    with out.open(encoding="utf-8") as file:
        predicted = list(csv.DictReader(file))
    assert [row["prediction"] for row in predicted] == ["positive", "negative"]
    assert {"prob_negative", "prob_positive"} <= set(predicted[0])


def test_predict_names_a_missing_text_column(trained, tmp_path):
    texts = tmp_path / "texts.csv"
    texts.write_text("comment\nso good\n", encoding="utf-8")
    out = tmp_path / "predictions.csv"
    result = aiforge("predict", str(trained), "--input", str(texts), "--output", str(out), cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "'review'" in result.stderr and "'comment'" in result.stderr


def test_check_builds_the_example(tmp_path):
    result = aiforge("check", "--example", "reviews_text", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Config OK: reviews_text" in result.stdout
    assert "vocab_size" in result.stdout


def test_predict_refuses_a_blank_text(trained, tmp_path):
    texts = tmp_path / "texts.csv"
    texts.write_text('review\nso good\n"   "\n', encoding="utf-8")
    out = tmp_path / "predictions.csv"
    result = aiforge("predict", str(trained), "--input", str(texts), "--output", str(out), cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "'review' row 2 is blank" in result.stderr
    assert not out.exists()


def test_a_min_frequency_that_leaves_no_word_stops_before_training(tmp_path):
    result = aiforge(
        "check", "--example", "reviews_text", "-o", "preprocess_args.min_frequency=1000000", cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "preprocess_args.min_frequency=1000000 leaves no word of the" in result.stderr


def test_a_tokenizer_that_cannot_encode_text_stops_before_training(tmp_path):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    Tokenizer(WordLevel({}, unk_token="[UNK]")).save(str(tmp_path / "no_unk.json"))
    overrides = ["-o", "preprocess_args.min_frequency=null", "-o", "preprocess_args.lowercase=null"]
    result = aiforge(
        "check", "--example", "reviews_text", *overrides,
        "-o", f"preprocess_args.tokenizer_file={tmp_path / 'no_unk.json'}", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-3000:]
    assert "no_unk.json cannot tokenize a text" in result.stderr and "Missing [UNK]" in result.stderr
