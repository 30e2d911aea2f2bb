"""The docs hold together: a short README that starts with the set-up, every nav page present,
and a configuration reference generated from the schema that lists every field and setting."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aiforge.config.model_configs import ExperimentConfig, TrainingConfig
from aiforge.config.settings import AppSettings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
GENERATED = {"reference/config.md"}  # written by docs/gen_config_reference.py during the build


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_config_reference", DOCS / "gen_config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nav_pages(nav) -> list[str]:
    """Every page named in mkdocs.yml's nav, however deep."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in nav_pages(value)]
    return [page for item in nav for page in nav_pages(item)]


def mkdocs_config() -> dict:
    # BaseLoader: mkdocs.yml may carry !!python tags that safe_load refuses; only the nav is read.
    return yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)


def test_readme_is_a_front_door():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250


def test_readme_starts_with_the_set_up_and_the_two_commands():
    text = README.read_text(encoding="utf-8")
    sections = re.findall(r"^## (.+)$", text, re.M)
    assert sections[:2] == ["Set-up", "The two commands"]
    two_commands = text.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    assert "```bash\naiforge run\n```" in two_commands
    assert "```bash\npython -m pytest -n 2\n```" in two_commands
    set_up = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    assert 'pip install -e ".[dev]"' in set_up


def test_every_nav_page_exists():
    pages = nav_pages(mkdocs_config()["nav"])
    assert "index.md" in pages and "reference/config.md" in pages
    missing = [page for page in pages if page not in GENERATED and not (DOCS / page).is_file()]
    assert missing == []


def test_every_docs_page_is_in_the_nav():
    pages = set(nav_pages(mkdocs_config()["nav"]))
    written = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert written - pages == set()


def test_readme_links_to_files_that_exist():
    text = README.read_text(encoding="utf-8")
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)]+)\)", text) if "://" not in t]
    assert targets, "the README links to the docs"
    assert [t for t in targets if t and not (ROOT / t).exists()] == []


def test_every_schema_field_has_a_description():
    assert load_generator().missing_descriptions() == []


def test_config_reference_lists_every_field_and_setting():
    page = load_generator().render_config_reference()
    rows = set(re.findall(r"^\| `([^`]+)` \|", page, re.M))
    for cls in (ExperimentConfig, TrainingConfig):
        for name, field in cls.model_fields.items():
            assert (field.alias or name) in rows, f"{cls.__name__}.{name} is not in the reference"
    for name in AppSettings.model_fields:
        assert f"AIFORGE_{name}" in rows
    assert "`default_experiment`" in page and "`CrossEntropyLoss`" in page  # defaults shown
    assert TrainingConfig.model_fields["epochs"].description in page  # descriptions shown


def test_config_reference_follows_the_schema():
    """A field added to the schema shows up in the page with nothing written by hand."""
    from pydantic import Field

    generator = load_generator()

    class Extended(TrainingConfig):
        warmup_epochs: int = Field(3, description="Epochs of linear LR warm-up.")

    generator.SECTIONS[1] = (Extended, "training_config", "The training loop.")
    page = generator.render_config_reference()
    assert "| `warmup_epochs` | int | `3` | Epochs of linear LR warm-up. |" in page


@pytest.mark.slow
def test_mkdocs_build_is_strict_clean(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]')")
    build = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"},
    )
    assert build.returncode == 0, build.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "config" / "index.html").is_file()
