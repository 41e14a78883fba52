"""Many experts at once: the ones a request names, training those a store lacks, finding those a
trajectory-matching run needs, and listing what a store holds.

Experts of one request are seeds 0 .. count - 1 of each architecture, so asking again for more
(or fewer) names the same experts and only the missing ones are trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from raydd.core.experts.params import check_unrollable
from raydd.core.experts.settings import ExpertIdentity, ExpertSettings
from raydd.core.experts.store import MANIFEST, ExpertError, ExpertOutcome, ExpertStore, _read_manifest
from raydd.core.experts.train import Trajectory


def check_request(archs: Sequence[str], count: int, info: Any) -> None:
    """A ValueError in one line for a request no expert can come of: no architecture, an unknown
    one, one trajectory matching cannot unroll, or a count below 1. Cheap: nothing is loaded."""
    from raydd.core.evaluate import check_architectures

    if not archs:
        raise ValueError("name at least one architecture")
    check_architectures(archs)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"the number of experts must be an integer >= 1, got {count!r}")
    for arch in archs:
        check_unrollable(arch, info.channels, info.num_classes, info.image_size)


def requested(data: Any, archs: Sequence[str], settings: ExpertSettings, count: int) -> list[ExpertIdentity]:
    """Seeds 0 .. count - 1 of every architecture, architecture by architecture."""
    return [ExpertIdentity.of(data, arch, settings, seed) for arch in archs for seed in range(count)]


def ensure_all(store: ExpertStore, identities: Sequence[ExpertIdentity], data: Any, device: Any = "cpu",
               on_outcome: Callable[[ExpertOutcome], None] | None = None) -> list[ExpertOutcome]:
    """`store.ensure` for each expert in turn: complete ones reused, missing and damaged ones
    trained. Every directory is checked first, so a foreign one fails before any training. The
    ZCA transform (when the settings whiten) is fitted once, on the training split, for all."""
    check_all(store, identities)
    zca = _shared_zca(identities, data)
    outcomes = []
    for identity in identities:
        outcome = store.ensure(identity, data, device, zca if identity.settings.zca else None)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def check_all(store: ExpertStore, identities: Sequence[ExpertIdentity]) -> None:
    """An `ExpertError` for the first directory that is not the store's to replace: before any training."""
    for identity in identities:
        store.problem(identity)


def _shared_zca(identities: Sequence[ExpertIdentity], data: Any):
    if not any(identity.settings.zca for identity in identities):
        return None
    from raydd.core.datasets.zca import fit_zca

    return fit_zca(data.train, data.info)


# ---- what a trajectory-matching run needs --------------------------------------------------------
def load_needed(store: ExpertStore, data: Any, archs: Sequence[str], settings: ExpertSettings,
                count: int | None, train_command: Callable[[Sequence[str], int], str]) -> dict[str, list[Trajectory]]:
    """The experts of every architecture: seeds 0 .. count - 1, or (count None) every expert of
    these settings the store holds. A missing or damaged one is refused in one line naming
    `train_command(archs, count)`, the command that makes or repairs them; none is skipped."""
    wanted: dict[str, list[ExpertIdentity]] = {}
    for arch in archs:
        seeds = range(count) if count is not None else stored_seeds(store, data, arch, settings)
        wanted[arch] = [ExpertIdentity.of(data, arch, settings, seed) for seed in seeds]
    lacking = [arch for arch, identities in wanted.items() if not identities]
    damaged = {arch: problem for arch, identities in wanted.items() for problem in
               [_first_problem(store, identities)] if problem}
    if lacking or damaged:
        need = count or max([len(ids) for ids in wanted.values()] + [1])
        what = (f"no experts of {', '.join(lacking)}" if lacking else
                "; ".join(f"{arch}: {problem}" for arch, problem in damaged.items()))
        raise ExpertError(f"{store.root} lacks the experts this run needs ({what}, for {data.info.name} "
                          f"with {settings_words(settings)}); make them with: {train_command(archs, need)}")
    return {arch: [store.load(identity) for identity in identities] for arch, identities in wanted.items()}


def _first_problem(store: ExpertStore, identities: Sequence[ExpertIdentity]) -> str | None:
    for identity in identities:
        problem = store.problem(identity)
        if problem:
            return f"seed {identity.seed} is {problem}"
    return None


