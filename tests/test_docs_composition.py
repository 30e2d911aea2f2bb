"""The worked example of docs/configuration.md's "Composing config files" loads as the page says."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from aiforge.config.loading import load_experiment_config
from aiforge.runs.records import config_record

ROOT = Path(__file__).resolve().parents[1]


def section(heading: str) -> str:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    after = text[text.index(heading) + len(heading) :]
    return after.split("\n## ", 1)[0]


def test_the_composition_example_resolves_as_documented(tmp_path: Path) -> None:
    text = section("## Composing config files")
    files = re.findall(r"`([\w/.-]+\.yaml)`:\n\n```yaml\n(.*?)```", text, re.S)
    assert [name for name, _ in files] == ["configs/common.yaml", "configs/wide.yaml"]
    for name, body in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body, encoding="utf-8")
    command = re.search(r"```bash\naiforge run (\S+) -o (\S+)", text)
    assert command, "no aiforge run command in the section"

    config = load_experiment_config(tmp_path / "configs" / "wide.yaml")
    assert (config.experiment_name, config.model_specific_config.hidden_dim) == ("digits_wide_7", 256)
    assert config.training_config.learning_rate == 0.002  # from the base

    config = load_experiment_config(tmp_path / command.group(1), [command.group(2)])
    assert config.model_specific_config.hidden_dim == 128  # "hidden_dim follows: 128"
    saved = yaml.safe_dump(config_record(config))
    assert "${" not in saved and "base" not in yaml.safe_load(saved)
