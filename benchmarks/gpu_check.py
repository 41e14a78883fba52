"""Every GPU check of raydd in one prepared run, with a summary of its figures.

    bash benchmarks/gpu_check.sh                  # on a GPU machine: every stage (budget 8.5 minutes)
    bash benchmarks/gpu_check.sh --dry            # every stage at toy size on CPU (under a minute)
    bash benchmarks/gpu_check.sh --stages fmnist  # some stages only

Stages (each under its own time budget; one that overruns is stopped and reported, the next runs):
- speed:  seconds per distillation iteration of raydd (eager and compiled) against the original DC
          code itself, each on its own data pipeline, on the speed target's two configurations, when
          its checkout is carried (benchmarks/vs_original.py); then raydd against the plain DC-style
          loop on CIFAR-shaped data, eager (benchmarks/bench_distill.py).
- evaluate: student trainings stacked against one after another for every student family at ipc 1
          and 10, 1 and 20 members (the CUDA stacking rule of raydd/core/evaluate/speed.py is
          reasoning until this stage measures it), and one ConvNet student's train + validation +
          test against the original DC code's evaluation (benchmarks/bench_evaluate.py).
- fmnist: real Fashion-MNIST, DC, ipc 1, 1000 iterations, ConvNet; the set evaluated on ConvNet
          (300 epochs, 5 seeds) beside the published 70.5 +- 0.6, and on MLP, LeNet, AlexNet, VGG11
          and ResNet18 with KD off, then on (3 seeds each); a call cut off by the budget keeps the
          records of the calls before it.
- ray:    a two-trial sweep on Ray, trials at 0.5 GPU beside two evaluators at 0.25 GPU on the
          one GPU; every result row says the device it was computed on.
- standard (only when named: `--stages standard`): the evaluation standard's study,
          sweeps/fashion_mnist_standard.yaml as shipped (6 distillations, 330 evaluation jobs, whole-
          split baseline) with its resources set for one GPU; its tables, the pool against DC alone
          at the distillation-seed level and DD-Ranking's scores go into the summary, and its rows
          (compacted) and spec into OUT/fashion_mnist_standard/. Budget 9 minutes.
- mtt (only when named: `--stages mtt`): the MTT pool study, sweeps/fashion_mnist_mtt.yaml as
          shipped (15 experts in the expert stage, 6 distillations, 324 evaluation jobs) with its
          resources set for one GPU: trials and expert tasks at 0.08 GPU and 1 CPU, 6 at once,
          beside 6 evaluators at 0.08 GPU. Its d x e table, the pool against MTT alone at the
          distillation-seed level and every expert's seconds go into the summary, its rows
          (compacted) and spec into OUT/fashion_mnist_mtt/. Budget 9 minutes, assumed, not measured:
          a lent machine's 15 minutes less its start (~3-4 minutes) and the copy back; the study's
          evaluation is the standard study's without its whole-split baseline, and its experts
          (3 epochs each) and 300 MTT iterations of 50 steps are guessed at ~1-3 minutes on the GPU
          from the CPU figures in the file's size section. A run cut off by the budget says so
          and brings back the rows it wrote.

The summary goes to stdout and to OUT/gpu_check.md (OUT: --out, else $OUT, else runs/gpu_check).
The commands it runs are the ones a user types (`python -m raydd ...`), so what passes here works there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARRY = ROOT / ".carry"  # what benchmarks/prepare_gpu_carry.sh packs for a machine without network
PUBLISHED_DC_FMNIST_IPC1 = (70.5, 0.6)  # DC, ConvNet, test accuracy %, mean +- std (ANCHORS.md)
OTHER_STUDENTS = ["MLP", "LeNet", "AlexNet", "VGG11", "ResNet18"]


@dataclass
class Outcome:
    stage: str
    seconds: float
    ok: bool
    lines: list[str] = field(default_factory=list)  # the figures, as they go into the summary


class StageFailed(RuntimeError):
    def __init__(self, message: str, lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.lines = lines or []  # what the stage measured before it failed


class Runner:
    """Runs the stages' commands under one deadline per stage and keeps their output."""

    def __init__(self, dry: bool, out: Path) -> None:
        self.dry, self.out = dry, out
        self.device = "cpu" if dry else "cuda"
        self.deadline = float("inf")
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
        if (CARRY / "fashion-mnist").is_dir():
            self.env["RAYDD_FASHION_MNIST_DIR"] = str(CARRY / "fashion-mnist")

    def run(self, args: list[str], *, env: dict | None = None) -> str:
        """Run a command to completion within the stage's deadline; its stdout (stderr is echoed)."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise StageFailed("out of time before: " + " ".join(args))
        print("  $ " + " ".join(args), flush=True)
        try:
            done = subprocess.run(args, cwd=ROOT, env=env or self.env, capture_output=True, text=True,
                                  timeout=remaining)
        except subprocess.TimeoutExpired:
            raise StageFailed(f"stopped at the stage's time budget: {' '.join(args)}") from None
        for line in done.stderr.strip().splitlines()[-5:]:
            print("    " + line, flush=True)
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise StageFailed(f"exit {done.returncode}: {' '.join(args)}: {tail}")
        return done.stdout

    def raydd(self, *args: str) -> str:
        return self.run([sys.executable, "-m", "raydd", *args])


# ---- stages ------------------------------------------------------------------------------------
# the two configurations of the speed target, in vs_original.py's case names
SPEED_TARGETS = "dc/digits/ConvNet/ipc1/*,dc/fashion_mnist/ConvNetW32/ipc1/*"


def stage_speed(r: Runner) -> list[str]:
    lines: list[str] = []
    original = CARRY / "DatasetCondensation"
    if original.is_dir() and not r.dry:
        _measure(r, lines, "vs the original DC code, each on its own data pipeline:",
                 [sys.executable, "benchmarks/vs_original.py", "--original-dir", str(original),
                  "--only", SPEED_TARGETS, "--rounds", "1", "--iterations", "10"])
    else:
        lines.append("vs the original DC code: not run (its checkout is not in .carry/)" if not r.dry
                     else "vs the original DC code: not run in --dry")
    bench = [sys.executable, "benchmarks/bench_distill.py", "--methods", "dc"]
    _measure(r, lines, "bench_distill, eager:", bench + (["--smoke-test"] if r.dry else
                                                          ["--cifar-shape", "--iterations", "5"]))
    return lines


def _measure(r: Runner, lines: list[str], label: str, command: list[str]) -> None:
    """Append `label` and the command's output to `lines`; a failure carries the lines so far, so a
    stage cut off by its budget still reports what it measured before."""
    try:
        out = r.run(command)
    except StageFailed as err:
        raise StageFailed(str(err), lines) from None
    lines.append(label)
    lines += ["    " + line for line in out.strip().splitlines()]


def stage_evaluate(r: Runner) -> list[str]:
    bench = [sys.executable, "benchmarks/bench_evaluate.py", "--device", r.device]
    if r.dry:
        runs = [("every section at toy size", bench + ["--smoke-test"])]
    else:
        original = CARRY / "DatasetCondensation"
        reference = ["--reference", str(original)] if original.is_dir() else []
        runs = [("stacked vs one after another", bench + ["--section", "train", "--archs", ",".join(
                    ["ConvNet", *OTHER_STUDENTS]), "--ipcs", "1,10", "--members", "1,20", "--repeats", "1"]),
                ("one ConvNet student" + ("" if reference else " (the original DC code not carried)"),
                 bench + ["--section", "single", "--repeats", "1", "--single-val-images", "1000", *reference])]
    lines: list[str] = []
    for label, command in runs:
        _measure(r, lines, f"bench_evaluate, {label}:", command)
    return lines


def _summary(records: list[dict]) -> dict[tuple[str, bool], tuple[float, float, int]]:
    """(student, kd) -> (mean %, population std %, n), the DC code's np.std convention."""
    groups: dict[tuple[str, bool], list[float]] = {}
    for rec in records:
        groups.setdefault((rec["student"], rec["kd"]), []).append(100 * rec["test_acc"])
    return {k: (statistics.fmean(v), statistics.pstdev(v), len(v)) for k, v in groups.items()}


