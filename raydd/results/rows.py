"""The one builder of result rows: a sweep's evaluation actors and `raydd evaluate --out` both
call `result_rows`, so a row means the same whichever wrote it.

A row is put together from four parts, each built by its own function here:

- the set (`set_columns`): what was evaluated, and how it was made;
- the setting (`Setting`): how its students were trained and labelled, and how accuracy was taken;
- the records (`EvalRecord.row_fields()` of the core): student, KD, seed, accuracies, time;
- the provenance (`provenance`): raydd's version and git commit, torch's version, the device and
  the machine (`node`, its host name in both writers) that trained the student.

Standard library and pandas-free: it runs inside the evaluation actors without importing torch.
"""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from raydd import strict_json
from raydd.results.schema import NO_POOL

GIT_TIMEOUT_S = 5  # a git that hangs (a network file system) must not hold up an evaluation


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def raydd_commit() -> str | None:
    """The git commit raydd runs from (`commit_of` the directory holding the raydd package)."""
    return commit_of(Path(__file__).resolve().parents[2])


def commit_of(source: Path, package: str = "raydd") -> str | None:
    """The commit checked out at `source`, with `-dirty` when the tracked files of `package` in it
    differ from that commit; None when `source` is not the top of a git checkout (an installed
    wheel, a Ray job's upload, or some other repository around an installed raydd) or git is absent."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True,
                                  timeout=GIT_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != Path(source).resolve():
        return None
    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    changed = git("status", "--porcelain", "--untracked-files=no", "--", package)
    return f"{commit}-dirty" if changed else commit


def node_name() -> str:
    """The machine that trains, by its host name: the same word in a sweep and in `raydd evaluate`."""
    return socket.gethostname()


@dataclass(frozen=True)
class Provenance:
    """What computed a row: software versions, device and machine."""

    device: str  # `cpu` or `cuda:<GPU name>` (raydd.core.devices.device_label)
    node: str
    raydd_version: str
    raydd_commit: str | None
    torch_version: str | None

    def columns(self) -> dict[str, Any]:
        return {"device": self.device, "node": self.node, "raydd_version": self.raydd_version,
                "raydd_commit": self.raydd_commit, "torch_version": self.torch_version}


def provenance(device: str, node: str | None = None) -> Provenance:
    """This process's provenance for rows trained on `device` (a device label)."""
    return Provenance(device, node or node_name(), _package_version("raydd") or "0.0.0+source",
                      raydd_commit(), _package_version("torch"))


def set_columns(*, trial_key: str, method: str, ipc: int, synset_uri: str, distill_seed: int = 0,
                pool: dict[str, float] | None = None, pool_name: str | None = None, pool_warmup: int = 0,
                iterations: int = 0, distill_seconds: float = 0.0, grid_png_uri: str | None = None,
                distill_key: str | None = None) -> dict:
    """The columns that name the evaluated set and say how it was made. `pool` (main architecture
    first) and its `pool_name` for a distilled set; None for a set drawn or read, not distilled.
    `distill_key` names the set's other distillation axes (`DISTILL_KEY_SKIPS` aside)."""
    if pool is None:
        pool_columns = {"pool_name": NO_POOL, "pool": {}, "pool_main_weight": None}
    else:
        pool_columns = {"pool_name": pool_name, "pool": dict(pool), "pool_main_weight": next(iter(pool.values()))}
    return {"trial_key": trial_key, "method": method, "ipc": ipc, **pool_columns, "pool_warmup": pool_warmup,
            "iterations": iterations, "distill_key": distill_key or None, "distill_seed": distill_seed, "distill_seconds": distill_seconds,
            "synset_uri": synset_uri, "grid_png_uri": grid_png_uri}


@dataclass(frozen=True)
class Setting:
    """How the students of a row were trained: the evaluation columns of the row."""

    epochs: int
    augment: str
    lr: float
    labels: str  # hard | soft | relabel
    label_bytes: int  # what the labels the students trained on take to store (raydd.core.evaluate.labels)
    selection: str  # validation | test-max
    eval_key: str | None = None
    learned_lr: float | None = None  # the set's learned lr when the students trained at it (then = lr)

    @classmethod
    def of(cls, cfg, label_bytes: int, eval_key: str | None = None, learned_lr: float | None = None) -> "Setting":
        """The setting of an `EvalConfig` (read by its attributes: results never imports the core)."""
        return cls(cfg.resolved_epochs, cfg.augment, cfg.lr, cfg.labels, label_bytes, cfg.selection, eval_key or None,
                   learned_lr)

    def columns(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "augment": self.augment, "lr": self.lr, "eval_key": self.eval_key,
                "labels": self.labels, "label_bytes": self.label_bytes, "selection": self.selection,
                "learned_lr": self.learned_lr}


def result_rows(*, sweep: str, dataset: str, set_: dict, setting: Setting, records: list[dict],
                made_by: Provenance, recipe: dict, created_at: datetime | None = None) -> list[dict]:
    """One row per record (`EvalRecord.row_fields()`), in `raydd.results.schema`'s columns."""
    stamp = created_at or datetime.now(timezone.utc)
    shared = {"sweep": sweep, "dataset": dataset, **set_, **setting.columns(), **made_by.columns(),
              "created_at": stamp, "config_json": strict_json.dumps(recipe)}
    return [{**shared, **record} for record in records]
