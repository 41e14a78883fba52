"""Evaluation throughput: stacked vs one-after-another student trainings, inference batch sizes,
the KD choice on a validation subset, and one student's train + validation + test against the
original DC code.

    python benchmarks/bench_evaluate.py                         # the training table (long on CPU)
    python benchmarks/bench_evaluate.py --archs ConvNet,MLP --ipcs 1 --members 1,20
    python benchmarks/bench_evaluate.py --section inference     # seconds per 10,000 images by batch size
    python benchmarks/bench_evaluate.py --section single --reference /path/to/DatasetCondensation
    python benchmarks/bench_evaluate.py --section val           # KD choice: validation subset vs full split
    python benchmarks/bench_evaluate.py --smoke-test            # seconds; CI runs it

Trainings are timed end to end (building the nets, the training loop) with the protocol's
optimizer and schedule, each configuration alternately one after another and stacked, `--repeats`
times, keeping the fastest of each (the least disturbed by other work on a shared machine).
Throughput is given in trainings per second of the full protocol (300 epochs), scaled from the
`--epochs` actually run; the accuracy columns are the members' mean test accuracy after those
epochs on a fixed subset of the test split: stacked and sequential must agree.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from raydd.core.datasets import load_dataset  # noqa: E402
from raydd.core.evaluate import (  # noqa: E402
    EvalConfig,
    NetStack,
    OneNet,
    evaluate_student,
    random_real,
    train_group,
)
from raydd.core.evaluate.protocol import train_teachers, validation_subset  # noqa: E402
from raydd.core.evaluate.speed import inference_batch_size, inference_channels_last  # noqa: E402
from raydd.core.evaluate.train import build_seeded, member_predictions  # noqa: E402
from raydd.stats import mean_std  # noqa: E402

from fresh_process import json_of_fresh_process, side_environment  # noqa: E402  (benchmarks/, this script's folder)
from original_data import prepare as prepare_original_data  # noqa: E402

PROTOCOL_EPOCHS = 300
SECTIONS = ("train", "inference", "single", "val")


def machine() -> str:
    """The CPU (model name and the vector units that matter to torch), threads, and any GPU."""
    cpu = platform.processor() or "unknown CPU"
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("unknown CPU", platform.processor()):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    units = [u for u in ("avx2", "avx512f", "amx_bf16") if u in flags]
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (f"{cpu} [{' '.join(units) or 'no avx flags read'}], torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads{gpu}")


def _timed(fn) -> tuple[float, object]:
    """(wall seconds, fn's result); the device is synchronised around the call."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started, out


def _timed_cpu(fn) -> tuple[float, float, object]:
    """(wall seconds, this process's CPU seconds, result): on a shared machine the CPU time of a
    one-thread run is the steadier measure of the work done."""
    cpu = time.process_time()
    wall, out = _timed(fn)
    return wall, time.process_time() - cpu, out


def _subset(split, n: int, device):
    return SimpleNamespace(images=split.images[:n].to(device), labels=split.labels[:n].to(device))


def bench_training(args, data, device) -> None:
    print(f"\n## Trainings: stacked vs one after another ({args.epochs} epochs timed, best of {args.repeats}; "
          f"trainings/s scaled to {PROTOCOL_EPOCHS} epochs; test accuracy % on {args.acc_images} images)")
    print(f"{'arch':<10} {'ipc':>3} {'M':>3} {'seq s':>7} {'stack s':>7} {'speedup':>7} {'seq cpu':>7} "
          f"{'stack cpu':>9} {'cpu ratio':>9} {'seq tr/s':>8} {'stack tr/s':>10} {'seq acc':>10} {'stack acc':>10}")
    test = _subset(data.test, args.acc_images, device)
    cfg = EvalConfig(epochs=args.epochs)
    for arch in args.archs:
        for ipc in args.ipcs:
            images, labels = random_real(data, ipc, seed=0)
            for members in args.members:
                seeds = list(range(members))
                for stacked in (False, True):  # warm-up: first-call costs are not the training's
                    train_group(images, labels, data, arch, EvalConfig(epochs=1), seeds[:2], device, stacked=stacked)
                runs: dict[bool, list] = {False: [], True: []}
                for _ in range(args.repeats):
                    for stacked in (False, True):  # alternated, so both see the same machine
                        runs[stacked].append(_timed_cpu(lambda: train_group(
                            images, labels, data, arch, cfg, seeds, device, stacked=stacked)))
                (seq_wall, seq_cpu, seq), (st_wall, st_cpu, st) = (
                    (min(r[0] for r in runs[k]), min(r[1] for r in runs[k]), runs[k][0][2]) for k in (False, True))
                rate = [members / (wall * PROTOCOL_EPOCHS / args.epochs) for wall in (seq_wall, st_wall)]
                acc = [mean_std(_accuracies(trained, test, arch, device)) for trained in (seq, st)]
                print(f"{arch:<10} {ipc:>3} {members:>3} {seq_wall:>7.2f} {st_wall:>7.2f} {seq_wall / st_wall:>6.2f}x "
                      f"{seq_cpu:>7.2f} {st_cpu:>9.2f} {seq_cpu / st_cpu:>8.2f}x {rate[0]:>8.3f} {rate[1]:>10.3f} "
                      + " ".join(f"{100 * a.mean:>5.1f}±{100 * a.std:<4.1f}" for a in acc), flush=True)


def _accuracies(trained, split, arch, device) -> list[float]:
    kind = torch.device(device).type
    return trained.accuracies(split, inference_batch_size(arch, kind), device, inference_channels_last(arch, kind))


def bench_inference(args, data, device) -> None:
    n = min(args.inference_images, len(data.test))
    stacked = max(args.members)
    print(f"\n## Inference: seconds per 10,000 images and member, by batch size (timed on {n} test "
          f"images, inference_mode; one net in NCHW and channels-last (NHWC), and {stacked} stacked members)")
    images = data.test.images[:n].to(device)
    sizes = args.batch_sizes
    print(f"{'arch':<10} {'layout':<7} {'members':>7} " + " ".join(f"{b:>7}" for b in sizes) + "  fastest")
    for arch in args.archs:
        nets = [build_seeded(arch, data.info, seed).to(device) for seed in range(stacked)]
        nhwc = copy.deepcopy(nets[0]).to(memory_format=torch.channels_last)
        models = [("NCHW", OneNet(nets[0]), torch.contiguous_format),
                  ("NHWC", OneNet(nhwc), torch.channels_last)]
        models += [("NCHW", NetStack(nets), torch.contiguous_format)] if stacked > 1 else []
        for layout_name, model, layout in models:
            times = []
            for size in sizes:
                member_predictions(model, images[:size], size, layout)  # warm-up: first-call allocations
                seconds = min(_timed(lambda: member_predictions(model, images, size, layout))[0]
                              for _ in range(args.repeats))
                times.append(seconds * 10_000 / n / model.size)
            fastest = sizes[min(range(len(sizes)), key=times.__getitem__)]
            print(f"{arch:<10} {layout_name:<7} {model.size:>7} " + " ".join(f"{t:>7.2f}" for t in times)
                  + f"  {fastest}", flush=True)


def bench_single(args, device) -> None:
    """One `--single-arch` student at ipc 1: raydd's train + validation + test beside the original
    DC code's `evaluate_synset` (train + test) as its `main.py` calls it: its own data pipeline and
    test loader, its own net of that name, 10 random real images (`--init real`) picked by it; raydd
    then trains on those same images. Alternated `--repeats` times, each side in a fresh process of
    its own (raydd's process-wide malloc setting reaches the original only under `--same-malloc`)."""
    print(f"\n## One {args.single_arch} student on {args.single_dataset}, ipc 1, {args.single_epochs} epochs "
          f"(the full validation and test splits{'' if not args.single_val_images else ', and a validation subset'})")
    val_sizes = [None] + ([args.single_val_images] if args.single_val_images else [])
    with tempfile.TemporaryDirectory() as work:
        for repeat in range(args.repeats):
            images_file = Path(work) / f"images_{repeat}.pt"
            original = _original_single(args, images_file) if args.reference else None
            raydd_seconds = []
            for val_images in val_sizes:
                run = _single_side_process(args, device, val_images, images_file if original else None)
                val = f"{val_images} validation images" if val_images else "validation"
                print(f"raydd evaluate_student: {run['seconds']:.1f} s (training {run['train_seconds']:.1f} s, {val} "
                      f"+ test {run['seconds'] - run['train_seconds']:.1f} s), test {100 * run['test_acc']:.2f}%",
                      flush=True)
                raydd_seconds.append(run["seconds"])
            if original:
                ratios = " / ".join(f"{s / original['seconds']:.2f}" for s in raydd_seconds)
                malloc = ", raydd's malloc setting" if args.same_malloc else ""
                print(f"original DC evaluate_synset{malloc}: {original['seconds']:.1f} s (train {original['epochs'] + 1} "
                      f"epochs + test), test {100 * original['test_acc']:.2f}%; raydd / original: {ratios}", flush=True)


def _original_single(args, images_file: Path) -> dict:
    """The original's `main.py --init real --Iteration 0 --num_eval 1` in a fresh process: the one
    evaluation it runs before its first iteration, timed; the images it trained on go to `images_file`."""
    if args.single_dataset != "fashion_mnist":
        raise SystemExit("--section single --reference compares on fashion_mnist only (the original reads "
                         "its official files; it has no loader for digits)")
    data = prepare_original_data(args.single_dataset)
    with tempfile.TemporaryDirectory() as save_path:
        main = ["--dataset", data.name, "--model", args.single_arch, "--ipc", "1", "--init", "real",
                "--Iteration", "0", "--num_eval", "1", "--num_exp", "1", "--data_path", str(data.path),
                "--save_path", save_path]
        command = [str(Path(__file__).with_name("original_worker.py")), "--original-dir", args.reference,
                   "--evaluation-out", str(images_file), "--", *main]
        return json_of_fresh_process(command, "the original side of --section single",
                                     env=side_environment(threads=args.threads, raydd_malloc=args.same_malloc))


def _single_side_process(args, device, val_images: int | None, images_file: Path | None) -> dict:
    """Run raydd's `single_side` in a fresh Python process; its JSON result."""
    command = [__file__, "--single-side", "raydd", "--single-arch", args.single_arch,
               "--single-dataset", args.single_dataset, "--single-epochs", str(args.single_epochs),
               "--device", str(device)]
    command += ["--single-val-images", str(val_images)] if val_images else []
    command += ["--single-images", str(images_file)] if images_file else []
    return json_of_fresh_process(command, "the raydd side of --section single",
                                 env=side_environment(threads=args.threads))


def single_side(args, device) -> dict:
    """raydd's side of `--section single`, alone in this process: seconds and test accuracy, on the
    images the original trained on (`--single-images`) or on 10 random real ones (seed 0)."""
    data = load_dataset(args.single_dataset, device=device)
    if args.single_images:
        given = torch.load(args.single_images, weights_only=True)
        images, labels = given["images"].to(device), given["labels"].to(device)
    else:
        images, labels = random_real(data, 1, seed=0)
    cfg = EvalConfig(epochs=args.single_epochs, val_images=args.single_val_images)
    seconds, record = _timed(lambda: evaluate_student(images, labels, data, args.single_arch, cfg, 0, device))
    return {"seconds": seconds, "train_seconds": record.train_seconds, "test_acc": record.test_acc}


def bench_val(args, device) -> None:
    """Does a fixed, seeded validation subset choose the same KD (alpha, T) as the full split?"""
    data = load_dataset(args.single_dataset, device=device)
    cfg = EvalConfig(epochs=args.val_epochs, teacher="ConvNet")
    seeds, k = list(range(args.val_seeds)), len(cfg.candidates())
    print(f"\n## KD choice on a validation subset ({args.single_dataset}, {args.val_epochs} epochs, "
          f"{len(seeds)} seeds x candidates {cfg.candidates()}, full val {len(data.val)} images)")
    print(f"(the choice's test accuracy on {args.acc_images} test images; 'lost': full-split choice minus "
          f"subset choice, mean over seeds, in points)")
    print(f"{'student':<8} {'ipc':>3} {'subset':>6} {'same choice':>11} {'test pts lost':>13} {'val s':>6}")
    test_split = _subset(data.test, args.acc_images, device)
    for ipc in args.ipcs:
        images, labels = random_real(data, ipc, seed=0)
        teachers = train_teachers(images, labels, data, cfg, seeds, device)
        for student in args.val_students:
            trained = train_group(images, labels, data, student, cfg, seeds, device, teachers=teachers,
                                  candidates=cfg.candidates())
            test = _accuracies(trained, test_split, student, device)
            full = _accuracies(trained, data.val, student, device)
            for size in args.val_subsets + [len(data.val)]:
                subset = validation_subset(data.val, size)
                seconds, val = _timed(lambda: _accuracies(trained, subset, student, device))
                same, lost = 0, []
                for i in range(len(seeds)):
                    pick = max(range(k), key=lambda j: (val[i * k + j], -j))
                    truth = max(range(k), key=lambda j: (full[i * k + j], -j))
                    same += pick == truth
                    lost.append(100 * (test[i * k + truth] - test[i * k + pick]))
                print(f"{student:<8} {ipc:>3} {size:>6} {same:>5}/{len(seeds):<5} {mean_std(lost).mean:>13.2f} "
                      f"{seconds:>6.1f}", flush=True)


def _csv(kind):
    return lambda text: [kind(t) for t in text.split(",") if t]


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--section", action="append", choices=SECTIONS,
                   help="what to measure (repeatable) [default: train]")
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--archs", type=_csv(str), default=["MLP", "ConvNet", "LeNet", "AlexNet", "VGG11", "ResNet18"])
    p.add_argument("--ipcs", type=_csv(int), default=[1, 10])
    p.add_argument("--members", type=_csv(int), default=[1, 5, 20])
    p.add_argument("--epochs", type=int, default=4, help="epochs per timed training")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--acc-images", type=int, default=2000)
    p.add_argument("--inference-images", type=int, default=2048)
    p.add_argument("--batch-sizes", type=_csv(int), default=[32, 64, 128, 256, 512, 1024, 2048])
    p.add_argument("--single-arch", default="ConvNet")
    p.add_argument("--single-dataset", default="fashion_mnist")
    p.add_argument("--single-epochs", type=int, default=PROTOCOL_EPOCHS)
    p.add_argument("--single-val-images", type=int, default=None,
                   help="also time the student with this fixed validation subset (EvalConfig.val_images)")
    p.add_argument("--reference", default=None, metavar="DIR",
                   help="checkout of the original DatasetCondensation code, to time its evaluate_synset")
    p.add_argument("--same-malloc", action="store_true",
                   help="run the original with raydd's CPU malloc setting too (what is left is the code)")
    p.add_argument("--single-side", choices=("raydd",), help=argparse.SUPPRESS)
    p.add_argument("--single-images", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--val-students", type=_csv(str), default=["ConvNet", "MLP"])
    p.add_argument("--val-subsets", type=_csv(int), default=[500, 1000, 2000])
    p.add_argument("--val-seeds", type=int, default=5)
    p.add_argument("--val-epochs", type=int, default=PROTOCOL_EPOCHS)
    p.add_argument("--threads", type=int, default=None, help="torch threads [default: torch's own]")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--smoke-test", action="store_true", help="every section, tiny, on digits (CI)")
    args = p.parse_args(argv)
    args.section = args.section or ["train"]
    if args.smoke_test:
        args.section, args.dataset, args.single_dataset = list(SECTIONS), "digits", "digits"
        args.archs, args.ipcs, args.members, args.epochs, args.repeats = ["MLP", "ConvNetW32"], [1], [1, 2], 1, 1
        args.acc_images, args.inference_images, args.batch_sizes = 100, 64, [32, 64]
        args.single_arch, args.single_epochs, args.reference, args.single_val_images = "ConvNetW32", 2, None, 50
        args.val_students, args.val_subsets, args.val_seeds, args.val_epochs = ["MLP"], [50], 2, 2
    return args


def main(argv=None) -> None:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.single_side:
        print(json.dumps(single_side(args, args.device)))
        return
    print(f"machine: {machine()}")
    if "train" in args.section or "inference" in args.section:
        data = load_dataset(args.dataset, device=args.device)
        if "train" in args.section:
            bench_training(args, data, args.device)
        if "inference" in args.section:
            bench_inference(args, data, args.device)
    if "single" in args.section:
        bench_single(args, args.device)
    if "val" in args.section:
        bench_val(args, args.device)


if __name__ == "__main__":
    main()