def _records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def stage_fmnist(r: Runner) -> list[str]:
    dataset = "digits" if r.dry else "fashion_mnist"
    arch, iterations, epochs, seeds = ("ConvNetW32", 2, 2, 1) if r.dry else ("ConvNet", 1000, 300, 5)
    other_seeds = 1 if r.dry else 3
    others = ["MLP"] if r.dry else OTHER_STUDENTS
    temperatures = "2" if r.dry else "1,2,4,8"
    synset = r.out / "fmnist_dc_ipc1"
    start = time.perf_counter()
    r.raydd("distill", "--dataset", dataset, "--method", "dc", "--ipc", "1", "--iterations", str(iterations),
            "--batch-real", "16" if r.dry else "256", "--pool", arch, "--seed", "0", "--device", r.device,
            "--out", str(synset))
    distill_s = time.perf_counter() - start
    common = ["evaluate", str(synset), "--epochs", str(epochs), "--device", r.device, "--teacher", arch,
              "--temperatures", temperatures, "--json"]
    calls = [("--seeds", str(seeds), "--students", arch, "--kd", "off"),
             ("--seeds", str(other_seeds), "--students", ",".join(others), "--kd", "off"),
             ("--seeds", str(other_seeds), "--students", ",".join(others), "--kd", "on")]
    records, start = [], time.perf_counter()
    try:
        for call in calls:  # one at a time, so a call stopped at the budget keeps the ones before it
            records += _records(r.raydd(*common, *call))
    except StageFailed as err:
        raise StageFailed(str(err), _fmnist_lines(dataset, iterations, arch, distill_s, 0, records, epochs)) from None
    return _fmnist_lines(dataset, iterations, arch, distill_s, time.perf_counter() - start, records, epochs)


