"""The names of the numeric inputs an exported or MLflow model takes, for tables whose columns are
not one number each (a date gives several) and for inputs that are not numbers at all."""

from __future__ import annotations

from pathlib import Path

from aiforge.config.model_configs import ExperimentConfig
from aiforge.config.settings import AppSettings
from aiforge.core.orchestrator import Orchestrator


def prepared(tmp_path: Path, header: str, row: str) -> Orchestrator:
    table = tmp_path / "table.csv"
    table.write_text(header + "\n" + "\n".join(row.format(i=i, d=1 + i % 28, y=i % 2) for i in range(40)))
    config = ExperimentConfig(
        experiment_name="names",
        model_plugin="simple_nn",
        dataset_plugin="tabular",
        data_path=str(table),
        dataset_args={"target_column": "y"},
    )
    orchestrator = Orchestrator(config, settings=AppSettings(RESULTS_DIR=tmp_path / "r", DEVICE="cpu"))
    orchestrator.prepare_data()
    return orchestrator


def test_a_date_column_gives_its_parts_names(tmp_path: Path) -> None:
    orchestrator = prepared(tmp_path, "size,day,y", "{i},2024-01-{d:02d},{y}")
    names = orchestrator.feature_names()
    assert names[0] == "size" and len(names) == 5 and all(name.startswith("day") for name in names[1:])
    assert orchestrator.numeric_example() is not None  # numbers only: export and MLflow take it


def test_a_table_with_categories_has_no_numeric_example_and_keeps_its_column_names(tmp_path: Path) -> None:
    orchestrator = prepared(tmp_path, "size,colour,y", "{i},c{d},{y}")
    assert orchestrator.numeric_example() is None
    assert orchestrator.feature_names() == ["size", "colour"]
