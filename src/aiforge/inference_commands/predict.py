"""``aiforge predict``: a table of raw feature columns in, the same table with predictions out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiforge.core.inference import CHUNK_ROWS, model_outputs
from aiforge.errors import ConfigError, DataError, did_you_mean
from aiforge.inference_commands.loading import LoadedRun

TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": ","}
PARQUET_SUFFIXES = (".parquet", ".pq")


def table_kind(path: Path, role: str) -> str:
    """``text`` or ``parquet`` by suffix; anything else is a ConfigError naming the suffixes."""
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return "text"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    known = ", ".join([*TEXT_SUFFIXES, *PARQUET_SUFFIXES])
    raise ConfigError(f"{role} {path}: unsupported file type {suffix or '(no suffix)'!r}; use one of {known}")


def read_table(path: Path) -> Any:
    """A CSV/TSV (read as the tabular plugin reads training files) or Parquet file as a DataFrame."""
    import pandas as pd

    from aiforge.plugins.tabular.reading import header_names, refuse_repeated_names

    kind = table_kind(path, "--input")
    if not path.is_file():
        raise DataError(f"--input: file not found: {path} (looked for {path.resolve()})")
    # The names as written: pandas renames a repeated name 'a' to 'a.1' without a word, and
    # pyarrow refuses repeated Parquet names in its own words. Unnamed columns (the index that
    # df.to_csv writes) are extra columns, kept and ignored like any other.
    try:
        if kind == "text":
            sep = TEXT_SUFFIXES[path.suffix.lower()]
            frame = pd.read_csv(path, sep=sep, skipinitialspace=True, keep_default_na=False, na_values=[""])
            refuse_repeated_names(path, header_names(path, sep))
            return frame
        import pyarrow.parquet as pq

        refuse_repeated_names(path, pq.read_schema(path).names, where="its schema")
        return pd.read_parquet(path)
    except ImportError:
        raise DataError(f'reading {path} needs pyarrow: pip install "aiforge[parquet]"') from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty: expected a header line and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as err:
        raise DataError(f"{path} could not be read: {' '.join(str(err).split())}") from None


def _where(row: int, text: bool) -> str:
    """A 0-based row position as the user finds it in the file."""
    return f"row {row + 1} (line {row + 2} of the file)" if text else f"row {row + 1}"


def select_feature_columns(columns: list[str], names: list[str], source: str) -> list[str]:
    """The input columns that feed the model, in the model's order.

    Named features must all be present (extra columns are ignored). When the model only
    knows its features as ``f0..fN-1`` (the dataset plugin gave no names) and the input has
    none of those, its columns are taken in order, if there are exactly N of them.
    """
    missing = [n for n in names if n not in columns]
    if not missing:
        return list(names)
    generic = names == [f"f{i}" for i in range(len(names))]
    if generic and len(missing) == len(names):
        if len(columns) == len(names):
            return list(columns)
        raise DataError(
            f"{source}: the model takes {len(names)} feature columns (named f0..f{len(names) - 1}, or "
            f"exactly {len(names)} columns in order), but the file has {len(columns)}: {columns}"
        )
    first = missing[0]
    more = f" (and {len(missing) - 1} more: {missing[1:]})" if len(missing) > 1 else ""
    raise DataError(
        f"{source}: feature column {first!r} is missing{did_you_mean(first, columns)}{more}; "
        f"the model was trained on the columns {names}"
    )


def feature_matrix(frame: Any, columns: list[str], source: str, text: bool) -> Any:
    """The columns as one float32 array; a missing, non-numeric or non-finite cell is a DataError."""
    import numpy as np
    import pandas as pd

    from aiforge.plugins.tabular.reading import as_numbers

    numbers = {}
    for name in columns:
        column = frame[name]
        missing = column.isna().to_numpy()
        if missing.any():
            at = _where(int(missing.argmax()), text)
            raise DataError(f"{source}: missing value in column {name!r} at {at}")
        converted, bad = as_numbers(column)  # the tabular plugin's rule: true/false are 1/0
        if bad.any():
            row = int(bad.argmax())
            value = column.iloc[row]
            shown = repr(value) if isinstance(value, str) else str(value)
            raise DataError(f"{source}: column {name!r} {_where(row, text)}: {shown} is not a number")
        numbers[name] = converted
    with np.errstate(over="ignore"):
        matrix = pd.DataFrame(numbers).to_numpy(dtype=np.float32)
    bad = ~np.isfinite(matrix)
    if bad.any():
        row = int(bad.any(axis=1).argmax())
        name = columns[int(bad[row].argmax())]
        raise DataError(
            f"{source}: column {name!r} {_where(row, text)}: {frame[name].iloc[row]} "
            "is not a finite float32 number"
        )
    return np.require(matrix, requirements=["C", "W"])


LABEL_COLUMN = "prediction"


def output_columns(loaded: LoadedRun, width: int) -> tuple[list[str] | None, list[str]]:
    """The class names (classification, else None) and the columns for the model's ``width`` outputs.

    Classification: one ``prob_<class>`` column per class, beside the label column ``prediction``;
    regression: ``prediction`` (one output) or ``prediction_0..`` (several).
    """
    if loaded.task == "classification":
        classes = loaded.classes_for(width)  # names of another number are an error, not indices
        return classes, [f"prob_{name}" for name in classes]
    return None, ([LABEL_COLUMN] if width == 1 else [f"{LABEL_COLUMN}_{i}" for i in range(width)])


def predict_frame(loaded: LoadedRun, frame: Any, source: str = "input", text: bool = True) -> Any:
    """``frame`` with the predictions appended (the input columns are kept as they are)."""
    import torch

    orchestrator = loaded.orchestrator
    if len(frame) == 0:
        raise DataError(f"{source} has no data rows")
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    repeated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if repeated:
        raise DataError(
            f"{source} names column(s) {', '.join(map(repr, repeated))} more than once; "
            "every column needs its own name"
        )
    from_table = getattr(orchestrator.dataset, "features_from_table", None)
    model = orchestrator.inference_model().cpu().eval()
    if callable(from_table):  # the dataset plugin reads its own raw columns (categories, texts)
        from aiforge.core.plugins import call_plugin

        raw = call_plugin(orchestrator.config.dataset_plugin, None, from_table, frame, source)
        outputs = model_outputs(model.from_raw, raw, len(frame), CHUNK_ROWS)
    else:
        columns = select_feature_columns(list(frame.columns), orchestrator.feature_names(), source)
        matrix = feature_matrix(frame, columns, source, text)
        outputs = model_outputs(model, torch.from_numpy(matrix), len(matrix), CHUNK_ROWS)
    _check_finite(outputs, source, text)
    return with_predictions(loaded, frame, outputs, source)


def with_predictions(loaded: LoadedRun, frame: Any, outputs: Any, source: str) -> Any:
    """``frame`` with the label and probability (or value) columns of ``outputs`` appended."""
    import numpy as np

    classes, value_columns = output_columns(loaded, outputs.shape[1])
    new_columns = [LABEL_COLUMN, *value_columns] if classes is not None else value_columns
    clashes = [c for c in new_columns if c in frame.columns]
    if clashes:
        raise DataError(
            f"{source} already has column(s) {clashes}, which predict would write; rename or drop them"
        )
    if classes is not None:
        frame[LABEL_COLUMN] = np.array(classes, dtype=object)[outputs.argmax(axis=1)]
    for index, name in enumerate(value_columns):
        frame[name] = outputs[:, index]
    return frame


def _check_finite(outputs: Any, source: str, text: bool) -> None:
    """Rows whose outputs are NaN or infinite are an error naming them, not a label and empty cells.

    The inputs are finite and the run's weights and preprocessor were checked when loaded, so
    such a row holds values too large for the preprocessing and model in float32.
    """
    import numpy as np

    bad = np.flatnonzero(~np.isfinite(outputs).all(axis=1))
    if len(bad):
        shown = ", ".join(_where(int(row), text) for row in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise DataError(
            f"{source}: the model's output is not finite (NaN or infinity) for {len(bad)} of "
            f"{len(outputs)} rows: {shown}{more}; their values are too large for the run's "
            "preprocessing and model (float32): check those rows"
        )


def write_table(frame: Any, path: Path) -> None:
    """CSV/TSV or Parquet by suffix, written atomically."""
    from aiforge.runs.files import atomic_path

    kind = table_kind(path, "--output")
    with atomic_path(path) as tmp:
        if kind == "text":
            frame.to_csv(tmp, sep=TEXT_SUFFIXES[path.suffix.lower()], index=False)
        else:
            try:
                frame.to_parquet(tmp)
            except ImportError:
                raise DataError(f'writing {path} needs pyarrow: pip install "aiforge[parquet]"') from None


def predict_file(
    loaded: LoadedRun, input_path: Path, output_path: Path, overwrite: bool = False
) -> dict[str, Any]:
    output_path = check_paths(input_path, output_path, overwrite)
    frame = read_table(input_path)
    text = table_kind(input_path, "--input") == "text"
    predicted = predict_frame(loaded, frame, input_path.name, text)
    write_table(predicted, output_path)
    added = [c for c in predicted.columns if c not in frame.columns]
    return {"rows": len(predicted), "output": str(output_path), "columns": added}


FILE_CHUNK = 256  # files (images) decoded and predicted at a time


def takes_files(loaded: LoadedRun) -> bool:
    """Whether the run's dataset plugin reads input files (images) and no table of input columns."""
    dataset = loaded.orchestrator.dataset
    return callable(getattr(dataset, "features_from_files", None)) and not callable(
        getattr(dataset, "features_from_table", None)
    )


