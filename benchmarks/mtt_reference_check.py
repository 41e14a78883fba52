"""One MTT iteration computed by raydd and by the reference code, on the same expert trajectory,
start epoch, synthetic batch, student batches and DSA draws: their loss, image gradient and lr
gradient side by side. Exits 1 when they differ beyond float tolerance.

    python benchmarks/mtt_reference_check.py --reference-dir ~/src/mtt-distillation
    python benchmarks/mtt_reference_check.py --reference-dir DIR --arch ConvNet --syn-steps 10 --ipc 2
    python benchmarks/mtt_reference_check.py --reference-dir DIR --batch-syn 7 --seed 3 --dsa-strategy none
    python benchmarks/mtt_reference_check.py --smoke-test [--reference-dir DIR]      # seconds; CI

The reference (github.com/GeorgeCazenavette/mtt-distillation) is loaded from the checkout at run
time and never copied (benchmarks/reference_mtt.py says what is loaded and how). The expert is
trained by raydd (`train_expert`, a few epochs); the reference receives it in its own buffer format
(a list of epochs, each the list of its parameters) and draws the start epoch, the student
batches and the DSA parameters itself; raydd's step is then given those draws.

The data are digits, upsampled to 32x32 and repeated on three channels: the reference's
ConvNetW32 is built for 32-px images, and on one channel its crop leaves the batch in a
channels-last layout that its ConvNet's flattening `.view` refuses.

Tolerance. Both sides run the same float32 operations in the same order, except DSA's colour op
(raydd folds brightness, saturation and contrast into one expression, the reference applies them
one after another) and the order of a few sums, so they differ by float32 rounding (~1e-7 per
operation), amplified by the unrolled student steps. A relative difference of 1e-4 on the loss
and on the L2 norm of each gradient is far above that and far below any change of the algorithm
(a start epoch off by one, a missing normalisation, a different augmentation move the loss by
percents).

Scale and rotate are checked op by op instead (each DSA op of both codes on the same images with
the same draws, forward, tolerance 1e-5 of the largest pixel), and left out of the step's default
strategy. The reference resamples them with `align_corners=True`, raydd (like the DSA/DC code)
with the default `False`: for a linear map about the image centre the two conventions give the
same sampling points (they cancel between `affine_grid` and `grid_sample`), but computed in
another order, so the points differ by float rounding (~1e-6 px). An unrolled step is not
smooth in those points: moving raydd's own scale draws by 1e-7 moved its image gradient by 0.04 %
after one student step and 0.8 % after ten (noise images; 1.8 % on real digits), against 4e-7 for
a move of the images themselves by 1e-7 without augmentation. (Likely cause, not proven: the
zero-filled border that scaling and rotation leave, where a rounding decides ties and ReLU kinks
that the second-order gradient jumps across; max-pooling and norm-free ConvNets showed it even
at initialisation.) So with scale or rotate in `--dsa-strategy` the step's image gradient
differs by up to ~2 % between the codes, for that reason alone, and the check says so.
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))  # reference_mtt beside this file

from reference_mtt import ReferenceError, load_reference, run_iteration  # noqa: E402

from raydd.core.archs import build_net  # noqa: E402
from raydd.core.augment import DSA, DSA_OPS, DSAConfig, DSAParams  # noqa: E402
from raydd.core.datasets import Dataset, DatasetInfo, Split, denormalize, load_dataset  # noqa: E402
from raydd.core.distill.mtt import MTTSettings, StudentStep, initial_images, matching_loss  # noqa: E402
from raydd.core.experts import ExpertSettings, train_expert  # noqa: E402

TOLERANCE = 1e-4  # relative, on the loss and on each gradient's L2 norm (see the docstring)
DEFAULT_STRATEGY = "color_crop_cutout_flip"  # scale and rotate: op by op (see the docstring)
OP_TOLERANCE = 1e-5  # of the largest pixel: float rounding of the sampling points


def digits_rgb32(train_images: int | None) -> Dataset:
    """digits as 3 x 32 x 32 images (bilinear upsampling, grey on every channel)."""
    data = load_dataset("digits")
    info = DatasetInfo("digits-rgb32", 3, 32, 10, data.info.mean * 3, data.info.std * 3, data.info.class_names)

    def lift(split: Split, limit: int | None) -> Split:
        pixels = denormalize(split.images[:limit], data.info)
        pixels = F.interpolate(pixels, size=(32, 32), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
        return Split(((pixels - data.info.mean[0]) / data.info.std[0]).contiguous(), split.labels[:limit])

    return Dataset(info, lift(data.train, train_images), lift(data.val, 10), lift(data.test, 10),
                   data.val_size, data.split_seed)


# ---- the reference's draws as raydd's inputs ---------------------------------------------------
def student_steps(draws: list, n_images: int, batch: int, syn_steps: int, dsa: DSA | None,
                  side: int) -> list[StudentStep]:
    """The batches and DSA parameters the reference drew, in raydd's form (uniforms in [0, 1) that
    raydd's ops turn into the same translations, offsets, factors and angles)."""
    queue, chunks, steps = list(draws), [], []
    for _ in range(syn_steps):
        if not chunks:
            chunks = list(_take(queue, "randperm").split(batch))
        indices = chunks.pop()
        params = None
        if dsa is not None:
            op = dsa.ops[int(_take(queue, "randint"))]
            params = DSAParams((op,), _uniforms(op, queue, len(indices), side, dsa.config))
        steps.append(StudentStep(indices, params))
    if queue:
        raise ReferenceError(f"the reference drew {len(queue)} more random values than one step uses")
    return steps


