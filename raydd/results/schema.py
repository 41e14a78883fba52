"""The result row: one synthetic set x student x KD mode x evaluation seed.

Every column is declared once, in `FIELDS` below: its Arrow type, whether it may be null and what
it means. `docs/schema.md` shows the table `raydd list columns` prints from it, and a test keeps
the page and this module in step. Accuracies are stored as fractions in [0, 1].
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Callable, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from raydd import strict_json

SCHEMA_VERSION = "1"


class Column(NamedTuple):
    name: str
    type: pa.DataType
    nullable: bool
    meaning: str


FIELDS = [
    Column("sweep", pa.string(), False,
           "sweep name (the directory under the storage root)"),
    Column("trial_key", pa.string(), False,
           "grid point of the evaluated set (`TrialPoint.trial_key`)"),
    Column("method", pa.string(), False,
           "distillation method: dc, dsa, dm (or a baseline: `random_real`, `whole_dataset`; "
           "`foreign`: a set made by another code, `raydd evaluate SET --dataset` or a sweep's "
           "`evaluation.sets`)"),
    Column("dataset", pa.string(), False,
           "dataset name: digits, mnist, fashion_mnist, cifar10, ..."),
    Column("ipc", pa.int32(), False,
           "synthetic images per class (0 for `whole_dataset`: the whole training split)"),
    Column("pool_name", pa.string(), False,
           "model pool as written in a sweep: `ConvNet=0.9,ConvNetW64=0.1`; `-` for a baseline"),
    Column("pool", pa.string(), False,
           'the same pool as `{"ConvNet": 0.9, "ConvNetW64": 0.1}`, main arch first'),
    Column("pool_main_weight", pa.float64(), True,
           "probability of the first (main) pool architecture; null for a baseline (pool `{}`)"),
    Column("pool_warmup", pa.int32(), False,
           "outer iterations on the main arch before the pool is used"),
    Column("iterations", pa.int32(), False,
           "outer distillation iterations (0 for a baseline)"),
    Column("distill_key", pa.string(), True,
           "the distillation setting beside method, pool and iterations: the grid point's other "
           "distillation axes, seed aside (`precision_bf16`, `lr_img100`); null without them, for a "
           "baseline, and in files written before it was recorded"),
    Column("distill_seed", pa.int32(), False,
           "seed of the distillation run"),
    Column("student", pa.string(), False,
           "evaluated architecture"),
    Column("teacher", pa.string(), True,
           "KD teacher architecture; null when `kd` is false"),
    Column("kd", pa.bool_(), False,
           "whether the student was trained with knowledge distillation"),
    Column("alpha", pa.float64(), True,
           "KD weight chosen on the validation split; null without KD"),
    Column("temperature", pa.float64(), True,
           "KD temperature chosen on the validation split; null without KD"),
    Column("eval_seed", pa.int32(), False,
           "seed of the student's initialisation and training"),
    Column("val_acc", pa.float64(), False,
           "accuracy on the validation split carved from training data"),
    Column("test_acc", pa.float64(), False,
           "accuracy on the test split (reported once, never selected on)"),
    Column("train_seconds", pa.float64(), False,
           "wall time to train and evaluate this student"),
    Column("train_acc", pa.float64(), True,
           "accuracy of the final student on the set it trained on (its images unaugmented, the "
           "classes of its labels): near 1 when it fit the set, near chance when it never trained; "
           "null in files written before it was recorded"),
    Column("device", pa.string(), True,
           "what trained it: `cpu` or `cuda:<GPU name>` (null in files written before it was "
           "recorded)"),
    Column("node", pa.string(), True,
           "host name of the machine that trained it, in a sweep and in `raydd evaluate` alike (null"
           " likewise; sweeps before this version wrote the Ray node's IP address)"),
    Column("distill_seconds", pa.float64(), False,
           "wall time of the distillation that made the set"),
    Column("synset_uri", pa.string(), False,
           "directory of the synthetic-set artifact"),
    Column("grid_png_uri", pa.string(), True,
           "the artifact's image grid (`grid.png`)"),
    Column("epochs", pa.int32(), False,
           "student training epochs"),
    Column("augment", pa.string(), False,
           "augmentation during student training (`none`, `dsa`, ...)"),
    Column("lr", pa.float64(), True,
           "students' SGD learning rate (null in files written before it was recorded)"),
    Column("eval_key", pa.string(), True,
           "the evaluation setting: point of the grid's evaluation axes (`augment_dsa`); null "
           "without them"),
    Column("labels", pa.string(), False,
           "label regime the students trained under: `hard` (class labels), `soft` (the set's stored"
           " soft labels, soft cross-entropy), `relabel` (a teacher labels every batch); `hard` in "
           "files written before it was recorded"),
    Column("label_bytes", pa.int64(), True,
           "bytes the labels take to store: int64 class labels (8 per image), float32 soft labels (4"
           " x classes per image), or the relabelling teacher's float32 weights; null in files "
           "written before it was recorded"),
    Column("selection", pa.string(), False,
           "how test accuracy was taken: `validation` (the final student, every choice made on the "
           "validation split) or `test-max` (the best test accuracy over epochs, as published "
           "numbers often were: for comparison only); `validation` in files written before it was "
           "recorded"),
    Column("learned_lr", pa.float64(), True,
           "the learning rate the set was distilled with (MTT's learned lr) when its students trained "
           "at it, as MTT evaluates (then equal to `lr`); null when they trained at the protocol's lr, "
           "and in files written before it was recorded"),
    Column("created_at", pa.timestamp("us", tz="UTC"), False,
           "when the row was produced (timezone-aware)"),
    Column("raydd_version", pa.string(), False,
           "version of the installed raydd package that wrote the row"),
    Column("raydd_commit", pa.string(), True,
           "the git commit raydd ran from (`-dirty`: its files differed from it); null outside a git"
           " checkout and in files written before it was recorded"),
    Column("torch_version", pa.string(), True,
           "version of the installed torch that trained the student (null in files written before it"
           " was recorded)"),
    Column("config_json", pa.string(), False,
           "the row's own resolved recipe (below)"),
]

RESULT_SCHEMA = pa.schema(
    [pa.field(c.name, c.type, nullable=c.nullable) for c in FIELDS],
    metadata={"raydd.schema_version": SCHEMA_VERSION},
)
COLUMNS = tuple(RESULT_SCHEMA.names)
ACCURACY_COLUMNS = ("val_acc", "test_acc")
KD_ONLY_COLUMNS = ("teacher", "alpha", "temperature")  # null exactly when kd is false
JSON_COLUMNS = ("pool", "config_json")
FORMER_NAMES = {"trial_id": "trial_key"}  # column name in older files -> its name now
NO_POOL = "-"  # pool_name of a baseline's rows: its set was drawn, not distilled through a pool
LABEL_REGIMES = ("hard", "soft", "relabel")
SELECTIONS = ("validation", "test-max")
TEST_MAX = "test-max"  # the comparability mode: every table, plot and score marks its rows
# added after the first files were written -> the value rows of those files implicitly had
LATER_COLUMNS = {"device": None, "node": None, "lr": None, "eval_key": None, "labels": "hard",
                 "label_bytes": None, "selection": "validation", "raydd_commit": None, "torch_version": None,
                 "learned_lr": None, "distill_key": None, "train_acc": None}


def with_current_names(table: pa.Table) -> pa.Table:
    """A file's table with its columns under today's names (`FORMER_NAMES`), unless the file
    already holds a column of the new name, and with the `LATER_COLUMNS` it predates holding the
    value its rows implicitly had."""
    names = table.column_names
    table = table.rename_columns([FORMER_NAMES[n] if n in FORMER_NAMES and FORMER_NAMES[n] not in names else n
                                  for n in names])
    for name, value in LATER_COLUMNS.items():
        if name not in table.column_names:
            field = RESULT_SCHEMA.field(name)
            table = table.append_column(field, pa.array([value] * len(table), field.type))
    return table


def is_missing(value: Any) -> bool:
    """None, NaN, NaT and pd.NA all mean 'no value' (pandas writes NaN for a missing float)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_float(v: Any) -> bool:
    return _is_int(v) or (isinstance(v, (float, np.floating)) and math.isfinite(v))