def _fmnist_lines(dataset, iterations, arch, distill_s, evaluate_s, records, epochs) -> list[str]:
    lines = [f"{dataset}, DC, ipc 1, {iterations} iterations on {arch}: {distill_s:.0f} s to distil, "
             f"{evaluate_s:.0f} s to evaluate ({len(records)} records, {epochs} epochs each)"]
    for (student, kd), (mean, std, n) in _summary(records).items():
        lines.append(f"    {student:<10} kd {'on ' if kd else 'off'}  {mean:6.2f} +- {std:4.2f} % (n={n})")
    published = PUBLISHED_DC_FMNIST_IPC1
    lines.append(f"    published DC, ConvNet, Fashion-MNIST ipc 1: {published[0]} +- {published[1]} %")
    return lines


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tiny_sweep(storage: Path, dry: bool) -> dict:
    return {
        "name": "gpu_check", "storage": str(storage), "dataset": {"name": "digits"},
        "distill": {"method": "dc", "iterations": 2 if dry else 50, "batch_real": 16 if dry else 64},
        "grid": {"ipc": [1], "seed": [0, 1], "pool": [{"archs": ["ConvNetW32"], "probabilities": [1.0]}]},
        "evaluation": {"students": ["ConvNetW32", "MLP"], "teacher": "ConvNetW32", "kd": ["off", "on"],
                       "temperatures": [2], "seeds": 1, "epochs": 2 if dry else 100},
        # One GPU: trials at 0.5 beside two evaluators at 0.25, all on it at once. (Evaluation actors
        # hold their share for the whole sweep, so a trial at 1 would wait for them forever; whole-GPU
        # trials with fractional evaluators across nodes are tested in tests/test_sweep_placement.py.)
        "resources": {"trial": {"cpu": 1, "gpu": 0.5}, "evaluators": {"count": 2, "cpu": 0.5, "gpu": 0.25},
                      "max_concurrent_trials": 1, "checkpoint_every": 25},
    }


def _yaml():
    try:
        import ray  # noqa: F401
        import yaml
    except ImportError as err:
        raise StageFailed(f"Ray is not installed here ({err}); carry it (benchmarks/prepare_gpu_carry.sh)")
    return yaml


@contextmanager
def _local_ray(r: Runner, work: Path, dry_cpus: int = 4):
    """A Ray head of its own for one stage; yields the environment that sends `raydd` to it.
    In --dry it declares `dry_cpus` logical CPUs, so that a stage's placement is the GPU machine's."""
    port = _free_port()
    env = dict(r.env, RAY_ADDRESS=f"127.0.0.1:{port}", RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    # one GPU declared in --dry, so that trials and fractional evaluators are placed as on a GPU machine
    gpus = ["--num-gpus=1"] if r.dry else []
    cpus = dry_cpus if r.dry else (os.cpu_count() or 4)
    # every port chosen free, so that another Ray on this machine (a test session's) is never in the way
    ports = [f"--{name}={_free_port()}" for name in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                                     "metrics-export-port", "runtime-env-agent-port",
                                                     "node-manager-port", "object-manager-port")]
    head = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
                             f"--port={port}", f"--num-cpus={cpus}", "--include-dashboard=false",
                             f"--temp-dir={work / 'ray'}", *ports, *gpus],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        time.sleep(3)
        yield env
    finally:
        _stop(head)