def is_table_input(inputs: list[Path]) -> bool:
    """One .csv/.tsv/.parquet file is a table of raw inputs; anything else is files (images) or
    folders of them."""
    return len(inputs) == 1 and inputs[0].suffix.lower() in (*TEXT_SUFFIXES, *PARQUET_SUFFIXES)


def check_file_inputs(inputs: list[Path], output_path: Path, overwrite: bool = False) -> Path:
    """The checks :func:`check_paths` makes, for files or folders given as ``--input``."""
    from aiforge.inference_commands.outputs import check_output_path

    table_kind(output_path, "--output")
    for path in inputs:
        if not path.exists():
            raise DataError(f"--input: not found: {path} (looked for {path.resolve()})")
    return check_output_path(output_path, overwrite=overwrite, inputs=inputs)


def input_files(inputs: list[Path], suffixes: Any = None) -> list[Path]:
    """The files to predict: each file as given, and each folder's files (in sorted order, its
    subfolders too, not following links to folders, hidden names left out), only those with
    one of ``suffixes`` (lower case) when the dataset plugin names them."""
    import os

    wanted = {str(suffix).lower() for suffix in suffixes} if suffixes else None
    files: list[Path] = []
    for given in inputs:
        if not given.is_dir():
            files.append(given)
            continue
        found = []
        for folder, subfolders, names in os.walk(given):
            subfolders[:] = [name for name in subfolders if not name.startswith(".")]
            for name in names:
                path = Path(folder, name)
                if name.startswith(".") or not path.is_file():
                    continue
                if wanted is None or path.suffix.lower() in wanted:
                    found.append(path)
        if not found:
            kinds = f" ({', '.join(sorted(wanted))})" if wanted else ""
            raise DataError(f"--input: the folder {given} holds no input files{kinds}")
        files += sorted(found)
    return files


