"""The reference MTT code (github.com/GeorgeCazenavette/mtt-distillation), loaded from a checkout at
run time, in memory, without its module-level imports of kornia, wandb, scipy and tqdm.

Nothing is copied into raydd. What is loaded, and how:
- `networks.py` and `reparam_module.py` import only torch: each is executed as it is.
- `utils.py` imports kornia (ZCA), scipy, torchvision and tqdm at module level, none of which one
  step needs: its function and class definitions that the step needs (`get_network` and its
  default ConvNet setting, `ParamDiffAug`, `DiffAugment` and its ops) are taken from its syntax
  tree, unchanged, and executed alone.
- `distill.py`'s one MTT iteration is the block of its training loop from building the student
  (`student_net = get_network(...)`) to `optimizer_lr.step()`: taken from the syntax tree of
  `main()`, unchanged, and executed in a namespace holding what `main()` would have defined
  before it (args, the expert buffer, the synthetic images and lr and their optimisers).

Two things of that namespace are not the reference's: `get_network` seeds torch from the clock,
so its `time.time()` returns a value fixed by the check's seed (the check is repeatable); and its `torch` is a
recording proxy that passes every call through and keeps the results of `torch.rand`,
`torch.randint` and `torch.randperm`, the draws of the step's batches and DSA, so that raydd's
step can be given the very same batches and augmentations.
"""

from __future__ import annotations

import ast
import importlib.util
import types
from pathlib import Path

import numpy as np
import torch

REFERENCE_URL = "github.com/GeorgeCazenavette/mtt-distillation"
REFERENCE_FILES = ("distill.py", "utils.py", "networks.py", "reparam_module.py")
UTILS_NAMES = ("get_default_convnet_setting", "get_network", "ParamDiffAug", "set_seed_DiffAug", "DiffAugment",
               "rand_scale", "rand_rotate", "rand_flip", "rand_brightness", "rand_saturation", "rand_contrast",
               "rand_crop", "rand_cutout", "AUGMENT_FNS")
NETWORK_NAMES = ("MLP", "ConvNet", "LeNet", "AlexNet", "VGG11BN", "VGG11", "ResNet18", "ResNet18BN_AP",
                 "ResNet18_AP")
CLOCK_START = 1_700_000_000.0  # get_network's time.time() reads this plus the check's seed (seconds)


class ReferenceError(RuntimeError):
    """The directory is not a checkout of the reference, or its code is not shaped as expected."""


def check_checkout(directory: Path) -> None:
    for name in REFERENCE_FILES:
        if not (directory / name).is_file():
            raise ReferenceError(f"{directory / name} does not exist: --reference-dir must be a checkout of "
                                 f"{REFERENCE_URL}")


class RecordingTorch:
    """`torch`, except that the results of its random draws are kept in order in `draws`."""

    RECORDED = ("rand", "randint", "randperm")

    def __init__(self) -> None:
        self.draws: list[tuple[str, torch.Tensor]] = []

    def __getattr__(self, name: str):
        attribute = getattr(torch, name)
        if name not in self.RECORDED:
            return attribute

        def recorded(*args, **kwargs):
            result = attribute(*args, **kwargs)
            self.draws.append((name, result.clone()))
            return result

        return recorded


def _definitions_of(path: Path, name: str, wanted: tuple[str, ...]) -> dict:
    """`wanted` from the file executed as a module of its own (it imports torch only)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # the checkout's code, whatever it raises
        raise ReferenceError(f"cannot load {path}: {type(err).__name__}: {err}") from None
    missing = [w for w in wanted if not hasattr(module, w)]
    if missing:
        raise ReferenceError(f"{path} does not define {', '.join(missing)}")
    return {w: getattr(module, w) for w in wanted}


def _definitions(path: Path, names: tuple[str, ...]) -> ast.Module:
    """The top-level definitions and assignments of `names` in the file, in their order there."""
    tree = ast.parse(path.read_text(), str(path))
    kept = [node for node in tree.body if _defined_name(node) in names]
    missing = set(names) - {_defined_name(node) for node in kept}
    if missing:
        raise ReferenceError(f"{path} does not define {', '.join(sorted(missing))}")
    return ast.Module(body=kept, type_ignores=[])


def _defined_name(node: ast.stmt) -> str | None:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    return None


def _iteration_block(path: Path) -> ast.Module:
    """The statements of main()'s training loop from `student_net = ...` to `optimizer_lr.step()`."""
    tree = ast.parse(path.read_text(), str(path))
    main = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"), None)
    loops = [] if main is None else [n for n in ast.walk(main) if isinstance(n, ast.For)]
    loop = next((n for n in loops if isinstance(n.target, ast.Name) and n.target.id == "it"), None)
    if loop is None:
        raise ReferenceError(f"{path}: no `for it in ...` training loop in main()")
    body = loop.body
    first = next((i for i, n in enumerate(body) if _defined_name(n) == "student_net"), None)
    last = next((i for i, n in enumerate(body) if ast.unparse(n).strip() == "optimizer_lr.step()"), None)
    if first is None or last is None or last < first:
        raise ReferenceError(f"{path}: the loop has no block from `student_net = ...` to `optimizer_lr.step()`")
    return ast.Module(body=body[first : last + 1], type_ignores=[])


def load_reference(directory: Path) -> dict:
    """The namespace the reference's step runs in, its `torch` recording (key `torch`)."""
    check_checkout(directory)
    networks = _definitions_of(directory / "networks.py", "reference_mtt_networks", NETWORK_NAMES)
    reparam = _definitions_of(directory / "reparam_module.py", "reference_mtt_reparam_module", ("ReparamModule",))
    namespace = {"torch": RecordingTorch(), "np": np, "nn": torch.nn, "F": torch.nn.functional, "time": None,
                 **reparam, **networks}
    utils = _definitions(directory / "utils.py", UTILS_NAMES)
    exec(compile(utils, str(directory / "utils.py"), "exec"), namespace)
    namespace["__iteration__"] = compile(_iteration_block(directory / "distill.py"), str(directory / "distill.py"),
                                         "exec")
    return namespace


def run_iteration(namespace: dict, bindings: dict, seed: int) -> dict:
    """Execute the reference's iteration block with `bindings` (what main() defines before it),
    its clock reading `CLOCK_START + seed`; returns the namespace afterwards."""
    namespace["time"] = types.SimpleNamespace(time=lambda: CLOCK_START + seed)  # get_network's globals
    scope = {**namespace, **bindings}
    exec(namespace["__iteration__"], scope)
    return scope