def stage_ray(r: Runner) -> list[str]:
    yaml = _yaml()
    work = Path(tempfile.mkdtemp(prefix="raydd-gpu-check-"))
    spec = work / "gpu_check.yaml"
    spec.write_text(yaml.safe_dump(_tiny_sweep(work / "storage", r.dry), sort_keys=False))
    with _local_ray(r, work) as env:
        r.run([sys.executable, "-m", "raydd", "sweep", "submit", str(spec)], env=env)
        rows = r.run([sys.executable, "-c", "import pandas as pd, sys; df = pd.read_parquet(sys.argv[1]); "
                      "col = 'device' if 'device' in df else None; "
                      "print(len(df), df[col].value_counts().to_dict() if col else 'no device column')",
                      str(work / "storage" / "gpu_check" / "results")], env=env)
    count, devices = rows.strip().split(" ", 1)
    return [f"a 2-trial sweep, trials at 0.5 GPU, 2 evaluators at 0.25 GPU: {count} rows; devices: {devices}"]


# ---- the evaluation standard's study on one GPU (opt-in: --stages standard) --------------------
STANDARD_SPEC = ROOT / "sweeps" / "fashion_mnist_standard.yaml"
# One GPU shared by 3 trials at a time and 6 evaluators: 3 x 0.1 + 6 x 0.1 = 0.9 of it, 12 of 16 CPUs.
STANDARD_RESOURCES = {"trial": {"cpu": 2, "gpu": 0.1}, "evaluators": {"count": 6, "cpu": 1, "gpu": 0.1},
                      "max_concurrent_trials": 3, "max_failures": 2, "checkpoint_every": 50}


def _standard_sweep(yaml, storage: Path, dry: bool) -> dict:
    """The shipped study file as it is, run on one GPU; in --dry, the same grid at toy size on digits."""
    spec = yaml.safe_load(STANDARD_SPEC.read_text())
    spec.update(storage=str(storage), resources=STANDARD_RESOURCES)
    if dry:
        spec["dataset"] = {"name": "digits"}
        spec["distill"].update(iterations=2, batch_real=16)
        spec["grid"]["seed"] = [0, 1]
        spec["evaluation"].update(students=["ConvNetW32", "MLP"], seeds=2, epochs=2, val_images=50)
    return spec


def stage_standard(r: Runner) -> list[str]:
    yaml = _yaml()
    return _study(r, "fashion_mnist_standard", _standard_sweep(yaml, _study_storage(), r.dry), (
        ("every set, d x e", []),
        ("DC against DC on ConvNetW32 alone, KD off", [
            "--where", "method == 'dc'", "--vs-baseline", "pool_name=ConvNetW32=1.0;kd=off"]),
        ("DD-Ranking's scores", ["--scores"])))


def _study_storage() -> Path:
    return Path(tempfile.mkdtemp(prefix="raydd-gpu-study-")) / "storage"


def _study(r: Runner, name: str, spec: dict, tables) -> list[str]:
    """Submit a shipped study on this machine's own Ray head, compact its rows and bring them and
    the spec back under OUT/<name>; the summary gets each of `tables`: (title, `results show` flags)."""
    yaml = _yaml()
    storage = Path(spec["storage"])
    work = storage.parent
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    results = storage / name / "results"
    kept = r.out / name  # the rows and the spec come back with the summary
    start = time.perf_counter()
    try:
        with _local_ray(r, work, dry_cpus=16) as env:
            submitted = r.run([sys.executable, "-m", "raydd", "sweep", "submit", str(path)], env=env)
    except StageFailed as err:  # a study cut off still brings back the rows it wrote
        raise StageFailed(str(err), [_bring_back(results, path, kept)]) from None
    sweep_s = time.perf_counter() - start
    r.raydd("results", "compact", str(results))
    lines = [f"sweeps/{name}.yaml on {r.device}: {sweep_s:.0f} s from submit to the last row; "
             + _bring_back(results, path, kept)]
    lines += [line for line in submitted.splitlines() if line.startswith("[experts] ")]  # the experts' seconds
    for title, args in tables:
        out = r.raydd("results", "show", str(results), "--format", "markdown", *args)
        lines += ["", f"{title}:", "", *out.strip().splitlines()]
    return lines


def _bring_back(results: Path, spec: Path, kept: Path) -> str:
    """Copy the study's rows (as they are) and its spec under `kept`; says what came back."""
    kept.mkdir(parents=True, exist_ok=True)
    shutil.copy(spec, kept / "spec.yaml")
    if not results.is_dir():
        return f"no rows were written; the spec is under {kept}"
    shutil.copytree(results, kept / "results", dirs_exist_ok=True)
    return f"rows under {kept}"