def _take(queue: list, kind: str) -> torch.Tensor:
    if not queue or queue[0][0] != kind:
        raise ReferenceError(f"expected the reference to draw torch.{kind} next, found {queue[:1]}")
    return queue.pop(0)[1]


def _uniforms(op: str, queue: list, n: int, side: int, cfg: DSAConfig) -> torch.Tensor:
    if op in ("color", "flip", "scale", "rotate"):  # rand draws are raydd's uniforms as they are
        columns = [_take(queue, "rand").reshape(n) for _ in range(DSA_OPS[op].draws)]
    elif op == "crop":  # integer shifts in [-s, s] -> the middle of their uniform interval
        shift = int(side * cfg.ratio_crop_pad + 0.5)
        columns = [(_take(queue, "randint").reshape(n).double() + shift + 0.5) / (2 * shift + 1) for _ in range(2)]
    elif op == "cutout":  # square centres in [0, side - size % 2]
        size = int(side * cfg.ratio_cutout + 0.5)
        columns = [(_take(queue, "randint").reshape(n).double() + 0.5) / (side - size % 2 + 1) for _ in range(2)]
    else:
        raise ReferenceError(f"no mapping of the reference's draws for DSA op {op!r}")
    return torch.stack(columns, dim=1).float()


# ---- the two sides ------------------------------------------------------------------------------
def augmentation_check(reference: dict, images: torch.Tensor, seed: int) -> bool:
    """Every DSA op of both codes on `images` with the reference's draws (parameters per image)."""
    print(f"{'DSA op':<8} {'largest |difference|':>21} {'of the largest pixel':>21}")
    worst = 0.0
    for op in DSA_OPS:
        param = reference["ParamDiffAug"]()
        reference["torch"].draws.clear()
        torch.manual_seed(seed)
        theirs = reference["DiffAugment"](images.clone(), op, param=param)
        queue = list(reference["torch"].draws)
        _take(queue, "randint")  # the op choice among one op
        ours = DSA(op).apply(images, DSAParams((op,), _uniforms(op, queue, len(images), images.shape[-1],
                                                                  DSAConfig())))
        difference = float((ours - theirs).abs().max())
        worst = max(worst, difference / float(theirs.abs().max()))
        print(f"{op:<8} {difference:>21.3e} {difference / float(theirs.abs().max()):>21.3e}")
    return worst <= OP_TOLERANCE


