"""A sweep's baseline sets (random real images) and foreign sets (`evaluation.sets`), drawn or
read by the driver before any trial starts and stored as synthetic-set artifacts beside the
distilled ones: the evaluation actors then treat them as any other set (one teacher per seed,
every student, KD off and on)."""

from __future__ import annotations

from raydd.core.foreign import FOREIGN_METHOD
from raydd.spec import TrialPoint
from raydd.spec.grid import WHOLE_DATASET
from raydd.sweep import artifacts
from raydd.sweep.context import SweepContext


def materialize(points: tuple[TrialPoint, ...], context: SweepContext) -> int:
    """Store every baseline or foreign set not yet on storage; returns how many were stored. The
    whole_dataset baseline is the training split itself: the actors read it, nothing is stored."""
    missing = [p for p in points if p.baseline != WHOLE_DATASET
               and not artifacts.synset_complete(context.paths.synset(p.trial_key))]
    if not missing:
        return 0
    data = context.load_data("cpu")
    for point in missing:
        artifacts.save_synset_to(draw(point, data, context), context.paths.synset(point.trial_key))
    return len(missing)


def draw(point: TrialPoint, data, context: SweepContext):
    """The baseline set of `point`: ipc random training images per class, seeded by its seed; or
    the foreign set it names, read again (and checked again) from its file."""
    from raydd.core.artifact import SyntheticSet, build_meta
    from raydd.core.evaluate import random_real

    if point.baseline == FOREIGN_METHOD:
        return _foreign(point, data, context)
    if point.baseline != "random_real":
        raise ValueError(f"{point.trial_key}: unknown baseline {point.baseline!r}")
    cfg = point.config
    images, labels = random_real(data, cfg.ipc, cfg.seed)
    meta = build_meta(cfg, data.info, 0, 0.0, val_size=context.dataset.val_size, split_seed=0)
    meta.update(method=point.baseline, pool={}, config=None, final_loss=None)
    return SyntheticSet(images, labels, meta)


def _foreign(point: TrialPoint, data, context: SweepContext):
    from raydd.core.artifact import SyntheticSet, build_meta
    from raydd.spec.foreign import read_axes

    foreign = read_axes(point.axes, data.info)
    if foreign.ipc != point.config.ipc:
        raise ValueError(f"{foreign.path} changed since the sweep was submitted: {foreign.ipc} images per class, "
                         f"not {point.config.ipc}")
    meta = build_meta(point.config, data.info, 0, 0.0, val_size=context.dataset.val_size, split_seed=0)
    meta.update(method=FOREIGN_METHOD, pool={}, config=None, final_loss=None, foreign=foreign.describe())
    return SyntheticSet(foreign.images, foreign.labels, meta, foreign.soft_labels)
