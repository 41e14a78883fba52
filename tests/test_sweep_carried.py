"""What an MTT set carries into a sweep's evaluation, as `raydd evaluate` honours it: its students
and KD teachers train at the set's learned lr, on real data whitened as the set was."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from sweep_support import tiny_sweep, write_sweep

LEARNED_LR = 0.023


@pytest.fixture
def worker(tmp_path, monkeypatch):
    """An evaluation actor's object in this process; the point's set records a learned lr and ZCA."""
    from raydd.core.artifact import SyntheticSet, build_meta
    from raydd.core.datasets.zca import fit_zca, zca_record
    from raydd.core.evaluate import random_real
    from raydd.spec import load_spec
    from raydd.sweep import artifacts, evaluation
    from raydd.sweep.context import SweepContext
    from raydd.sweep.layout import SweepPaths

    monkeypatch.setattr(evaluation, "worker_device", lambda: "cpu")
    spec = load_spec(write_sweep(tmp_path, tiny_sweep("carried", str(tmp_path / "runs"), seeds=(0,),
                                                       students=("MLP",))))
    worker = evaluation.EvaluationWorker(SweepContext.of(spec, SweepPaths.of(spec.storage, spec.name)))
    point = spec.points[0]
    images, labels = random_real(worker.data, 1, seed=0)
    meta = build_meta(point.config, worker.data.info, 0, 0.0, val_size=0.1, split_seed=0)
    meta.update(learned_lr=LEARNED_LR, zca=zca_record(fit_zca(worker.data.train, worker.data.info)))
    artifacts.save_synset_to(SyntheticSet(images, labels, meta), worker.context.paths.synset(point.trial_key))
    worker.spec = spec
    return worker


def spy(monkeypatch, module, name: str, calls: list) -> None:
    original = getattr(module, name)

    def recording(*args, **kw):
        calls.append(args)
        return original(*args, **kw)

    monkeypatch.setattr(module, name, recording)


def test_students_and_teachers_train_at_the_learned_lr_on_whitened_data(worker, monkeypatch):
    import raydd.core.evaluate as core_evaluate
    from raydd.core.datasets.zca import refit_zca, whiten_dataset
    from raydd.results import load
    from raydd.sweep.evaluation import jobs_for

    students, teachers = [], []
    spy(monkeypatch, core_evaluate, "evaluate_seeds", students)
    spy(monkeypatch, core_evaluate, "train_teachers", teachers)
    kd_job = next(job for job in jobs_for(worker.spec.points[0], worker.spec.evaluation) if job.kd)
    worker.train_teachers(kd_job.trial_key, [0], kd_job.setting)
    assert worker.evaluate_group([kd_job]) == 1
    meta = worker._set(kd_job.point).meta
    whitened = whiten_dataset(worker.data, refit_zca(meta["zca"], worker.data)).train.images
    for images, targets, data, *rest in [students[0], teachers[0]]:
        config = next(arg for arg in rest if hasattr(arg, "lr"))
        assert config.lr == LEARNED_LR
        assert torch.equal(data.train.images, whitened) and not torch.equal(data.train.images, worker.data.train.images)
    rows = load(worker.context.paths.results)
    assert list(rows["lr"]) == list(rows["learned_lr"]) == [LEARNED_LR]


def test_a_whitened_set_under_labels_of_the_whole_data_teacher_is_refused(worker):
    from raydd.sweep.evaluation import jobs_for

    job = next(job for job in jobs_for(worker.spec.points[0], worker.spec.evaluation) if not job.kd)
    soft = replace(job, setting=replace(job.setting, config=replace(job.setting.config, labels="soft")))
    with pytest.raises(ValueError, match=r"^set .* is ZCA-whitened; labels soft would have it labelled by a teacher "
                                         r"trained on plain images: use labels hard$"):
        worker.evaluate_group([soft])


def test_evaluation_learned_lr_off_trains_students_and_teachers_at_the_protocol_lr(worker, monkeypatch):
    import raydd.core.evaluate as core_evaluate
    from raydd.results import load
    from raydd.sweep.evaluation import jobs_for

    students, teachers = [], []
    spy(monkeypatch, core_evaluate, "evaluate_seeds", students)
    spy(monkeypatch, core_evaluate, "train_teachers", teachers)
    kd_job = next(job for job in jobs_for(worker.spec.points[0], worker.spec.evaluation) if job.kd)
    setting = replace(kd_job.setting, config=replace(kd_job.setting.config, learned_lr=False))
    kd_job = replace(kd_job, setting=setting)
    worker.train_teachers(kd_job.trial_key, [0], kd_job.setting)
    assert worker.evaluate_group([kd_job]) == 1
    for _images, _targets, _data, *rest in [students[0], teachers[0]]:
        assert next(arg for arg in rest if hasattr(arg, "lr")).lr == 0.01
    rows = load(worker.context.paths.results)
    assert list(rows["lr"]) == [0.01] and rows["learned_lr"].isna().all()
