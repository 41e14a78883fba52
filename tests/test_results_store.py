"""raydd.results storage: validation before writing, atomic files, load, clear errors."""

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raydd.results import RESULT_SCHEMA, ResultsError, ResultsNotFoundError, load, write_rows
from test_results_support import make_row, write_sample


def test_import_pulls_in_neither_torch_nor_ray():
    code = ("import sys, raydd.results; from raydd.cli.main import cli; "
            "cli(['results', 'show', '--help'], standalone_mode=False); "
            "bad = [m for m in ('torch', 'ray') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_writing_and_reading_rows_leaves_matplotlib_unloaded(tmp_path):
    """Evaluation actors write rows through raydd.results: plotting stays out of that path."""
    code = ("import sys; from test_results_support import make_row; "
            "from raydd.results import load, write_rows; "
            f"write_rows([make_row()], {str(tmp_path)!r}); assert len(load({str(tmp_path)!r})) == 1; "
            "assert 'matplotlib' not in sys.modules; "
            "from raydd.results import plot; assert 'matplotlib' in sys.modules and callable(plot)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=Path(__file__).parent)


def test_load_gives_schema_dtypes(tmp_path):
    write_sample(tmp_path)
    df = load(str(tmp_path))
    assert len(df) == 16 and list(df.columns) == RESULT_SCHEMA.names
    for column in ("ipc", "eval_seed", "epochs", "pool_warmup", "iterations", "distill_seed"):
        assert df[column].dtype == "int32", column
    for column in ("val_acc", "test_acc", "alpha", "pool_main_weight"):
        assert df[column].dtype == "float64", column
    assert df["kd"].dtype == bool
    assert pd.api.types.is_string_dtype(df["student"]) and pd.api.types.is_string_dtype(df["pool"])
    assert isinstance(df["created_at"].dtype, pd.DatetimeTZDtype) and str(df["created_at"].dt.tz) == "UTC"
    assert df.loc[~df["kd"], "teacher"].isna().all() and (df.loc[df["kd"], "teacher"] == "ConvNet").all()


def test_rows_round_trip_unchanged(tmp_path):
    row = make_row(pool='{"ConvNet": 1.0}', kd=True, teacher="ConvNet", alpha=0.7, temperature=2.0,
                   eval_key="augment_dsa", learned_lr=0.01, distill_key="precision_bf16")
    write_rows([row], str(tmp_path))
    back = load(str(tmp_path)).iloc[0].to_dict()
    for key, value in row.items():
        assert back[key] == value, key


def test_dataframe_input_is_accepted(tmp_path):
    frame = pd.DataFrame([make_row(eval_seed=s) for s in range(3)])
    write_rows(frame, str(tmp_path))
    assert sorted(load(str(tmp_path))["eval_seed"]) == [0, 1, 2]


def test_dict_pool_and_config_are_serialised(tmp_path):
    write_rows([make_row(pool={"ConvNet": 1.0}, config_json={"ipc": 1})], str(tmp_path))
    df = load(str(tmp_path))
    assert df.loc[0, "pool"] == '{"ConvNet": 1.0}' and df.loc[0, "config_json"] == '{"ipc": 1}'


@pytest.mark.parametrize("row, column", [
    ({k: v for k, v in make_row().items() if k != "test_acc"}, "test_acc"),
    (make_row(ipc="ten"), "ipc"),
    (make_row(ipc=2.5), "ipc"),
    (make_row(kd="False"), "kd"),
    (make_row(student=None), "student"),
    (make_row(test_acc=float("nan")), "test_acc"),
    (make_row(test_acc=85.0), "test_acc"),  # percent where a fraction belongs
    (make_row(created_at=datetime(2025, 1, 1)), "created_at"),  # naive: which zone?
    (make_row(ipc=2**40), "ipc"),
    (make_row(kd=True), "teacher"),  # KD without a teacher
    (make_row(alpha=0.5), "alpha"),  # alpha without KD
    (make_row(pool_main_weight=0.5), "pool_main_weight"),
    (make_row(pool="{}"), "pool_main_weight"),  # no pool (a baseline) but a weight
    (make_row(pool_main_weight=None), "pool_main_weight"),  # a pool but no weight
    (make_row(pool="ConvNet=1.0"), "pool"),  # not JSON
    (make_row(config_json="[1, 2]"), "config_json"),  # JSON, but not an object
    ({**make_row(), "extra": 1}, "extra"),
])
def test_bad_rows_name_the_column_and_write_nothing(tmp_path, row, column):
    with pytest.raises(ValueError, match=column):
        write_rows([make_row(eval_seed=1), row], str(tmp_path))
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_a_baselines_row_has_no_pool_and_a_nan_weight(tmp_path):
    from raydd.results import load

    row = make_row(method="random_real", pool_name="-", pool="{}", pool_main_weight=None, iterations=0)
    write_rows([row], str(tmp_path))
    df = load(str(tmp_path))
    assert df["method"].tolist() == ["random_real"] and df["pool_main_weight"].isna().all()


def test_no_rows_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no rows"):
        write_rows([], str(tmp_path))


def test_every_write_is_a_new_file_and_no_temp_is_left(tmp_path):
    paths = {write_rows([make_row(eval_seed=s)], str(tmp_path / "results")) for s in range(3)}
    names = sorted(os.listdir(tmp_path / "results"))
    assert len(paths) == 3 and len(names) == 3
    assert all(n.startswith("part-") and n.endswith(".parquet") for n in names)
    assert {os.path.basename(p) for p in paths} == set(names)


def test_hidden_and_underscore_files_are_ignored(tmp_path):
    write_sample(tmp_path)
    (tmp_path / ".part-crashed.parquet.tmp").write_bytes(b"half a file")
    pq.write_table(pa.table({"x": [1]}), tmp_path / "_metadata.parquet")
    (tmp_path / "_SUCCESS").write_text("")
    assert len(load(str(tmp_path))) == 16


def test_missing_location_is_a_not_found_error(tmp_path):
    with pytest.raises(ResultsNotFoundError, match="does not exist") as err:
        load(str(tmp_path / "nowhere"))
    assert isinstance(err.value, FileNotFoundError) and "nowhere" in str(err.value)


def test_empty_location_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not results")
    with pytest.raises(ResultsError, match=r"holds no \.parquet files \(it holds 1 other file"):
        load(str(tmp_path))


def test_foreign_schema_is_an_error_naming_file_and_column(tmp_path):
    write_sample(tmp_path)
    pq.write_table(pa.table({"accuracy": [0.5]}), tmp_path / "other.parquet")
    expected = r"other\.parquet .*not a raydd results file: column 'sweep' is missing"
    with pytest.raises(ResultsError, match=expected):
        load(str(tmp_path))


def test_mistyped_column_in_a_file_is_an_error(tmp_path):
    table = write_rows([make_row()], str(tmp_path))
    frame = pq.read_table(table).to_pandas()
    frame["ipc"] = frame["ipc"].astype(str)
    frame.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ResultsError, match="column 'ipc' has type large_string, expected int32"):
        load(str(tmp_path))


def test_a_single_file_can_be_loaded(tmp_path):
    path = write_rows([make_row()], str(tmp_path))
    assert len(load(path)) == 1


def test_file_written_by_pandas_loads(tmp_path):
    """pandas writes strings as large_string and may write ns timestamps; both read back."""
    frame = pd.DataFrame([make_row(eval_seed=s) for s in range(2)])
    ints = ("ipc", "pool_warmup", "iterations", "distill_seed", "eval_seed", "epochs")
    frame = frame.astype({**dict.fromkeys(ints, "int32"), "alpha": "float64", "temperature": "float64"})
    frame["created_at"] = frame["created_at"].astype("datetime64[ns, UTC]")
    frame.to_parquet(tmp_path / "by-pandas.parquet")
    df = load(str(tmp_path))
    assert list(df["eval_seed"]) == [0, 1] and str(df["created_at"].dtype) == "datetime64[us, UTC]"


def test_a_chosen_name_is_written_and_rewritten_in_place(tmp_path):
    for seed in (0, 0):  # a retried job writes the same rows under the same name
        path = write_rows([make_row(eval_seed=seed)], str(tmp_path), name="job-t1-mlp-s0.parquet")
    assert os.listdir(tmp_path) == ["job-t1-mlp-s0.parquet"] and path == str(tmp_path / "job-t1-mlp-s0.parquet")
    assert len(load(str(tmp_path))) == 1


@pytest.mark.parametrize("name", ["rows.csv", ".hidden.parquet", "_x.parquet", "a/b.parquet"])
def test_a_bad_chosen_name_is_refused_before_writing(tmp_path, name):
    with pytest.raises(ValueError, match="must be a plain name ending in .parquet"):
        write_rows([make_row()], str(tmp_path), name=name)
    assert not any(tmp_path.iterdir())


def test_a_file_written_before_device_and_node_were_recorded_reads_with_nulls(tmp_path):
    import pyarrow.parquet as pq

    from raydd.results import load
    from raydd.results.schema import to_table

    old = to_table([make_row()]).drop_columns(["device", "node"])
    pq.write_table(old, tmp_path / "old.parquet")
    write_rows([make_row(eval_seed=1, device="cuda:NVIDIA H200")], str(tmp_path))
    df = load(str(tmp_path))
    assert len(df) == 2 and df["device"].isna().tolist() == [True, False]
    assert df["device"].iloc[1] == "cuda:NVIDIA H200" and df["node"].iloc[1] == "10.0.0.1"
    assert df["node"].isna().tolist() == [True, False]