def _is_bool(v: Any) -> bool:
    return isinstance(v, (bool, np.bool_))


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_aware_datetime(v: Any) -> bool:
    return isinstance(v, datetime) and v.tzinfo is not None


# Arrow type -> (accepts a Python value?, words for the error message)
_CHECKS: dict[pa.DataType, tuple[Callable[[Any], bool], str]] = {
    pa.int32(): (_is_int, "an integer"),
    pa.int64(): (_is_int, "an integer"),
    pa.float64(): (_is_float, "a finite number"),
    pa.bool_(): (_is_bool, "a bool"),
    pa.string(): (_is_str, "a string"),
    pa.timestamp("us", tz="UTC"): (_is_aware_datetime, "a timezone-aware datetime"),
}


def _records(rows: list[dict] | pd.DataFrame) -> list[dict]:
    if isinstance(rows, pd.DataFrame):
        return rows.to_dict("records")
    if isinstance(rows, dict) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("rows must be a list of dicts or a pandas DataFrame")
    return list(rows)


def _check_column_names(records: list[dict]) -> None:
    for i, record in enumerate(records):
        missing = [c for c in COLUMNS if c not in record]
        extra = [c for c in record if c not in COLUMNS]
        if missing:
            raise ValueError(f"row {i}: missing column(s) {', '.join(missing)}")
        if extra:
            raise ValueError(f"row {i}: unknown column(s) {', '.join(map(str, extra))}")