def stored_seeds(store: ExpertStore, data: Any, arch: str, settings: ExpertSettings) -> list[int]:
    """Seeds of the experts of `arch` with these settings on this data that `store` holds (sound
    or not: a damaged one is reported by whoever loads it, never passed over)."""
    probe = ExpertIdentity.of(data, arch, settings, 0).to_dict()
    seeds = []
    for entry in entries(store.root, data.info.name, arch):
        found = dict(entry.identity or {})
        if found.pop("seed", None) is not None and found == {k: v for k, v in probe.items() if k != "seed"}:
            seeds.append(int(entry.identity["seed"]))
    return sorted(seeds)


def stored_settings(store: ExpertStore, data: Any, arch: str) -> list[ExpertSettings]:
    """The distinct settings of the experts of `arch` on this data (dataset, carve, geometry) that
    `store` holds, in the order first found."""
    probe = ExpertIdentity.of(data, arch, ExpertSettings(), 0).to_dict()
    same_data = {k: v for k, v in probe.items() if k not in ("settings", "seed")}
    found: list[ExpertSettings] = []
    for entry in entries(store.root, data.info.name, arch):
        identity = entry.identity or {}
        if {k: identity.get(k) for k in same_data} != same_data:
            continue
        try:
            settings = ExpertSettings(**identity["settings"])
        except (KeyError, TypeError, ValueError):
            continue  # an unreadable entry is reported by `raydd experts list`
        if settings not in found:
            found.append(settings)
    return found


def choose_settings(store: ExpertStore, data: Any, archs: Sequence[str],
                    wanted: dict[str, Any]) -> ExpertSettings | None:
    """The one expert setting stored for every architecture and matching `wanted` (fields of
    `ExpertSettings`); None when there is none. Several are refused in one line listing them,
    since picking one would be a guess."""
    common = None
    for arch in archs:
        mine = [s for s in stored_settings(store, data, arch)
                if all(getattr(s, name) == value for name, value in wanted.items())]
        common = mine if common is None else [s for s in common if s in mine]
    if common and len(common) > 1:
        raise ExpertError(f"{store.root} holds experts of {', '.join(archs)} under {len(common)} settings ("
                          + "; ".join(settings_words(s) for s in common) + "): choose one with the flags that "
                          "name the experts' epochs, lr and zca")
    return common[0] if common else None


def settings_words(settings: ExpertSettings) -> str:
    return (f"{settings.epochs} epochs, lr {settings.lr:g}, augment {settings.augment}, "
            f"zca {'on' if settings.zca else 'off'}")


# ---- what a store holds --------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredExpert:
    """One directory of a store: its identity (None when its manifest is unreadable) and whether
    it is complete (`problem` None) or what is wrong with it."""

    directory: Path
    identity: dict | None
    problem: str | None


def entries(root: str | Path, dataset: str | None = None, arch: str | None = None) -> Iterator[StoredExpert]:
    """Every expert directory under `root` (hidden temporary ones skipped), sorted by path."""
    root = Path(root)
    for directory in sorted(root.glob(f"{dataset or '*'}/{arch or '*'}/*")):
        if directory.name.startswith(".") or not directory.is_dir():
            continue
        yield _entry(directory)


def _entry(directory: Path) -> StoredExpert:
    try:
        manifest = _read_manifest(directory)
    except ExpertError as err:
        return StoredExpert(directory, None, f"foreign: {err}")
    if manifest is None:
        return StoredExpert(directory, None, f"damaged: its {MANIFEST} is missing or unreadable")
    store = ExpertStore(directory.parents[2])
    try:
        identity = _identity(manifest["identity"])
        if store.directory(identity) != directory:
            return StoredExpert(directory, manifest["identity"], "misplaced: its identity belongs elsewhere")
        problem = store.problem(identity)
    except (ExpertError, TypeError, ValueError, KeyError) as err:
        return StoredExpert(directory, manifest["identity"], f"unusable: {err}")
    return StoredExpert(directory, manifest["identity"], problem)


def _identity(found: dict) -> ExpertIdentity:
    fields = {k: v for k, v in found.items() if k != "version"}
    return ExpertIdentity(**{**fields, "settings": ExpertSettings(**fields["settings"])})
