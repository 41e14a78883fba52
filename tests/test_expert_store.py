"""The expert store (raydd/core/experts/store.py): content-addressed, atomic, resumable, and it
never uses a damaged expert nor touches what it did not write."""

import json
import re

import pytest
import torch

import raydd.core.experts.store as store_module
import raydd.core.experts.train as train_module
from raydd.core.datasets import Dataset, load_dataset
from raydd.core.experts import ExpertError, ExpertIdentity, ExpertSettings, ExpertStore, load_expert

SETTINGS = ExpertSettings(epochs=2, batch_size=32, augment="none")


@pytest.fixture(scope="module")
def small():
    data = load_dataset("digits")
    keep = torch.arange(60)
    train = type(data.train)(data.train.images[keep], data.train.labels[keep])
    return Dataset(data.info, train, data.val, data.test, data.val_size, data.split_seed)


@pytest.fixture
def trainings(monkeypatch):
    """Counts the experts the store trains."""
    calls = []
    real = store_module.train_expert

    def counted(arch, data, settings, seed, *args, **kwargs):
        calls.append((arch, seed))
        return real(arch, data, settings, seed, *args, **kwargs)

    monkeypatch.setattr(store_module, "train_expert", counted)
    return calls


def snapshot(directory):
    return {p.relative_to(directory): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_an_expert_is_trained_once_then_reused(tmp_path, small, trainings):
    store, identity = ExpertStore(tmp_path), ExpertIdentity.of(small, "MLP", SETTINGS, 0)
    first = store.ensure(identity, small)
    assert (first.status, first.reason) == ("trained", None)
    assert first.path == tmp_path / "digits" / "MLP" / identity.key
    assert sorted(p.name for p in first.path.iterdir()) == ["manifest.json", "trajectory.safetensors"]
    assert [p.name for p in first.path.parent.iterdir()] == [identity.key]  # no temporary left
    second = store.ensure(identity, small)
    assert second.status == "reused" and trainings == [("MLP", 0)]
    trajectory = store.load(identity)
    assert trajectory.params.shape[0] == 3 and trajectory.arch == "MLP"
    manifest = json.loads((first.path / "manifest.json").read_text())
    assert manifest["identity"] == identity.to_dict() and manifest["key"] == identity.key


@pytest.mark.parametrize("damage, reason", [
    (lambda d: (d / "trajectory.safetensors").write_bytes((d / "trajectory.safetensors").read_bytes()[:-100]),
     "holds .* bytes, its manifest says"),
    (lambda d: _flip_a_byte(d / "trajectory.safetensors"), "does not match the SHA-256"),
    (lambda d: (d / "trajectory.safetensors").unlink(), "trajectory.safetensors is missing"),
    (lambda d: (d / "manifest.json").write_text('{"format": "raydd-exp'), "manifest.json is missing or unreadable"),
    (lambda d: (d / "manifest.json").unlink(), "manifest.json is missing or unreadable"),
    (lambda d: _edit_manifest(d, identity="digits"), "manifest.json is missing or unreadable"),
    (lambda d: _edit_manifest(d, layout=[["w", "three"]]), "manifest.json is missing or unreadable"),
])
def test_a_damaged_expert_is_never_used_and_is_retrained_to_the_same_numbers(tmp_path, small, trainings,
                                                                              damage, reason):
    store, identity = ExpertStore(tmp_path), ExpertIdentity.of(small, "MLP", SETTINGS, 3)
    path = store.ensure(identity, small).path
    original = store.load(identity).params
    damage(path)
    with pytest.raises(ExpertError, match="damaged"):
        store.load(identity)
    outcome = store.ensure(identity, small)
    assert outcome.status == "retrained" and outcome.reason.startswith("damaged")
    assert re.search(reason, outcome.reason)
    assert torch.equal(store.load(identity).params, original) and len(trainings) == 2
    assert [p.name for p in path.parent.iterdir()] == [identity.key]


def _edit_manifest(directory, **changes):
    path = directory / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_an_expert_directory_of_another_dataset_or_architecture_is_refused_untouched(tmp_path, small, trainings):
    store = ExpertStore(tmp_path)
    other = store.ensure(ExpertIdentity.of(small, "MLP", SETTINGS, 0), small).path
    identity = ExpertIdentity.of(small, "LeNet", SETTINGS, 0)
    target = store.directory(identity)
    target.parent.mkdir(parents=True)
    target.mkdir()
    for name in ("manifest.json", "trajectory.safetensors"):
        (target / name).write_bytes((other / name).read_bytes())
    before = snapshot(tmp_path)
    with pytest.raises(ExpertError) as info:
        store.ensure(identity, small)
    assert str(info.value) == f"{target} holds an expert of digits/MLP, not of digits/LeNet; raydd leaves it alone"
    seed_1 = store.directory(ExpertIdentity.of(small, "MLP", SETTINGS, 1))
    seed_1.mkdir()
    for name in ("manifest.json", "trajectory.safetensors"):
        (seed_1 / name).write_bytes((other / name).read_bytes())
    before = snapshot(tmp_path)
    with pytest.raises(ExpertError, match=r"holds another expert of digits/MLP \(other settings or seed\) than "
                                          r"digits/MLP seed 1; raydd leaves it alone$"):
        store.ensure(ExpertIdentity.of(small, "MLP", SETTINGS, 1), small)
    with pytest.raises(ExpertError, match=f"^{other} holds an expert of digits/MLP, not of fashion_mnist/MLP$"):
        load_expert(other, dataset="fashion_mnist", arch="MLP")
    with pytest.raises(ExpertError, match="holds an expert of digits/MLP, not of digits/ConvNet$"):
        load_expert(other, dataset="digits", arch="ConvNet")
    assert snapshot(tmp_path) == before and len(trainings) == 1


def test_load_expert_reads_a_sound_expert_and_names_a_damaged_one(tmp_path, small):
    store, identity = ExpertStore(tmp_path), ExpertIdentity.of(small, "MLP", SETTINGS, 0)
    path = store.ensure(identity, small).path
    assert torch.equal(load_expert(path, dataset="digits", arch="MLP").params, store.load(identity).params)
    _flip_a_byte(path / "trajectory.safetensors")
    with pytest.raises(ExpertError, match="does not match the SHA-256"):
        load_expert(path, dataset="digits", arch="MLP")
    with pytest.raises(ExpertError, match="no readable expert manifest"):
        load_expert(tmp_path, dataset="digits", arch="MLP")


@pytest.mark.parametrize("plant, message", [
    (lambda d: (d / "notes.txt").write_text("mine"), r"holds files that are not an expert's \(notes.txt\)"),
    (lambda d: (d / "manifest.json").write_text('{"format": "raydd-synset"}'),
     "format 'raydd-synset' is not 'raydd-expert'"),
])
def test_a_directory_holding_someone_elses_files_is_refused_untouched(tmp_path, small, trainings, plant, message):
    store, identity = ExpertStore(tmp_path), ExpertIdentity.of(small, "MLP", SETTINGS, 0)
    target = store.directory(identity)
    target.mkdir(parents=True)
    plant(target)
    before = snapshot(tmp_path)
    with pytest.raises(ExpertError, match=message):
        store.ensure(identity, small)
    assert snapshot(tmp_path) == before and trainings == []


def test_a_file_where_the_expert_belongs_is_refused(tmp_path, small):
    store, identity = ExpertStore(tmp_path), ExpertIdentity.of(small, "MLP", SETTINGS, 0)
    store.directory(identity).parent.mkdir(parents=True)
    store.directory(identity).write_text("mine")
    with pytest.raises(ExpertError, match="is not a directory; raydd leaves it alone"):
        store.ensure(identity, small)
    assert store.directory(identity).read_text() == "mine"


def test_data_of_another_carve_or_an_unrollable_architecture_fail_before_training(tmp_path, small, trainings):
    store = ExpertStore(tmp_path)
    identity = ExpertIdentity.of(small, "MLP", SETTINGS, 0)
    other_carve = Dataset(small.info, small.train, small.val, small.test, 0.2, 0)
    with pytest.raises(ValueError, match=r"is of digits \(val_size 0.1, split_seed 0\); the data given is digits "
                                         r"\(val_size 0.2, split_seed 0\)"):
        store.ensure(identity, other_carve)
    with pytest.raises(ValueError, match="^ConvNetBN cannot be unrolled"):
        store.ensure(ExpertIdentity.of(small, "ConvNetBN", SETTINGS, 0), small)
    assert trainings == [] and not any(tmp_path.iterdir())


def test_a_write_that_fails_leaves_nothing_behind(tmp_path, small, monkeypatch):
    store, identity = ExpertStore(tmp_path), ExpertIdentity.of(small, "MLP", SETTINGS, 0)
    trajectory, _ = train_module.train_expert("MLP", small, SETTINGS, 0)

    def broken(path, payload):
        path.write_bytes(payload[: len(payload) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(store_module, "_write_synced", broken)
    with pytest.raises(OSError, match="disk full"):
        store.write(identity, trajectory)
    assert list(store.directory(identity).parent.iterdir()) == []


def test_a_sound_expert_written_meanwhile_by_another_worker_is_kept(tmp_path, small):
    store, identity = ExpertStore(tmp_path), ExpertIdentity.of(small, "MLP", SETTINGS, 0)
    trajectory, _ = train_module.train_expert("MLP", small, SETTINGS, 0)
    store.write(identity, trajectory)
    before = snapshot(tmp_path)
    other = type(trajectory)("MLP", trajectory.layout, trajectory.params + 1)
    store.write(identity, other)
    assert snapshot(tmp_path) == before


def test_a_trajectory_that_is_not_the_identitys_is_not_written(tmp_path, small):
    trajectory, _ = train_module.train_expert("MLP", small, SETTINGS, 0)
    identity = ExpertIdentity.of(small, "MLP", ExpertSettings(epochs=5), 0)
    with pytest.raises(ValueError, match="a 2-epoch MLP trajectory is not expert digits/MLP seed 0 \\(5 epochs\\)"):
        ExpertStore(tmp_path).write(identity, trajectory)


def test_an_expert_stage_killed_midway_resumes_to_the_uninterrupted_experts(tmp_path, small, monkeypatch):
    """Seeds 0-2 in order; the training of seed 1 dies. A rerun keeps seed 0, trains 1 and 2, and
    every expert equals the one an uninterrupted stage wrote."""
    identities = [ExpertIdentity.of(small, "MLP", SETTINGS, s) for s in range(3)]
    clean = ExpertStore(tmp_path / "clean")
    expected = [clean.load(clean.ensure(i, small).identity).params for i in identities]

    real = store_module.train_expert

    def dies_on_seed_1(arch, data, settings, seed, *args, **kwargs):
        if seed == 1:
            raise KeyboardInterrupt  # as a kill would stop it
        return real(arch, data, settings, seed, *args, **kwargs)

    store = ExpertStore(tmp_path / "killed")
    monkeypatch.setattr(store_module, "train_expert", dies_on_seed_1)
    with pytest.raises(KeyboardInterrupt):
        for identity in identities:
            store.ensure(identity, small)
    assert [store.problem(i) for i in identities] == [None, "missing", "missing"]
    monkeypatch.setattr(store_module, "train_expert", real)
    statuses = [store.ensure(i, small).status for i in identities]
    assert statuses == ["reused", "trained", "trained"]
    for identity, params in zip(identities, expected):
        assert torch.equal(store.load(identity).params, params)
