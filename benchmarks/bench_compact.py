"""Reading a results directory before and after `raydd results compact`.

A sweep leaves one small Parquet file per evaluation job; this writes `--files` such one-row files
(the rows of the tests' hand-made sample, each with its own trial key), then times `load` on them,
the compaction, and `load` on the compacted directory. It prints the three times.

    python benchmarks/bench_compact.py --files 2000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from raydd.results import load, write_rows  # noqa: E402
from raydd.results.compact import compact  # noqa: E402
from test_results_support import make_row  # noqa: E402


def _timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000, help="one-row job files to write")
    parser.add_argument("--smoke-test", action="store_true", help="20 files, for CI")
    args = parser.parse_args()
    files = 20 if args.smoke_test else args.files
    with tempfile.TemporaryDirectory(prefix="raydd-bench-compact-") as directory:
        for i in range(files):
            write_rows([make_row(trial_key=f"t{i}")], directory, name=f"job{i}.parquet")
        before, load_before = _timed(load, directory)
        report, compacting = _timed(compact, directory)
        after, load_after = _timed(load, directory)
        assert len(before) == len(after) == files
    print(f"{files} one-row files: load {load_before:.3f} s; compact {compacting:.3f} s "
          f"-> {len(report.written)} file(s); load after {load_after:.3f} s")


if __name__ == "__main__":
    main()