# ---- the MTT pool study on one GPU (opt-in: --stages mtt) -------------------------------------
MTT_SPEC = ROOT / "sweeps" / "fashion_mnist_mtt.yaml"
# One GPU shared by 6 trials (or expert tasks) at a time and 6 evaluators: 12 x 0.08 = 0.96 of it,
# 12 of 16 CPUs. All 6 distillations run at once: MTT's unrolled steps are small kernels, so a
# trial leaves most of the GPU idle, and one wave instead of two halves the distillation's wall time.
MTT_RESOURCES = {"trial": {"cpu": 1, "gpu": 0.08}, "evaluators": {"count": 6, "cpu": 1, "gpu": 0.08},
                 "max_concurrent_trials": 6, "max_failures": 2, "checkpoint_every": 50}


def _mtt_sweep(yaml, storage: Path, dry: bool) -> dict:
    """The shipped MTT study as it is, run on one GPU; in --dry, the same grid at toy size on digits
    (one 1-epoch expert per architecture, 2 iterations of 2 student steps)."""
    spec = yaml.safe_load(MTT_SPEC.read_text())
    spec.update(storage=str(storage), resources=MTT_RESOURCES)
    if dry:
        spec["dataset"] = {"name": "digits"}
        spec["distill"].update(iterations=2, syn_steps=2, expert_epochs=1, max_start_epoch=1,
                               num_experts=1, train_epochs=1)
        spec["grid"]["seed"] = [0, 1]
        spec["evaluation"].update(students=["ConvNetW32", "MLP"], seeds=2, epochs=2, val_images=50)
    return spec


def stage_mtt(r: Runner) -> list[str]:
    yaml = _yaml()
    # Rows keyed by method, pool and KD, named: each holds the sets of the 3 distillation seeds.
    return _study(r, "fashion_mnist_mtt", _mtt_sweep(yaml, _study_storage(), r.dry), (
        ("every set, d x e", ["--by", "method,pool_name,kd"]),
        ("MTT with the pool against MTT on ConvNetW32 alone, KD off", [
            "--by", "pool_name,kd", "--where", "method == 'mtt'",
            "--vs-baseline", "pool_name=ConvNetW32=1.0;kd=off"]),))


def _stop(head: subprocess.Popen) -> None:
    """End the head's whole process session (never `ray stop`: it stops every Ray on the machine)."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(head.pid, sig)
            head.wait(timeout=wait_s)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


# seconds per stage on one H200 (2026-12-04: fmnist took 112 s, ray 55 s; the original's own data
# loading of 70,000 Fashion-MNIST images through PIL takes a good part of speed and evaluate)
STAGES = {"speed": (stage_speed, 150), "evaluate": (stage_evaluate, 120), "fmnist": (stage_fmnist, 160),
          "ray": (stage_ray, 70), "standard": (stage_standard, 540), "mtt": (stage_mtt, 540)}
# what a plain run does within one lent machine's time; the studies (`standard`, `mtt`) are asked for by name
DEFAULT_STAGES = ("speed", "evaluate", "fmnist", "ray")


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; {gpu}; torch {torch.__version__}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry", action="store_true", help="every stage at toy size on CPU (CI)")
    p.add_argument("--stages", default=",".join(DEFAULT_STAGES),
                   help=f"comma-separated, of {', '.join(STAGES)} (default: {', '.join(DEFAULT_STAGES)})")
    p.add_argument("--budget", type=int, default=None, help="seconds per stage (default: each stage's own)")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or ROOT / "runs" / "gpu_check"))
    args = p.parse_args()
    stages = args.stages.split(",")
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        p.error(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    runner = Runner(args.dry, args.out)
    outcomes = []
    for name in stages:
        fn, budget = STAGES[name]
        budget = args.budget or (60 if args.dry else budget)
        print(f"== {name} (budget {budget} s)", flush=True)
        runner.deadline = time.monotonic() + budget
        start = time.monotonic()
        try:
            outcomes.append(Outcome(name, time.monotonic() - start, True, fn(runner)))
        except StageFailed as err:
            outcomes.append(Outcome(name, time.monotonic() - start, False, [*err.lines, f"FAILED: {err}"]))
        outcomes[-1].seconds = time.monotonic() - start
        text = _report(outcomes, args.dry)
        (args.out / "gpu_check.md").write_text(text + "\n")  # after every stage: a cut-off run keeps the rest
    print("\n" + text)
    return 0 if all(o.ok for o in outcomes) else 1


def _report(outcomes: list[Outcome], dry: bool) -> str:
    report = [f"# raydd GPU check{' (dry run, CPU)' if dry else ''}", "", f"machine: {machine()}", ""]
    for o in outcomes:
        report += [f"## {o.stage}: {'ok' if o.ok else 'FAILED'} in {o.seconds:.0f} s", "", *o.lines, ""]
    return "\n".join(report)


if __name__ == "__main__":
    sys.exit(main())
