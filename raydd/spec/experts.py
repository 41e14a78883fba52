"""`experts_storage`: where a sweep's MTT points find their expert trajectories.

The expert store (raydd.core.experts.ExpertStore) is a directory, content-addressed, so sweeps
that name the same one share their experts. By default it is `<storage>/experts`; an object-store
`storage` has no such directory, so a sweep with MTT points there must name one.
"""

from __future__ import annotations

from typing import Any, Sequence

from raydd.spec.checks import INVALID, Problems, shown
from raydd.storage import is_uri, join

EXPERTS_DIR = "experts"  # the default store under the storage root


def needs_experts(method: str) -> bool:
    """Whether `method` starts from expert trajectories (its METHODS entry says so: mtt)."""
    from raydd.core.distill import METHODS

    return method in METHODS and METHODS.get(method).needs_experts


def has_mtt(points: Sequence) -> bool:
    """Whether any point's method starts from experts (an MTT point)."""
    return any(needs_experts(point.config.method) for point in points)


def default_experts_root(storage: str) -> str:
    return join(storage, EXPERTS_DIR)


def parse_experts_storage(value: Any, problems: Problems) -> Any:
    """The key's value: None (absent) or a local or shared directory."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add("experts_storage", f"must be a directory path, got {shown(value)}")
        return INVALID
    if is_uri(value):
        problems.add("experts_storage", f"must be a local or shared directory (the expert store is one), "
                                        f"got {value!r}")
        return INVALID
    return value


def check_experts_place(experts_storage: str | None, storage: str, name: str, points: Sequence,
                        problems: Problems) -> None:
    """A sweep with MTT points needs a directory for its experts: on an object-store `storage`,
    `experts_storage` must name one; and the default one must not be the sweep's own root."""
    if experts_storage is not None or not has_mtt(points):
        return
    if is_uri(storage):
        problems.add("experts_storage", f"missing: the MTT points' experts live in a local or shared directory, "
                                        f"and storage {storage} is not one; set experts_storage to such a path")
    elif name == EXPERTS_DIR:
        problems.add("name", f"{name!r} is the directory of the experts under the storage ({EXPERTS_DIR}/); "
                             "give the sweep another name, or set experts_storage")


# Searched keys that change which experts a point needs. The expert stage trains a point's experts
# before its trials start, so these must be grid axes (or fixed), never sampled by a searcher.
EXPERT_KEYS = ("method", "num_experts", "train_epochs", "lr_teacher", "batch_teacher", "augment_teacher", "zca",
               "pool.main", "pool.others")


def check_searched_experts(search: Any, points: Sequence, problems: Problems) -> None:
    """A search that would sample the experts of an MTT point is refused at each such key."""
    if search is None:
        return
    samples_mtt = any(key == "method" and any(map(needs_experts, domain.args)) for key, domain in search.space)
    if not (samples_mtt or has_mtt(points)):
        return
    for key, _ in search.space:
        if key in EXPERT_KEYS:
            problems.add(f"search.space.{key}", "would change the experts of MTT points, which the expert stage "
                                                "trains before the trials; make it a grid axis")


def check_whitened_labels(points: Sequence, evaluation: Any, problems: Problems) -> None:
    """A ZCA-whitened MTT set cannot be labelled by the whole-data teacher, which trains on plain
    images: such a label regime is refused at its place, before any expert or trial runs."""
    from raydd.core.evaluate.labels import needs_whole_teacher

    if not any(needs_experts(p.config.method) and p.config.settings.zca for p in points):
        return
    for setting in evaluation.settings:
        config = setting.config
        if needs_whole_teacher(config, has_soft_labels=False):  # an MTT set stores no soft labels
            place = "grid.labels" if "labels" in setting.axes else "evaluation.labels"
            problems.add(place, f"{config.labels} would have the ZCA-whitened sets of MTT points (zca: true) "
                                "labelled by a teacher trained on plain images; use hard")
            return
