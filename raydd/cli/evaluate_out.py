"""`raydd evaluate --out DIR`: the records as result rows, in the schema a sweep writes, so one
`raydd results show` can put a single evaluation beside a sweep's sets."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from raydd import storage

SWEEP = "raydd-evaluate"  # the `sweep` column of rows written by `raydd evaluate`


def check_out(location: str) -> str:
    """`location` as a results directory raydd may add files to, or a ValueError saying why not:
    checked before any training. It may hold only raydd's result rows (and hidden files): rows
    added among a user's files would mix with them. Existing files are never touched; each run
    adds its own."""
    if storage.is_uri(location):
        return location
    from raydd.atomic import check_can_create
    from raydd.outputs import is_result_rows

    path = Path(location)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"--out {location} exists and is not a directory")
        foreign = sorted(p.name for p in path.iterdir() if not p.name.startswith(".") and not is_result_rows(p))
        if foreign:
            more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
            raise ValueError(f"--out {location} holds files that are not result rows raydd wrote "
                             f"({', '.join(foreign[:3])}{more}); choose a results directory")
    check_can_create(path / "probe.parquet")
    return str(path)


def source_columns(source, synset) -> dict:
    """The columns that describe the evaluated set: a synthetic set's recipe, or a baseline's or
    foreign set's (made without a raydd recipe: no pool, no iterations)."""
    from raydd.results.rows import set_columns

    if source.artifact is None or source.foreign is not None:
        from raydd.core.foreign import FOREIGN_METHOD

        return set_columns(trial_key=source.key, method=FOREIGN_METHOD if source.foreign else source.key,
                           ipc=source.ipc or 0, synset_uri=source.artifact or source.key)
    from raydd.core.pool import PoolSpec

    meta = synset.meta
    pool = PoolSpec.from_dict(meta["pool"])
    uri = str(Path(source.artifact).resolve())
    return set_columns(trial_key=source.key, method=meta["method"], ipc=source.ipc, synset_uri=uri,
                       distill_seed=int(meta.get("seed") or 0), pool=dict(zip(pool.archs, pool.probs)),
                       pool_name=pool.name, pool_warmup=pool.warmup, iterations=int(meta.get("iterations_done") or 0),
                       distill_seconds=float(meta.get("wall_seconds") or 0.0), grid_png_uri=storage.join(uri, "grid.png"))


def _fields(source, record) -> dict:
    """A record's columns; a random-real record's set is its own draw, seeded by its seed, so its
    `distill_seed` is that seed (tables count each draw as one set)."""
    fields = record.row_fields()
    return {**fields, "distill_seed": record.seed} if source.key == "random_real" else fields


def write_records(location: str, results, synset, dataset: str, carve: tuple, device: str) -> list[str]:
    """One Parquet file per evaluated source (`evaluate_cmd.Evaluated`) under `location`; returns
    their locations."""
    from raydd.core.devices import device_label
    from raydd.results import write_rows
    from raydd.results.rows import Setting, provenance, result_rows

    stamp = datetime.now(timezone.utc)
    made_by = provenance(device_label(device))
    written = []
    for result in results:
        source, cfg = result.source, result.config
        recipe = {"source": source.label, "dataset": {"name": dataset, "val_size": carve[0], "split_seed": carve[1]},
                  "distill": synset.meta.get("config") if synset is not None and source.artifact else None,
                  **({"foreign": source.foreign} if source.foreign else {}), "evaluation": cfg.to_dict()}
        rows = result_rows(sweep=SWEEP, dataset=dataset, set_=source_columns(source, synset),
                           setting=Setting.of(cfg, result.label_bytes, learned_lr=source.learned_lr),
                           records=[_fields(source, record) for record in result.records], made_by=made_by,
                           recipe=recipe, created_at=stamp)
        written.append(write_rows(rows, location))
    return written