def reference_side(reference: dict, trajectory, images, labels, args, settings: MTTSettings) -> dict:
    reference["torch"].draws.clear()
    per_epoch = [[p.clone() for p in trajectory.layout.unflatten(row).values()] for row in trajectory.params]
    image_syn = images.clone().requires_grad_(True)
    syn_lr = torch.tensor(settings.lr_syn_init).requires_grad_(True)
    bindings = {
        "args": types.SimpleNamespace(model=args.arch, device="cpu", distributed=False, load_all=True, texture=False,
                                      dsa=settings.dsa, no_aug=False, dsa_strategy=settings.dsa_strategy,
                                      dsa_param=reference["ParamDiffAug"](), syn_steps=settings.syn_steps,
                                      batch_syn=settings.batch_syn or len(images),
                                      expert_epochs=settings.expert_epochs, max_start_epoch=settings.max_start_epoch),
        "channel": 3, "num_classes": 10, "im_size": (32, 32), "buffer": [per_epoch],
        "image_syn": image_syn, "label_syn": labels.clone(), "syn_lr": syn_lr,
        "optimizer_img": torch.optim.SGD([image_syn], lr=settings.lr_img, momentum=settings.momentum),
        "optimizer_lr": torch.optim.SGD([syn_lr], lr=settings.lr_lr, momentum=settings.momentum),
        "criterion": torch.nn.CrossEntropyLoss(),
    }
    np.random.seed(args.seed)
    scope = run_iteration(reference, bindings, args.seed)
    shapes = [tuple(s) for s in scope["student_net"]._param_shapes]  # its ReparamModule's flat layout
    if shapes != [tuple(s) for s in trajectory.layout.shapes]:
        raise ReferenceError(f"the reference's {args.arch} has parameters {shapes}, raydd's "
                             f"{list(trajectory.layout.shapes)}")
    return {"loss": float(scope["grand_loss"].detach()), "image_grad": image_syn.grad.clone(),
            "lr_grad": float(syn_lr.grad), "start_epoch": int(scope["start_epoch"]),
            "draws": list(reference["torch"].draws)}


def raydd_side(trajectory, images, labels, settings: MTTSettings, start_epoch: int, steps, dsa) -> dict:
    x = images.clone().requires_grad_(True)
    syn_lr = torch.tensor(settings.lr_syn_init).requires_grad_(True)
    net = build_net(trajectory.arch, 3, 10, 32)
    loss = matching_loss(net, trajectory.layout, trajectory, start_epoch, settings.expert_epochs, x, labels,
                         syn_lr, steps, dsa)
    image_grad, lr_grad = torch.autograd.grad(loss, [x, syn_lr])
    return {"loss": float(loss), "image_grad": image_grad, "lr_grad": float(lr_grad)}


def relative(a, b) -> float:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


