"""The original DC / DSA / DM code (github.com/VICO-UoE/DatasetCondensation), run from a checkout
as its users run it: its own `main()`, argument parser, defaults, `get_dataset` and `--data_path`.

Nothing of raydd is imported here, so a process that runs the original holds the heap and settings
a user's process would: handing it tensors made by raydd made its steps 1.8x slower (glibc had no
free heap to reuse for the activations; benchmarks/README.md, "Why the original ran slower on
handed-over tensors"). The original is never copied into raydd: its directory goes on `sys.path`
at run time.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import sys
import warnings
from pathlib import Path
from typing import Callable

ORIGINAL_SCRIPTS = {"dc": "main.py", "dsa": "main.py", "dm": "main_DM.py"}
DSA_STRATEGY = "color_crop_cutout_flip_scale_rotate"  # both codes' default for DSA and DM


class OriginalError(RuntimeError):
    """The original code is not where --original-dir says, or cannot be imported."""


# Two lines of the original's DSA (`utils.py`) fail on today's PyTorch; both are fixed in memory
# when it is loaded, with the least change that runs it (pattern, replacement, why). DC never
# reaches either line, so a DC run is the original exactly.
UTILS_FIXES = (
    (re.compile(r"^(\s+)(\w+)\[:\] = \2\[0\]$", re.MULTILINE), r"\1\2[:] = \2[0].clone()",
     "siamese writes t[:] = t[0] copy t[0] first (PyTorch >= 1.11 refuses a self-overlapping copy)"),
    (re.compile(r"(\[grid_batch, grid_x, grid_y\]\.permute\(0, 3, 1, 2\))$", re.MULTILINE),
     r"\1.clone(memory_format=torch.contiguous_format)",
     "the crop's permuted result is copied to the standard layout, as its final .contiguous() does "
     "for 3 channels (a 1-channel batch with those strides runs channels-last today, and the nets' "
     "flattening .view() fails)"),
)


def check_checkout(original_dir: Path, script: str) -> Path:
    path = original_dir / script
    if not path.is_file():
        raise OriginalError(f"{path} does not exist: --original-dir must be a checkout of "
                            "github.com/VICO-UoE/DatasetCondensation")
    return path


def load_original(original_dir: Path, script: str, *, quiet: bool = False):
    """The original script as a module (its `main()` not yet run); DIR joins sys.path for its
    imports, and its `utils` is loaded with the DSA fixes above (in memory only)."""
    path = check_checkout(original_dir, script)
    for name in ("utils", "networks"):  # the original imports these by bare name
        loaded = sys.modules.get(name)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "").parent != original_dir:
            raise OriginalError(f"another module named {name!r} is already imported ({loaded!r})")
    if str(original_dir) not in sys.path:
        sys.path.insert(0, str(original_dir))
    try:
        if "utils" not in sys.modules:
            sys.modules["utils"] = _fixed_utils(original_dir / "utils.py", quiet)
        return _module_from(path, f"original_{path.stem}", path.read_text())
    except ImportError as error:
        raise OriginalError(f"cannot import the original {script}: {error}") from error


def _fixed_utils(path: Path, quiet: bool):
    source = path.read_text()
    for pattern, replacement, why in UTILS_FIXES:
        source, count = pattern.subn(replacement, source)
        if not quiet:
            print(f"original utils.py, fixed in memory at {count} place(s): {why}", file=sys.stderr)
    return _module_from(path, "utils", source)


def _module_from(path: Path, name: str, source: str):
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader=None, origin=str(path)))
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def main_argv(method: str, dataset: str, arch: str, ipc: int, iterations: int, data_path: Path,
              save_path: Path, batch_real: int | None = None) -> list[str]:
    """The command line a user gives the original for `iterations` outer iterations (its
    `--Iteration` counts from 0, so it is one less), evaluations off (`--num_eval 0`), one
    experiment, and its own defaults for everything not named (batch_real 256 among them)."""
    argv = ["--dataset", dataset, "--model", arch, "--ipc", str(ipc), "--num_exp", "1", "--num_eval", "0",
            "--Iteration", str(iterations - 1), "--data_path", str(data_path), "--save_path", str(save_path)]
    argv += ["--batch_real", str(batch_real)] if batch_real else []
    if method != "dm":
        argv += ["--method", method.upper()]
        argv += ["--dsa_strategy", DSA_STRATEGY] if method == "dsa" else []
    return argv


def run_main(module, argv: list[str]) -> str:
    """The original's `main()` with `argv`, its printed output returned."""
    sys.argv = ["main", *argv]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # np.mean of its zero evaluations, deprecations
        module.main()
    return printed.getvalue()


def iteration_seconds(module, argv: list[str], clock: Callable[[], float]) -> list[float]:
    """Seconds of each outer iteration of the original's `main()`: it builds one network with
    `get_network` at the start of every iteration and of nothing else when `--num_eval 0`, so the
    time between two calls is one iteration (the last ends with `main()`)."""
    calls: list[float] = []
    get_network = module.get_network

    def timed_get_network(*args, **kwargs):
        calls.append(clock())
        return get_network(*args, **kwargs)

    module.get_network = timed_get_network
    try:
        run_main(module, argv)
    finally:
        module.get_network = get_network
    end = clock()
    return [b - a for a, b in zip(calls, calls[1:] + [end])]


def evaluation_seconds(module, argv: list[str], clock: Callable[[], float]) -> dict:
    """The original's `main()` with `argv`, timing its `evaluate_synset` (train + test of one net,
    as main() calls it): seconds, test accuracy, and the images and labels it trained on."""
    seen: list[dict] = []
    evaluate_synset = module.evaluate_synset

    def timed_evaluate_synset(it_eval, net, images, labels, testloader, args):
        start = clock()
        result = evaluate_synset(it_eval, net, images, labels, testloader, args)
        seen.append({"seconds": clock() - start, "test_acc": float(result[2]), "images": images.cpu(),
                     "labels": labels.cpu(), "epochs": int(args.epoch_eval_train)})
        return result

    module.evaluate_synset = timed_evaluate_synset
    try:
        run_main(module, argv)
    finally:
        module.evaluate_synset = evaluate_synset
    if len(seen) != 1:
        raise OriginalError(f"expected the original to evaluate one network, it evaluated {len(seen)}")
    return seen[0]
