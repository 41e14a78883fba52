"""`raydd export --out`: a directory holding files raydd's export did not write is refused in one
line and kept, raydd's own export is replaced whole, --force replaces any, and a failed export
leaves the earlier directory as it was."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.core.artifact import SyntheticSet, save_synset
from raydd.core.datasets import load_dataset
from raydd.core.evaluate import random_real
from raydd.core.export_out import is_raydd_export
from test_export import _meta

LAYOUTS = {"dc": "res_DC_digits_ConvNetW32_2ipc.pt", "mtt": "images_best.pt", "dd-ranking": "images.pt",
           "image-folder": "0/00000.png"}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    data = load_dataset("digits")
    images, labels = random_real(data, 2, seed=0)
    return save_synset(SyntheticSet(images, labels, _meta(data)), tmp_path_factory.mktemp("set") / "real")


def export(artifact, out, fmt: str = "mtt", *args):
    return CliRunner().invoke(cli, ["export", str(artifact), "--format", fmt, "--out", str(out), *args])


def _contents(directory) -> dict:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def _users_directory(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("my notes")
    return out


def test_a_directory_of_the_users_files_is_refused_and_kept(artifact, tmp_path):
    out = _users_directory(tmp_path)
    result = export(artifact, out)
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "(mine.txt)" in result.output and "--force" in result.output
    assert _contents(out) == {"mine.txt": b"my notes"} and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("first", sorted(LAYOUTS))
def test_raydd_own_export_is_replaced_whole_without_force(artifact, tmp_path, first):
    out = tmp_path / "out"
    assert export(artifact, out, first).exit_code == 0 and is_raydd_export(out)
    second = "dd-ranking" if first != "dd-ranking" else "mtt"
    result = export(artifact, out, second)
    assert result.exit_code == 0, result.output
    assert LAYOUTS[second] in _contents(out) and LAYOUTS[first] not in _contents(out)  # nothing of the first left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nor a hidden copy of it


def test_raydd_export_with_a_users_file_added_is_not_raydd_own(artifact, tmp_path):
    out = tmp_path / "out"
    assert export(artifact, out).exit_code == 0
    (out / "mine.txt").write_text("my notes")
    before = _contents(out)
    result = export(artifact, out)
    assert result.exit_code == 1 and "(mine.txt)" in result.output
    assert _contents(out) == before


def test_a_dc_named_file_without_raydd_description_is_not_raydd_own(tmp_path):
    import torch

    out = tmp_path / "out"
    out.mkdir()
    torch.save({"data": [], "accs_all_exps": {}}, out / LAYOUTS["dc"])
    assert not is_raydd_export(out)


def test_force_replaces_a_directory_raydd_did_not_write(artifact, tmp_path):
    out = _users_directory(tmp_path)
    result = export(artifact, out, "mtt", "--force")
    assert result.exit_code == 0, result.output
    assert "mine.txt" not in _contents(out) and is_raydd_export(out)


@pytest.mark.parametrize("target", ["raydd.core.export.strict_json.dumps", "raydd.outputs.os.replace"])
def test_a_failed_export_keeps_the_earlier_directory(artifact, tmp_path, monkeypatch, target):
    """A failure while the layout is written, or while the new directory is put in place."""
    out = tmp_path / "out"
    assert export(artifact, out, "dd-ranking").exit_code == 0
    before = _contents(out)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(target, disk_full)
    result = export(artifact, out, "mtt")
    assert result.exit_code == 1 and "No space left on device" in result.output, result.output
    assert _contents(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
