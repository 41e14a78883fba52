"""The comparison with the original DC code runs the original as its users do: on its own data
pipeline, in a process of its own, and the harness's timing of it agrees with a native run.

The original is not part of raydd and CI has no network, so these tests write a stand-in checkout:
a `main.py` / `main_DM.py` with the original's command line that reads its data through
torchvision from `--data_path`, builds one network per outer iteration, sleeps a fixed time per
iteration (a clock that load does not disturb) and prints "iter = N" every 10 iterations, as the
original does.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import torchvision

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import original_data  # noqa: E402

STEP_SECONDS = 0.15

UTILS = '''
import time
import torch
import torchvision
import torchvision.transforms as transforms

def get_dataset(dataset, data_path):
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean=[0.5], std=[0.5])])
    source = getattr(torchvision.datasets, dataset)
    dst_train = source(data_path, train=True, download=True, transform=transform)
    dst_test = source(data_path, train=False, download=True, transform=transform)
    testloader = torch.utils.data.DataLoader(dst_test, batch_size=256, shuffle=False)
    return 1, (28, 28), 10, [str(c) for c in range(10)], [0.5], [0.5], dst_train, dst_test, testloader

def get_network(model, channel, num_classes, im_size=(32, 32)):
    if model not in ("ConvNet", "ConvNetW32"):
        exit("unknown model: %s" % model)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(channel * im_size[0] * im_size[1], num_classes))

def evaluate_synset(it_eval, net, images_train, labels_train, testloader, args):
    args.epoch_eval_train = 3
    time.sleep(0.2)
    return net, 1.0, 0.25
'''

MAIN = '''
import argparse
import os
import time
import torch
from utils import get_dataset, get_network, evaluate_synset

def main():
    p = argparse.ArgumentParser()
    for name, default in (("method", "DC"), ("dataset", "CIFAR10"), ("model", "ConvNet"), ("init", "noise"),
                          ("eval_mode", "S"), ("dsa_strategy", "None"), ("data_path", "data"),
                          ("save_path", "result"), ("dis_metric", "ours")):
        p.add_argument("--" + name, type=str, default=default)
    for name, default in (("ipc", 1), ("num_exp", 5), ("num_eval", 20), ("epoch_eval_train", 300),
                          ("Iteration", 1000), ("batch_real", 256), ("batch_train", 256)):
        p.add_argument("--" + name, type=int, default=default)
    for name in ("lr_img", "lr_net"):
        p.add_argument("--" + name, type=float, default=0.1)
    args = p.parse_args()
    channel, im_size, num_classes, _, _, _, dst_train, _, testloader = get_dataset(args.dataset, args.data_path)
    images_all = torch.cat([dst_train[i][0][None] for i in range(len(dst_train))])
    labels_all = [dst_train[i][1] for i in range(len(dst_train))]
    image_syn = images_all[:num_classes * args.ipc].clone()
    label_syn = torch.tensor(labels_all[:num_classes * args.ipc])
    for it in range(args.Iteration + 1):
        if it == 0:
            for _ in range(args.num_eval):
                evaluate_synset(0, get_network(args.model, channel, num_classes, im_size), image_syn, label_syn,
                                testloader, args)
        get_network(args.model, channel, num_classes, im_size)
        time.sleep(STEP + float(os.environ.get("STANDIN_EXTRA_WHEN_IMPORTED", 0)) * (__name__ != "__main__"))
        if it % 10 == 0:
            print("[time] iter = %04d, loss = %.4f" % (it, 0.0))

if __name__ == "__main__":
    main()
'''


@pytest.fixture(scope="module")
def standin(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("DatasetCondensation")
    (root / "utils.py").write_text(UTILS)
    for script in ("main.py", "main_DM.py"):
        (root / script).write_text(MAIN.replace("STEP", str(STEP_SECONDS)))
    return root


def vs_original(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "vs_original.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env=env)


def test_digits_reach_the_original_as_mnist_files_that_torchvision_reads(tmp_path):
    data = original_data.prepare("digits", tmp_path)
    train = torchvision.datasets.MNIST(str(data.path), train=True, download=True)
    test = torchvision.datasets.MNIST(str(data.path), train=False, download=True)
    assert data.name == "MNIST" and (len(train), len(test)) == (1437, 360)
    assert sorted(set(train.targets.tolist())) == list(range(10))
    assert train.data.shape[1:] == (28, 28) and int(train.data.max()) == 255


def test_the_harness_times_the_original_as_a_native_run_does(standin, tmp_path):
    result = vs_original("--original-dir", str(standin), "--check-harness", "--only", "dc/digits/ConvNetW32/ipc1/*",
                         "--rounds", "2", "--check-iterations", "21", "--data-root", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    row = next(line.split() for line in result.stdout.splitlines() if line.startswith("dc/digits/ConvNetW32"))
    native, harness = float(row[1]), float(row[2])
    assert native == pytest.approx(STEP_SECONDS, rel=0.1) and harness == pytest.approx(STEP_SECONDS, rel=0.1)
    assert row[4] == "ok"


def test_a_harness_that_slows_the_original_fails_the_check(standin, tmp_path):
    slower = {**__import__("os").environ, "STANDIN_EXTRA_WHEN_IMPORTED": str(STEP_SECONDS / 2)}
    result = vs_original("--original-dir", str(standin), "--check-harness", "--only", "dc/digits/ConvNetW32/ipc1/*",
                         "--rounds", "1", "--check-iterations", "21", "--data-root", str(tmp_path), env=slower)
    assert result.returncode == 1
    assert "OUTSIDE" in result.stdout


def test_the_smoke_test_runs_both_sides_on_their_own_data(standin, tmp_path):
    result = vs_original("--original-dir", str(standin), "--smoke-test", "--data-root", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "the original's data (MNIST): digits (no loader in the original) written as MNIST idx files" in result.stdout
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith(("dc/", "dm/"))]
    assert [r[0] for r in rows] == ["dc/digits/ConvNetW32/ipc1/br8", "dm/digits/ConvNetW32/ipc1/br8"]
    assert all(float(r[1]) == pytest.approx(STEP_SECONDS, rel=0.3) for r in rows)  # the original's s/it


def test_the_dsa_cases_cannot_be_checked_natively(standin):
    result = vs_original("--original-dir", str(standin), "--check-harness", "--only", "dsa/*")
    assert result.returncode == 2
    assert "its DSA fails on today's PyTorch" in result.stderr


@pytest.mark.skipif(not (original_data.system_files.fashion_mnist_system_dir() / "t10k-labels-idx1-ubyte.gz").is_file(),
                    reason="needs the real Fashion-MNIST files (Debian package dataset-fashion-mnist)")
def test_one_student_is_timed_in_the_originals_own_main_and_raydd_trains_the_images_it_picked(standin):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_evaluate.py"), "--section", "single",
                             "--reference", str(standin), "--single-arch", "ConvNetW32", "--single-epochs", "2",
                             "--repeats", "1", "--device", "cpu"],
                            cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    original = next(line for line in result.stdout.splitlines() if line.startswith("original DC evaluate_synset"))
    assert "(train 4 epochs + test), test 25.00%" in original  # the stand-in's own figures, read back
    assert float(original.split(": ")[1].split(" s")[0]) == pytest.approx(0.2, abs=0.15)
    assert "raydd evaluate_student:" in result.stdout


def test_the_single_student_comparison_refuses_digits_with_the_original(standin):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_evaluate.py"), "--section", "single",
                             "--reference", str(standin), "--single-dataset", "digits", "--repeats", "1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1
    assert result.stderr.strip().endswith("it has no loader for digits)")