def report(ours: dict, theirs: dict) -> bool:
    rows = [("loss", ours["loss"], theirs["loss"], relative(ours["loss"], theirs["loss"])),
            ("image gradient (L2 norm)", float(ours["image_grad"].norm()), float(theirs["image_grad"].norm()),
             relative(ours["image_grad"], theirs["image_grad"])),
            ("lr gradient", ours["lr_grad"], theirs["lr_grad"], relative(ours["lr_grad"], theirs["lr_grad"]))]
    print(f"{'quantity':<26} {'raydd':>16} {'reference':>16} {'relative difference':>20}")
    for name, a, b, diff in rows:
        print(f"{name:<26} {a:>16.9g} {b:>16.9g} {diff:>20.3e}")
    max_abs = float((ours["image_grad"] - theirs["image_grad"]).abs().max())
    print(f"image gradient: largest absolute difference {max_abs:.3e} (largest entry "
          f"{float(theirs['image_grad'].abs().max()):.3e})")
    worst = max(diff for *_, diff in rows)
    verdict = "EQUAL within" if worst <= TOLERANCE else "DIFFERENT beyond"
    print(f"{verdict} the tolerance {TOLERANCE:g} (worst relative difference {worst:.3e})")
    return worst <= TOLERANCE


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reference-dir", type=Path, help="a checkout of github.com/GeorgeCazenavette/mtt-distillation")
    p.add_argument("--arch", default="ConvNetW32", help="a ConvNet name both codes know (default ConvNetW32)")
    p.add_argument("--ipc", type=int, default=2)
    p.add_argument("--syn-steps", type=int, default=10)
    p.add_argument("--batch-syn", type=int, default=None, help="default: all synthetic images")
    p.add_argument("--expert-epochs", type=int, default=2)
    p.add_argument("--max-start-epoch", type=int, default=3)
    p.add_argument("--train-images", type=int, default=None, help="expert training images (default: all)")
    p.add_argument("--dsa-strategy", default=DEFAULT_STRATEGY, help="'none' for no augmentation")
    p.add_argument("--init", choices=("noise", "real"), default="noise", help="initial synthetic images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke-test", action="store_true", help="a tiny case (CI); skipped without --reference-dir")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    if args.smoke_test:
        if args.reference_dir is None:
            print("smoke test skipped: no --reference-dir (the reference MTT code is not part of raydd; "
                  "pass a checkout of github.com/GeorgeCazenavette/mtt-distillation to run it)")
            return 0
        args.ipc, args.syn_steps, args.train_images, args.expert_epochs, args.max_start_epoch = 1, 3, 200, 1, 2
    torch.set_num_threads(1)  # one reduction order for both sides
    try:
        reference = load_reference(args.reference_dir) if args.reference_dir else None
    except ReferenceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if reference is None:
        print("error: --reference-dir is required (a checkout of github.com/GeorgeCazenavette/mtt-distillation)",
              file=sys.stderr)
        return 2
    dsa_on = args.dsa_strategy != "none"
    settings = MTTSettings(syn_steps=args.syn_steps, expert_epochs=args.expert_epochs,
                           max_start_epoch=args.max_start_epoch, batch_syn=args.batch_syn, dsa=dsa_on,
                           dsa_strategy=args.dsa_strategy if dsa_on else DEFAULT_STRATEGY,
                           experts=ExpertSettings(epochs=args.max_start_epoch - 1 + args.expert_epochs,
                                                  batch_size=64))
    data = digits_rgb32(args.train_images)
    started = time.perf_counter()
    trajectory, _ = train_expert(args.arch, data, settings.experts, seed=args.seed)
    images, labels = initial_images(data.train, data.info, args.ipc, args.init, seed=args.seed)
    print(f"expert: {args.arch}, {trajectory.epochs} epochs on {len(data.train)} digits images (3x32x32), "
          f"{time.perf_counter() - started:.1f} s; synthetic set: {len(images)} images; syn_steps "
          f"{settings.syn_steps}, batch_syn {settings.batch_syn or len(images)}, expert_epochs "
          f"{settings.expert_epochs}, DSA {args.dsa_strategy}")
    try:
        theirs = reference_side(reference, trajectory, images, labels, args, settings)
        dsa = DSA(settings.dsa_strategy) if dsa_on else None
        steps = student_steps(theirs["draws"], len(images), settings.batch_syn or len(images), settings.syn_steps,
                              dsa, 32)
    except ReferenceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"start epoch drawn by the reference: {theirs['start_epoch']}; DSA ops of its student steps: "
          f"{' '.join(s.augment.ops[0] if s.augment else '-' for s in steps)}")
    ours = raydd_side(trajectory, images, labels, settings, theirs["start_epoch"], steps, dsa)
    step_equal = report(ours, theirs)
    ops_equal = augmentation_check(reference, images, args.seed)
    print(f"DSA ops {'EQUAL within' if ops_equal else 'DIFFERENT beyond'} {OP_TOLERANCE:g} of the largest pixel")
    return 0 if step_equal and ops_equal else 1


if __name__ == "__main__":
    sys.exit(main())
