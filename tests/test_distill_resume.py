"""`raydd distill --resume`: it continues an unfinished run or refuses, before the dataset loads;
it never distils from scratch over a finished set, and a checkpoint of another configuration is
refused naming each setting that differs, with both values."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import raydd.core.datasets as datasets
from raydd.cli.main import cli
from raydd.core.datasets import load_dataset
from raydd.core.distill import DistillConfig, Distiller
from raydd.core.distill.loop import save_checkpoint
from raydd.core.pool import PoolSpec

FAST = ["--dataset", "digits", "--ipc", "1", "--pool", "ConvNetW32", "--batch-real", "8", "--device", "cpu",
        "--iterations", "2"]


def invoke(*args):
    return CliRunner().invoke(cli, ["distill", *FAST, *map(str, args)])


def files_of(directory):
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


@pytest.fixture
def no_dataset(monkeypatch):
    """The refusals come before the dataset is read."""
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("the dataset was loaded"))


def _refused(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output, result.output
    return result.output


def test_resume_with_nothing_to_resume_keeps_the_finished_set_and_says_so(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert invoke("--out", out).exit_code == 0
    finished = files_of(out)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("the dataset was loaded"))
    line = _refused(invoke("--out", out, "--resume"))
    assert (f"--resume: there is no unfinished run to continue ({tmp_path / '.run.checkpoint' / 'checkpoint.pt'} "
            f"does not exist) and {out} holds a finished set; leave out --resume to distil it again") in line
    assert files_of(out) == finished  # not distilled again, not replaced

    line = _refused(invoke("--out", tmp_path / "new", "--resume"))
    assert "--resume: there is no unfinished run to continue" in line and "leave out --resume to start one" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing created


def _checkpoint_of(config: DistillConfig, directory) -> None:
    save_checkpoint(Distiller(config, load_dataset("digits"), "cpu").state_dict(), directory)


def test_a_checkpoint_of_another_configuration_names_each_differing_setting(tmp_path, no_dataset):
    checkpoint = tmp_path / ".run.checkpoint"
    written = DistillConfig(ipc=1, iterations=2, pool=PoolSpec.parse("ConvNetW32"), batch_real=8, lr_img=0.1, seed=3)
    with pytest.MonkeyPatch.context() as unpatched:  # the library loads digits to make the checkpoint
        unpatched.setattr(datasets, "load_dataset", load_dataset)
        _checkpoint_of(written, checkpoint)
    before = files_of(checkpoint)
    line = _refused(invoke("--out", tmp_path / "run", "--resume", "--lr-img", "0.2", "--pool", "ConvNetW32=0.5,MLP=0.5"))
    assert f"checkpoint {checkpoint / 'checkpoint.pt'} was written by another configuration: " in line
    assert ("lr_img 0.1 there, 0.2 here; pool.archs {'ConvNetW32': 1.0} there, {'ConvNetW32': 0.5, 'MLP': 0.5} "
            "here; seed 3 there, 0 here") in line
    assert files_of(checkpoint) == before  # kept for the run it belongs to


def test_the_library_names_the_differing_settings_too():
    data = load_dataset("digits")
    config = DistillConfig(ipc=1, iterations=2, pool=PoolSpec.parse("ConvNetW32"), batch_real=8)
    state = Distiller(config, data, "cpu").state_dict()
    other = Distiller(DistillConfig(ipc=1, iterations=3, pool=PoolSpec.parse("ConvNetW32"), batch_real=16), data, "cpu")
    with pytest.raises(ValueError, match=r"^the checkpoint was written by another configuration: "
                                         r"batch_real 8 there, 16 here; iterations 2 there, 3 here$"):
        other.load_state_dict(state)



def test_ctrl_c_of_a_distillation_names_the_checkpoint_and_resume_and_exits_130(tmp_path):
    """A real process interrupted with SIGINT (what Ctrl-C sends) after its third iteration: it
    says where the run stopped and how to continue (click said 'Aborted!' and nothing else)."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    raydd = str(Path(sys.executable).with_name("raydd"))
    out = tmp_path / "run"
    args = [*FAST[:-1], "400", "--no-compile", "--checkpoint-every", "1", "--progress-every", "1", "--out", str(out)]
    # As from a terminal: a shell's background job inherits SIGINT ignored, and Python then keeps it so.
    as_from_a_terminal = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    run = subprocess.Popen([raydd, "distill", *args], stderr=subprocess.PIPE, text=True,
                           preexec_fn=as_from_a_terminal)
    lines = []
    for line in run.stderr:  # one progress line per iteration
        lines.append(line)
        if line.startswith("iter     3/400"):
            break
    run.send_signal(signal.SIGINT)
    rest = run.stderr.read()
    run.wait(timeout=60)
    assert run.returncode == 130, lines + [rest]
    checkpoint = tmp_path / ".run.checkpoint" / "checkpoint.pt"
    last = rest.strip().splitlines()[-1]
    assert last.startswith("interrupted at iteration ") and "of 400" in last, rest
    assert f"its checkpoint {checkpoint} holds iteration " in last
    assert "continue with the same command and --resume" in last and "Aborted" not in rest
    assert "Traceback" not in rest and checkpoint.exists() and not out.exists()