PATH_COLUMN = "path"


def predict_files(
    loaded: LoadedRun, inputs: list[Path], output_path: Path, overwrite: bool = False
) -> dict[str, Any]:
    """One row per input file (images): its path, then the predictions, written as a table."""
    import pandas as pd

    from aiforge.core.plugins import call_plugin

    output_path = check_file_inputs(inputs, output_path, overwrite)
    orchestrator = loaded.orchestrator
    plugin = orchestrator.config.dataset_plugin
    from_files = getattr(orchestrator.dataset, "features_from_files", None)
    if not callable(from_files):
        if len(inputs) == 1 and inputs[0].is_file():
            table_kind(inputs[0], "--input")  # one file of another kind: say which tables are read
        raise ConfigError(
            f"run {loaded.run_dir}: its dataset plugin '{plugin}' reads tables, not files; "
            "give one .csv, .tsv or .parquet file of input columns as --input"
        )
    files = input_files(inputs, getattr(orchestrator.dataset, "file_suffixes", None))
    model = orchestrator.inference_model().cpu().eval()

    def predict(paths: list[Path]) -> Any:
        return model.from_raw(call_plugin(plugin, None, from_files, list(paths)))

    outputs = model_outputs(predict, files, len(files), FILE_CHUNK)
    frame = pd.DataFrame({PATH_COLUMN: [str(path) for path in files]})
    _check_finite(outputs, "--input", text=False)
    predicted = with_predictions(loaded, frame, outputs, "--input")
    write_table(predicted, output_path)
    added = [c for c in predicted.columns if c != PATH_COLUMN]
    return {"rows": len(predicted), "output": str(output_path), "columns": added}


def check_paths(input_path: Path, output_path: Path, overwrite: bool = False) -> Path:
    """Everything about the two paths that can be checked before the run is loaded; the output to write.

    The output follows :func:`~aiforge.inference_commands.outputs.check_output_path`: not in a run
    folder, not the input, an existing file only with ``overwrite``.
    """
    from aiforge.inference_commands.outputs import check_output_path

    table_kind(input_path, "--input")
    table_kind(output_path, "--output")
    if not input_path.is_file():
        raise DataError(f"--input: file not found: {input_path} (looked for {input_path.resolve()})")
    return check_output_path(output_path, overwrite=overwrite, inputs=[input_path])
