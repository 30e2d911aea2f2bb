"""Peak memory of loading a large numeric CSV through the tabular plugin, against its float32 array.

    python benchmarks/csv_memory.py [--rows 1000000] [--cols 64] [--keep | --csv FILE]

Writes a random CSV (``cols`` float features in ``%+.5e`` notation, and an integer ``label``
column with 10 classes) to a temporary folder, then loads it in a fresh Python process, as a run
does: ``Dataset.load_data`` through ``call_plugin``, then ``as_tensors()``. That process imports
aiforge and torch first and reads its peak resident memory (``ru_maxrss``, a lifetime peak) before
loading, so the reported peak is the rise above everything that was resident before the file was
read. Printed: the float32 feature array's size, the peak rise, their ratio (the target is at most
2.5), the load time, and a line for the README's table. ``--keep`` keeps the written file and
``--csv FILE`` loads that file instead of writing one (to compare two versions of the loader).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MB = 1_000_000  # decimal megabytes: 1,000,000 x 64 float32 is 256 MB
# Rows formatted per block while writing the file. Small, so that this process stays far smaller
# than the loading one: Linux carries ru_maxrss across exec into the child it starts.
WRITE_ROWS = 5_000


def format_rows(values: np.ndarray, labels: np.ndarray) -> bytes:
    """CSV lines of ``%+.5e`` features and a one-digit label, built as one byte array.

    ``np.savetxt`` formats row by row in Python; this takes a second per 50,000 rows of 64.
    """
    n, cols = values.shape
    magnitude = np.abs(values)
    exponent = np.floor(np.log10(np.where(magnitude > 0, magnitude, 1.0))).astype(np.int64)
    mantissa = np.rint(magnitude / 10.0**exponent * 1e5).astype(np.int64)
    carry = mantissa >= 1_000_000  # 9.999996 is 1.00000e+01
    mantissa, exponent = np.where(carry, mantissa // 10, mantissa), exponent + carry
    field = np.empty((n, cols, 13), dtype=np.uint8)  # -1.23456e+02,
    field[..., 0] = np.where(np.signbit(values), ord("-"), ord("+"))
    field[..., 1] = ord("0") + mantissa // 100_000
    field[..., 2] = ord(".")
    for k in range(5):
        field[..., 3 + k] = ord("0") + mantissa // 10 ** (4 - k) % 10
    field[..., 8] = ord("e")
    field[..., 9] = np.where(exponent < 0, ord("-"), ord("+"))
    field[..., 10] = ord("0") + np.abs(exponent) // 10
    field[..., 11] = ord("0") + np.abs(exponent) % 10
    field[..., 12] = ord(",")
    tail = np.empty((n, 2), dtype=np.uint8)
    tail[:, 0], tail[:, 1] = ord("0") + labels, ord("\n")
    return np.concatenate([field.reshape(n, cols * 13), tail], axis=1).tobytes()


def write_csv(path: Path, rows: int, cols: int, seed: int = 0) -> None:
    """Random features (normal, scale 100) and 10 classes, written a block of rows at a time."""
    rng = np.random.default_rng(seed)
    header = ",".join([*(f"f{j}" for j in range(cols)), "label"])
    with path.open("wb") as out:
        out.write(header.encode() + b"\n")
        for start in range(0, rows, WRITE_ROWS):
            n = min(WRITE_ROWS, rows - start)
            out.write(format_rows(rng.standard_normal((n, cols)) * 100, rng.integers(0, 10, n)))


def measure(path: str) -> dict[str, float]:
    """Run in the fresh process: load ``path`` as a run does; the peak RSS rise and the time."""
    import gc
    import resource

    inherited_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # the parent's peak, if larger
    import torch  # noqa: F401  (imported before the baseline, as in a run)

    import aiforge  # noqa: F401
    from aiforge.core.plugins import call_plugin, load_class

    dataset_class = load_class("tabular", "dataset")
    gc.collect()
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    dataset = dataset_class()
    call_plugin("tabular", "dataset_args", dataset.load_data, path)
    tensors = dataset.as_tensors()
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    features = tensors["features"]
    if inherited_kb >= baseline_kb:
        print(
            f"warning: the baseline ({baseline_kb} KiB) is the parent's peak, not this process's",
            file=sys.stderr,
        )
    assert features.dtype.is_floating_point and features.element_size() == 4, features.dtype
    return {
        "rows": features.shape[0],
        "cols": features.shape[1],
        "array_mb": features.numel() * 4 / MB,
        "peak_mb": (peak_kb - baseline_kb) * 1024 / MB,  # ru_maxrss is in KiB on Linux
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=64)
    parser.add_argument("--keep", action="store_true", help="keep the CSV and print where it is")
    parser.add_argument("--csv", type=Path, help="load this CSV instead of writing one")
    parser.add_argument("--measure", metavar="CSV", help=argparse.SUPPRESS)  # the fresh process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return

    if args.csv:
        path, keep = args.csv, True
    else:
        path, keep = Path(tempfile.mkdtemp(prefix="aiforge_csv_memory_")) / "data.csv", args.keep
        start = time.perf_counter()
        write_csv(path, args.rows, args.cols)
        print(
            f"wrote {path} ({args.rows:,} x {args.cols} + label, {path.stat().st_size / MB:.0f} MB) "
            f"in {time.perf_counter() - start:.1f} s"
        )
    try:
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(path)], capture_output=True, text=True, check=False
        )
        if child.returncode != 0:
            sys.exit(f"loading failed:\n{child.stderr}")
        if "warning:" in child.stderr:
            print(child.stderr.strip().splitlines()[-1])
        result = json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        if not keep:
            path.unlink()
            path.parent.rmdir()
        elif not args.csv:
            print(f"kept {path}")
    ratio = result["peak_mb"] / result["array_mb"]
    print(f"float32 array:        {result['array_mb']:.0f} MB ({result['rows']:,} x {result['cols']})")
    print(f"peak RSS above start: {result['peak_mb']:.0f} MB")
    print(f"peak / array:         {ratio:.2f}x (target <= 2.5x)")
    print(f"load time:            {result['seconds']:.1f} s")
    print("| rows x cols | float32 array | peak RSS rise | ratio | load time |")
    print(
        f"| {result['rows']:,} x {result['cols']} | {result['array_mb']:.0f} MB | "
        f"{result['peak_mb']:.0f} MB | {ratio:.2f}x | {result['seconds']:.1f} s |"
    )


if __name__ == "__main__":
    main()
