"""Sets that carry their own learned lr (MTT) are tabulated by their grid point, not one row per set."""

import pandas as pd

from raydd.results.table import default_by, results_table
from test_results_support import make_row

LEARNED = {0: 0.0123, 1: 0.0187, 2: 0.0151}  # each distillation seed learned its own lr


def mtt_rows(pool: str) -> list[dict]:
    return [make_row(method="mtt", pool_name=pool, trial_key=f"t-{pool}-{seed}", distill_seed=seed,
                     synset_uri=f"runs/demo/synsets/t-{pool}-{seed}", eval_seed=e, lr=lr, learned_lr=lr,
                     test_acc=0.3 + 0.01 * seed + 0.001 * e)
            for seed, lr in LEARNED.items() for e in (0, 1)]


def test_sets_of_one_grid_point_share_a_row_though_each_learned_its_lr():
    df = pd.DataFrame(mtt_rows("ConvNetW32=1.0") + mtt_rows("ConvNetW32=0.9,ConvNetD1=0.1"))
    assert "lr" not in default_by(df) and default_by(df) == ["pool_name"]
    table = results_table(df)
    assert len(table.mean) == 2 and set(table.n["MLP"]) == {6}  # 3 sets x 2 evaluation seeds per row
    assert df["lr"].nunique() == 3  # the rows themselves keep the lr each set's students trained at


def test_protocol_lrs_still_tell_settings_apart():
    rows = [make_row(lr=lr, eval_seed=e, trial_key="t", eval_key=f"lr_{lr}") for lr in (0.01, 0.02) for e in (0, 1)]
    assert "lr" in default_by(pd.DataFrame(rows))