def _serialise_json(name: str, value: Any, row: int) -> Any:
    """A JSON column's text, strict: NaN and infinities are not JSON, so they are refused."""
    try:
        if isinstance(value, dict):
            return strict_json.dumps(value)
        if isinstance(value, str):
            parsed = strict_json.loads(value)
            if not isinstance(parsed, dict):
                raise ValueError("it must hold a JSON object")
    except ValueError as err:  # JSONDecodeError is one too
        raise ValueError(f"row {row}: column {name!r} is not strict JSON: {err}") from None
    return value


def _column_values(field: pa.Field, records: list[dict]) -> list[Any]:
    accepts, words = _CHECKS[field.type]
    values = []
    for i, record in enumerate(records):
        value = record[field.name]
        if field.name in JSON_COLUMNS:
            value = _serialise_json(field.name, value, i)
        if is_missing(value):
            if not field.nullable:
                raise ValueError(f"row {i}: column {field.name!r} may not be null")
            value = None
        elif not accepts(value):
            raise ValueError(
                f"row {i}: column {field.name!r} must be {words} ({field.type}), "
                f"got {type(value).__name__} {value!r}"
            )
        values.append(value)
    return values


def _check_semantics(table: pa.Table) -> None:
    """Rules one row's types cannot express: accuracies are fractions, KD fields follow `kd`,
    the label regime and selection are known words, label storage is not negative."""
    for name, known in (("labels", LABEL_REGIMES), ("selection", SELECTIONS)):
        for i, value in enumerate(table.column(name).to_pylist()):
            if value not in known:
                raise ValueError(f"row {i}: column {name!r} is {value!r}; known: {', '.join(known)}")
    for i, size in enumerate(table.column("label_bytes").to_pylist()):
        if size is not None and size < 0:
            raise ValueError(f"row {i}: column 'label_bytes' is {size}; a storage size is >= 0")
    for name in (*ACCURACY_COLUMNS, "train_acc"):
        for i, acc in enumerate(table.column(name).to_pylist()):
            if acc is not None and not 0.0 <= acc <= 1.0:
                raise ValueError(
                    f"row {i}: column {name!r} is {acc}; accuracies are fractions in [0, 1], not percent"
                )
    kd = table.column("kd").to_pylist()
    for name in KD_ONLY_COLUMNS:
        for i, value in enumerate(table.column(name).to_pylist()):
            if (value is None) == kd[i]:
                state = "null" if value is None else "set"
                raise ValueError(f"row {i}: column {name!r} is {state} but kd is {kd[i]}")
    for i, (pool, weight) in enumerate(zip(table.column("pool").to_pylist(),
                                           table.column("pool_main_weight").to_pylist())):
        first = next(iter(json.loads(pool).values()), None)
        if first is None and weight is None:
            continue  # a baseline's set: no pool, no weight
        if first is None or weight is None or not math.isclose(float(first), weight, abs_tol=1e-9):
            raise ValueError(
                f"row {i}: column 'pool_main_weight' ({weight}) differs from the first "
                f"probability in 'pool' ({pool})"
            )


def to_table(rows: list[dict] | pd.DataFrame) -> pa.Table:
    """Validate rows against RESULT_SCHEMA and return them as an Arrow table.

    Raises ValueError naming the row and column of the first problem: a missing or unknown
    column, a value of the wrong type, a null in a non-null column, an accuracy outside [0, 1],
    KD fields that disagree with `kd`, or a `pool_main_weight` that is not the pool's first weight.
    """
    records = _records(rows)
    if not records:
        raise ValueError("no rows to write")
    _check_column_names(records)
    arrays = []
    for field in RESULT_SCHEMA:
        values = _column_values(field, records)
        try:
            arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as err:
            raise ValueError(f"column {field.name!r}: {err}") from None
    table = pa.Table.from_arrays(arrays, schema=RESULT_SCHEMA)
    _check_semantics(table)
    return table


def _compatible(actual: pa.DataType, expected: pa.Field) -> bool:
    """Same type, or one that reads back as it: pandas writes large_string, ns timestamps, and
    type `null` for a column that holds only None."""
    if pa.types.is_null(actual):
        return expected.nullable
    expected = expected.type
    if pa.types.is_string(expected):
        return pa.types.is_string(actual) or pa.types.is_large_string(actual)
    if pa.types.is_timestamp(expected):
        return pa.types.is_timestamp(actual) and actual.tz in ("UTC", "+00:00", "Etc/UTC")
    return actual.equals(expected)


def schema_problem(schema: pa.Schema) -> str | None:
    """What makes a file's schema unreadable as result rows (None when it is fine).

    Extra columns are tolerated so that a newer writer's files stay readable.
    """
    for field in RESULT_SCHEMA:
        index = schema.get_field_index(field.name)
        if index < 0:
            return f"column {field.name!r} is missing"
        if not _compatible(schema.field(index).type, field):
            return f"column {field.name!r} has type {schema.field(index).type}, expected {field.type}"
    return None
