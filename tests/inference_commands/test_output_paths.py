"""Where a command's ``--output`` may go: never into a run folder, never over its input, never over
an existing file without ``--overwrite`` (issue 16 b); run folders named relative to the results
folder are found by every command (issue 16 m).

The output is checked before the run is loaded, so a fake run folder (the marker files only) is
enough here: nothing is trained.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aiforge.cli import main
from aiforge.errors import ConfigError
from aiforge.inference_commands.outputs import check_output_path
from aiforge.runs import files as run_files


def _fake_run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / run_files.CONFIG_FILE).write_text("experiment_name: x\n", encoding="utf-8")
    (folder / run_files.RESULTS_FILE).write_text("{}\n", encoding="utf-8")
    (folder / run_files.FINAL_MODEL_FILE).write_bytes(b"weights")
    (folder / run_files.CHECKPOINT_DIR).mkdir()
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return _fake_run(tmp_path / "results" / "exp" / "20261207-165420-793924")


@pytest.mark.parametrize(
    ("command", "target"),
    [
        (["export"], run_files.CONFIG_FILE),
        (["export"], run_files.FINAL_MODEL_FILE),
        (["export"], "."),  # a folder: export would write its default name into the run folder
        (["predict", "--input", "IN"], run_files.HISTORY_FILE),
        (["predict", "--input", "IN"], "new.csv"),  # a new file is refused too
        (["predict", "--input", "IN"], "checkpoints/x.csv"),
    ],
)
def test_an_output_inside_the_run_folder_is_refused(
    run_dir: Path, tmp_path: Path, capsys, command: list[str], target: str
) -> None:
    inputs = tmp_path / "x.csv"
    inputs.write_text("a\n1\n", encoding="utf-8")
    before = _snapshot(run_dir)
    argv = [command[0], str(run_dir), *[str(inputs) if a == "IN" else a for a in command[1:]]]
    code = main([*argv, "--output", str(run_dir / target), "--overwrite"])
    assert code == 2
    assert "inside the run folder" in capsys.readouterr().err
    assert _snapshot(run_dir) == before


def test_any_run_folder_is_refused_through_a_symlink(run_dir: Path, tmp_path: Path, capsys) -> None:
    other = _fake_run(tmp_path / "elsewhere" / "run")
    link = tmp_path / "link"
    link.symlink_to(other, target_is_directory=True)
    code = main(["export", str(run_dir), "--output", str(link / "model.pt")])
    assert code == 2
    assert str(other) in capsys.readouterr().err
    assert not (other / "model.pt").exists()


def test_an_existing_file_needs_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    assert check_output_path(target, overwrite=False) == target.resolve()  # new: fine
    target.write_text("mine\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"out.csv exists.*--overwrite"):
        check_output_path(target, overwrite=False)
    assert check_output_path(target, overwrite=True) == target.resolve()


def test_the_output_may_not_be_the_input(tmp_path: Path) -> None:
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n", encoding="utf-8")
    link = tmp_path / "y.csv"
    link.symlink_to(data)
    for output in (data, link, tmp_path / "sub" / ".." / "x.csv"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(ConfigError, match="is the input file"):
            check_output_path(output, overwrite=True, inputs=[data])


def test_a_user_folder_with_a_config_file_is_not_a_run_folder(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("mine: 1\n", encoding="utf-8")
    (tmp_path / "checkpoints").mkdir()
    assert check_output_path(tmp_path / "out.csv", overwrite=False) == (tmp_path / "out.csv").resolve()


def test_predict_refuses_an_existing_output_before_loading(run_dir: Path, tmp_path: Path, capsys) -> None:
    data = tmp_path / "x.csv"
    data.write_text("a\n1\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    out.write_text("keep me\n", encoding="utf-8")
    assert main(["predict", str(run_dir), "--input", str(data), "--output", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "keep me\n"
    assert main(["predict", str(run_dir), "--input", str(data), "--output", str(data), "--overwrite"]) == 2


# -- issue 16 m: one way to name a run folder --------------------------------------------------
@pytest.mark.parametrize("command", ["report", "evaluate", "run-resume"])
def test_a_run_folder_relative_to_the_results_folder(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    results = tmp_path / "results"
    run = _fake_run(results / "tab" / "20261207-165420-793924")
    (run / run_files.RESULTS_FILE).unlink()  # resumable, and report has what it needs
    (run / run_files.HISTORY_FILE).write_text("epoch,train_loss,val_loss\n1,0.5,0.6\n", encoding="utf-8")
    if command != "report":  # fails fast once found, with a message naming the run's config
        (run / run_files.CONFIG_FILE).write_text("not: [valid\n", encoding="utf-8")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    name = "tab/20261207-165420-793924"
    argv = {
        "report": ["report", name],
        "evaluate": ["evaluate", name],
        "run-resume": ["run", "--resume", name],
    }[command]
    main([*argv, "--results-dir", str(results)])
    err = capsys.readouterr().err
    # found: whatever fails next names the run's own files, never "no such folder"
    assert "not found" not in err and "no such run folder" not in err and "no run folder" not in err
    if command == "report":
        assert (run / "report.html").is_file()
