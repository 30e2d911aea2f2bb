"""Where a command may write its ``--output``: the one rule for every command that has one.

A run folder is data (its files are the record of a run), so no output lands inside one, by
any path or symlink; an output never replaces the command's own input; and an existing file
is replaced only when the user passed ``--overwrite``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from aiforge.errors import ConfigError
from aiforge.runs import files as run_files


def check_output_path(
    output: str | Path, *, overwrite: bool, inputs: Iterable[str | Path] = (), option: str = "--output"
) -> Path:
    """``output`` resolved (symlinks followed), or a ConfigError saying why it may not be written.

    The resolved path is what the caller writes to: a link put in place of the file itself
    afterwards is replaced, not followed, and one put in place of the folder that holds it is
    refused (run_files.atomic_path opens that folder without following it). A link swapped in
    for a folder further up after this check is followed: the check cannot see it.
    """
    given = Path(output).expanduser()
    path = run_files.real_path(given)
    run_dir = run_files.enclosing_run_folder(path)
    if run_dir is not None:
        raise ConfigError(
            f"{option} {output}: it is inside the run folder {run_dir}, whose files are the run's "
            "record (a run folder has config.yaml and final_results.json, environment.json or "
            f"aiforge_debug.log); write it elsewhere, e.g. {option} {given.name or 'out'}"
        )
    for source in inputs:
        if run_files.real_path(source) == path:
            raise ConfigError(
                f"{option} {output} is the input file {source}; write the output to another file"
            )
    if path.is_dir():
        raise ConfigError(f"{option} {output} is a folder; give a file name")
    if not path.parent.is_dir():
        raise ConfigError(f"{option} {output}: the folder {given.parent} does not exist")
    if (given.exists() or given.is_symlink()) and not overwrite:
        raise ConfigError(
            f"{option} {output} exists; pass --overwrite to replace it, or choose another file name"
        )
    return path
