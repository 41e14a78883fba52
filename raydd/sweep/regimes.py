"""Which evaluation jobs a set gets under the label regimes, and the teachers they need.

- `relabel` settings run KD-off jobs only: the relabelling teacher already gives every label.
- The `whole_dataset` baseline runs KD-off jobs under hard-label settings only, each distinct
  whole-data training once (settings differing only in KD candidates train it identically), at
  `whole_epochs`: it is the upper bound HLR measures sets against, and hours of CPU a student.
- The whole-data teacher (one per distinct whole-data training of the teacher architecture) is
  needed by `relabel` with `relabel_teacher: whole`, and by `soft` for a set that stores no soft
  labels; it is trained once on the pool and kept under `<sweep>/teachers/whole/<key>.pt`.
"""

from __future__ import annotations

import hashlib

from raydd import strict_json
from raydd.spec import EvalPoint, TrialPoint
from raydd.spec.grid import WHOLE_DATASET

# EvalConfig fields that leave a KD-off training on the whole split unchanged
NOT_WHOLE_TRAINING = ("alphas", "temperatures", "val_images", "eval_batch_size", "relabel_teacher")


def is_whole(point: TrialPoint) -> bool:
    return point.baseline == WHOLE_DATASET


def job_config(point: TrialPoint, setting: EvalPoint):
    """The EvalConfig a job of `point` trains under: the whole split's own for `whole_dataset`."""
    return setting.config.for_whole_data() if is_whole(point) else setting.config


def _whole_training(config, ignore: tuple[str, ...] = ()) -> str:
    """What decides a training on the whole split, as canonical JSON."""
    values = {k: v for k, v in config.for_whole_data().to_dict().items() if k not in (*NOT_WHOLE_TRAINING, *ignore)}
    return strict_json.dumps(values, sort_keys=True)


def settings_for(point: TrialPoint, settings: tuple[EvalPoint, ...]) -> list[EvalPoint]:
    """The settings `point` is evaluated under (see the module docstring)."""
    if not is_whole(point):
        return list(settings)
    distinct: dict[str, EvalPoint] = {}
    for setting in settings:
        if setting.config.labels == "hard":
            distinct.setdefault(_whole_training(setting.config, ignore=("teacher",)), setting)
    return list(distinct.values())


def runs(point: TrialPoint, setting: EvalPoint, kd: bool) -> bool:
    """Whether a KD mode applies: never KD under relabel, nor on the whole split."""
    return not kd or (setting.config.labels != "relabel" and not is_whole(point))


def needs_whole(point: TrialPoint, setting: EvalPoint) -> bool:
    """Whether `point`'s jobs under `setting` need the whole-data teacher."""
    from raydd.core.evaluate.labels import needs_whole_teacher

    return not is_whole(point) and needs_whole_teacher(setting.config, bool(point.axes.get("soft_labels")))


def needs_set_teachers(kd: bool, setting: EvalPoint) -> bool:
    """KD, or relabelling by the KD teacher trained on the set."""
    config = setting.config
    return kd or (config.labels == "relabel" and config.relabel_teacher == "set")


def whole_teacher_key(setting: EvalPoint) -> str:
    """Names the whole-data teacher of a setting: its architecture and its whole-split training."""
    digest = hashlib.sha1(_whole_training(setting.config).encode()).hexdigest()[:10]
    return f"{setting.config.teacher}-{digest}"


