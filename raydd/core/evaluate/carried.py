"""What a synthetic set carries into its evaluation, as MTT evaluates its sets.

- `zca`: the set's images live in the ZCA-whitened space of its dataset (experts trained with
  ZCA). Its students must see real data whitened by the same transform: it is fitted again on the
  training split of the set's own validation carve (the meta records eps and the image count,
  not the D x D matrices), and applied to every split.
- `learned_lr`: the student learning rate MTT learned with the set. MTT's evaluation trains the
  students at it (`args.lr_net = syn_lr`), keeping the rest of the protocol; raydd does so unless
  asked for the protocol's own lr.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any


def carried_lr(meta: dict[str, Any]) -> float | None:
    """The set's learned learning rate, or None; one that cannot train a student is refused."""
    lr = meta.get("learned_lr")
    if lr is None:
        return None
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"the set's learned lr is {lr!r}, which cannot train a student (MTT does not keep it "
                         "positive); evaluate it at the protocol's lr with --protocol-lr")
    return float(lr)


def with_carried_lr(cfg, lr: float | None):
    """The evaluation setting with the set's learned lr in place of the protocol's."""
    return cfg if lr is None else replace(cfg, lr=lr)


def is_whitened(meta: dict[str, Any]) -> bool:
    return meta.get("zca") is not None


def carried_data(meta: dict[str, Any], data):
    """`data` as the set's students must see it: whitened as the set was (see the module
    docstring), or unchanged for a set that records no ZCA."""
    if not is_whitened(meta):
        return data
    from raydd.core.datasets.zca import refit_zca, whiten_dataset

    return whiten_dataset(data, refit_zca(meta["zca"], data))
