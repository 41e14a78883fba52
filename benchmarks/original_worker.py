"""One run of the original DC code in this fresh process, timed from inside, as vs_original.py and
bench_evaluate.py use it. It imports nothing of raydd (see original_code.py for why).

    python benchmarks/original_worker.py --original-dir DIR --script main.py [--clock cpu] \
        [--evaluation-out FILE.pt] -- --dataset FashionMNIST --model ConvNetW32 ...

Prints one JSON line: the seconds of each outer iteration, or with --evaluation-out, the seconds
and test accuracy of the one network `main()` evaluated (its images and labels saved to FILE.pt).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from original_code import evaluation_seconds, iteration_seconds, load_original  # benchmarks/

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--original-dir", type=Path, required=True)
    p.add_argument("--script", default="main.py")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    p.add_argument("--evaluation-out", type=Path, default=None)
    p.add_argument("main_argv", nargs=argparse.REMAINDER, help="after --: the original's own arguments")
    args = p.parse_args()
    argv = args.main_argv[1:] if args.main_argv[:1] == ["--"] else args.main_argv
    module = load_original(args.original_dir.resolve(), args.script, quiet=True)
    clock = CLOCKS[args.clock]
    if args.evaluation_out is None:
        print(json.dumps(iteration_seconds(module, argv, clock)))
        return
    seen = evaluation_seconds(module, argv, clock)
    torch.save({"images": seen.pop("images"), "labels": seen.pop("labels")}, args.evaluation_out)
    print(json.dumps(seen))


if __name__ == "__main__":
    sys.exit(main())
