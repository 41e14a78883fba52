"""Sweep-file parsing: every kind of bad file gets its error with its place; good files expand right."""

from __future__ import annotations

import re

import pytest
import yaml

from raydd.core.pool import PoolSpec
from raydd.spec import SpecError, SweepSpec, TrialPoint, kd_mode, kd_word, load_spec, parse_spec

GOOD = """\
name: small
storage: ./runs
dataset:
  name: digits
  val_size: 0.2
distill:
  method: dc
  iterations: 7
  batch_real: 16
grid:
  ipc: [1, 10]
  pool:
    - {archs: [ConvNet], probabilities: [1.0]}
    - {main: ConvNet, others: [ConvNetW64, ConvNetD2], main_weight: 0.9}
  seed: [0, 1]
evaluation:
  students: [ConvNet, MLP, LeNet]
  teacher: ConvNet
  kd: [off, on]
  temperatures: [1, 4]
  seeds: 2
  epochs: 20
resources:
  trial: {cpu: 1, gpu: 0}
  evaluators: {count: 2, cpu: 0.5, gpu: 0}
"""


def good_raw() -> dict:
    return yaml.safe_load(GOOD)


def problems_of(raw: dict) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(raw)
    return caught.value.problems


def with_sections(snippet: str) -> dict:
    """The good file with the top-level sections of `snippet` replacing its own."""
    raw = good_raw()
    raw.update(yaml.safe_load(snippet))
    return raw


BAD = [
    # unknown keys, with suggestions
    ("distill: {method: dc, lr_imgg: 0.1}", "distill.lr_imgg: unknown setting; did you mean lr_img?"),
    ("resorces: {}", "resorces: unknown setting; did you mean resources?"),
    ("grid: {ipc: [1], dataset: [digits]}", "grid.dataset: unknown setting"),
    ("evaluation: {students: [MLP], epchs: 3}", "evaluation.epchs: unknown setting; did you mean epochs?"),
    ("resources: {evaluators: {count: 2, gpus: 1}}", "resources.evaluators.gpus: unknown setting; did you mean gpu?"),
    ("grid: {pool: [{archs: [ConvNet], probs: [1.0]}]}", "grid.pool[0].probs: unknown setting; did you mean probabilities?"),
    # grid axes
    ("grid: {ipc: [1, 0]}", "grid.ipc[1]: must be an integer >= 1, got 0"),
    ("grid: {ipc: []}", "grid.ipc: is empty"),
    ("grid: {ipc: 10}", "grid.ipc: must be a list of values"),
    ("grid: {ipc: [1, 1]}", "grid.ipc[1]: duplicate of grid.ipc[0]"),
    ("{distill: {}, grid: {method: [dcc]}}", "grid.method[0]: unknown distillation method 'dcc'; known: dc, dsa, dm"),
    ("grid: {lr_img: [x]}", "grid.lr_img[0]: must be a number or null, got 'x'"),
    ("grid: {seed: [-1]}", "grid.seed[0]: must be an integer >= 0, got -1"),
    ("grid: {distance: [l3]}", "grid.distance[0]: unknown gradient distance 'l3'"),
    ("grid: [1, 10]", "grid: must be a mapping of settings"),
    ("{distill: {ipc: 1}, grid: {ipc: [10]}}", "grid.ipc: also set in distill.ipc; set it in one place"),
    ("grid: {ipc: [10], outer_loop: [null, 10]}", "resolve to the same distillation"),
    ("grid: {ipc: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], seed: " + str(list(range(1000))) + "}",
     "grid: has 11000 points"),
    # distill fields
    ("distill: {momentum_img: 1.5}", "distill.momentum_img: must lie in [0, 1), got 1.5"),
    ("distill: {iterations: ten}", "distill.iterations: must be an integer, got 'ten'"),
    ("distill: {init: zeros}", "distill.init: unknown init 'zeros'"),
    ("distill: [dc]", "distill: must be a mapping of settings"),
    ("distill: {compile: please}", "distill.compile: must be true or false, got 'please'"),
    # pools
    ("grid: {pool: [{archs: [ConvNet, LeNet], probabilities: [0.5, 0.4]}]}",
     "grid.pool[0]: pool probabilities sum to 0.9, not 1 (ConvNet=0.5, LeNet=0.4)"),
    ("grid: {pool: [{archs: [ConvNet, LeNet], probabilities: [1.0]}]}",
     "grid.pool[0]: pool has 2 architectures but 1 probabilities; they must align"),
    ("grid: {pool: [{archs: [ConvNet, LeNett]}]}", "grid.pool[0].archs[1]: unknown architecture 'LeNett'; known:"),
    ("grid: {pool: [{archs: [ConvNet, ConvNet]}]}", "grid.pool[0].archs[1]: duplicate of grid.pool[0].archs[0]"),
    ("grid: {pool: [{archs: []}]}", "grid.pool[0].archs: is empty"),
    ("grid: {pool: [{archs: [ConvNet, LeNet], probabilities: [1.1, -0.1]}]}",
     "grid.pool[0]: pool entry 'LeNet' has weight -0.1; weights must be finite and >= 0"),
    ("grid: {pool: [{archs: [ConvNet, LeNet], probabilities: [0.5, x]}]}",
     "grid.pool[0].probabilities[1]: must be a number, got 'x'"),
    ("grid: {pool: [{archs: [ConvNet, LeNet], probabilities: [0, 0], normalize: true}]}",
     "grid.pool[0]: pool weights are all zero"),
    ("grid: {pool: [{archs: [ConvNet], warmup: -1}]}", "grid.pool[0]: pool warmup must be an integer >= 0, got -1"),
    ("grid: {pool: [{archs: [ConvNet], normalize: maybe}]}", "grid.pool[0].normalize: must be true or false"),
    ("grid: {pool: [{main: ConvNet, archs: [LeNet]}]}", "grid.pool[0]: give either archs/probabilities or main"),
    ("grid: {pool: [{main: ConvNet, others: [LeNet]}]}", "grid.pool[0].main_weight: missing"),
    ("grid: {pool: [{main: ConvNet, others: [LeNet], main_weight: 1.5}]}",
     "grid.pool[0]: the main architecture's weight must lie in [0, 1], got 1.5"),
    ("grid: {pool: [{main: ConvNet, others: [ConvNet], main_weight: 0.5}]}",
     "grid.pool[0]: architecture 'ConvNet' appears twice in the pool"),
    ("grid: {pool: [{main: VGG12, others: [], main_weight: 1}]}", "grid.pool[0].main: unknown architecture 'VGG12'"),
    ("grid: {pool: [{probabilities: [1.0]}]}", "grid.pool[0].archs: missing (required)"),
    ("grid: {pool: ['ConvNet=abc']}", "grid.pool[0]: pool entry 'ConvNet=abc': weight 'abc' is not a number"),
    ("grid: {pool: [7]}", "grid.pool[0]: must be a pool mapping"),
    ("grid: {pool: ['ConvNet', {archs: [ConvNet]}]}", "grid.pool[1]: duplicate of grid.pool[0]"),
    # top level, name, storage
    ("name: my sweep", "name: 'my sweep' is not filesystem-safe"),
    ("name: ../up", "name: '../up' is not filesystem-safe"),
    ("storage: http://example.com/x", "storage: unsupported storage scheme 'http'"),
    ("storage: s3:///prefix", "storage: 's3:///prefix' names no bucket"),
    ("storage: 3", "storage: must be a local path or s3:// / gs:// location"),
    # dataset
    ("dataset: {name: cifar11}", "dataset.name: unknown dataset 'cifar11'; known: digits"),
    ("dataset: {name: digits, val_size: 1.5}", "dataset.val_size: val_size fraction must be in [0, 1), got 1.5"),
    ("dataset: {name: digits, val_size: -3}", "dataset.val_size: val_size count must be >= 0, got -3"),
    ("dataset: {name: digits, val_size: 0}", "dataset.val_size: is 0, but a sweep needs a validation split"),
    ("dataset: {name: digits, val_size: ten}", "dataset.val_size: val_size must be a fraction in [0, 1) or an int"),
    ("dataset: {name: digits, download: please}", "dataset.download: must be true or false, got 'please'"),
    ("dataset: {val_size: 0.1}", "dataset.name: missing (required)"),
    ("dataset: {name: cifar10, download: true}", "dataset.download: true needs dataset.data_dir"),
    ("dataset: {name: cifar10, data_dir: ''}", "dataset.data_dir: must be a non-empty string"),
    # evaluation
    ("evaluation: {students: [ConvNet, MLP, LeNet, VGG12]}",
     "evaluation.students[3]: unknown architecture 'VGG12'; known:"),
    ("evaluation: {students: []}", "evaluation.students: is empty"),
    ("evaluation: {students: [MLP, MLP]}", "evaluation.students[1]: duplicate of evaluation.students[0]"),
    ("evaluation: {students: [MLP], kd: [maybe]}", "evaluation.kd[0]: must be off or on, got 'maybe'"),
    ("evaluation: {students: [MLP], kd: [off, false]}", "evaluation.kd[1]: duplicate of evaluation.kd[0]"),
    ("evaluation: {students: [MLP], seeds: 0}", "evaluation.seeds: must be a positive integer, got 0"),
    ("evaluation: {students: [MLP], augment: nonee}", "evaluation.augment: must be one of none, dc, dsa"),
    ("evaluation: {students: [MLP], lr: -1}", "evaluation.lr: must be > 0, got -1"),
    ("evaluation: {students: [MLP], temperatures: 4}", "evaluation.temperatures: must be a list of numbers"),
    ("evaluation: {students: [MLP], temperatures: [0]}", "evaluation.temperatures: must be a non-empty list of values > 0"),
    ("evaluation: {students: [MLP], teacher: Conv}", "evaluation.teacher: unknown architecture 'Conv'"),
    ("evaluation: {students: [MLP], epochs: 0}", "evaluation.epochs: must be >= 1"),
    # resources
    ("resources: {evaluators: {count: 0}}", "resources.evaluators.count: must be >= 1"),
    ("resources: {trial: {gpu: 1.5}}", "resources.trial.gpu: a fraction above 1 GPU cannot be scheduled"),
    ("resources: {trial: {cpu: 0}}", "resources.trial.cpu: must be > 0, got 0"),
    ("resources: {evaluators: {gpu: -0.5}}", "resources.evaluators.gpu: must be >= 0, got -0.5"),
    ("resources: {max_failures: -1}", "resources.max_failures: must be an integer >= 0, got -1"),
    ("resources: {max_concurrent_trials: 0}", "resources.max_concurrent_trials: must be a positive integer, got 0"),
    ("resources: {checkpoint_every: 2.5}", "resources.checkpoint_every: must be a positive integer, got 2.5"),
    ("resources: {trial: x}", "resources.trial: must be a mapping of settings, got 'x'"),
]


@pytest.mark.parametrize("snippet, expected", BAD, ids=[b[1][:50] for b in BAD])
def test_every_kind_of_bad_file_gets_its_error(snippet: str, expected: str) -> None:
    problems = problems_of(with_sections(snippet))
    assert any(expected in p for p in problems), problems


def test_the_good_file_has_no_problems() -> None:
    assert isinstance(parse_spec(good_raw()), SweepSpec)


def problems_on_their_lines(path, text: str, expected: dict[str, str]) -> SpecError:
    """Load `text` from `path`: exactly the `expected` problems (by their start), each naming the
    line that holds its text."""
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    lines = text.splitlines()
    assert len(caught.value.problems) == len(expected), caught.value.problems
    for start, line_text in expected.items():
        problem = next(p for p in caught.value.problems if p.startswith(start))
        assert line_text in lines[int(re.search(r"\(line (\d+)\)$", problem).group(1)) - 1]
    return caught.value


def test_every_problem_is_reported_at_once_with_its_line(tmp_path) -> None:
    text = (GOOD.replace("iterations: 7", "iterations: 7\n  lr_imgg: 0.1")
            .replace("ipc: [1, 10]", "ipc: [1, 0]")
            .replace("students: [ConvNet, MLP, LeNet]", "students: [ConvNet, MLP, LeNet, VGG12]")
            .replace("count: 2", "count: 0")
            .replace("name: small", "name: small one"))
    error = problems_on_their_lines(tmp_path / "bad.yaml", text, {
        "name: ": "name: small one",
        "distill.lr_imgg: unknown setting": "lr_imgg: 0.1",
        "grid.ipc[1]: must be an integer >= 1, got 0": "ipc: [1, 0]",
        "evaluation.students[3]: unknown architecture 'VGG12'": "students: [ConvNet, MLP, LeNet, VGG12]",
        "resources.evaluators.count: must be >= 1": "count: 0",
    })
    text_lines = str(error).splitlines()
    assert text_lines[0] == f"{tmp_path / 'bad.yaml'}: 5 problems"
    assert [t.strip() for t in text_lines[1:]] == error.problems  # one problem per line
    assert isinstance(error, ValueError)


def test_a_missing_file_is_a_spec_error(tmp_path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "absent.yaml")
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(tmp_path)


def test_yaml_syntax_errors_name_their_line(tmp_path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ndataset: digits\ngrid:\n  ipc: [1, 10\nevaluation: {students: [MLP]}\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    (problem,) = caught.value.problems
    assert re.match(r"line \d+, column \d+: invalid YAML: ", problem), problem


@pytest.mark.parametrize("text, expected", [
    ("", "the file is empty"),
    ("- a\n- b\n", "(file): must be a mapping of settings"),
    ("name: x\n", "dataset: missing (required)"),
])
def test_files_of_the_wrong_shape(tmp_path, text: str, expected: str) -> None:
    path = tmp_path / "shape.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert any(expected in p for p in caught.value.problems), caught.value.problems


def test_a_good_file_expands_to_its_grid_with_resolved_configs() -> None:
    spec = parse_spec(good_raw())
    assert len(spec.points) == 2 * 2 * 2
    assert [p.axes["ipc"] for p in spec.points] == [1, 1, 1, 1, 10, 10, 10, 10]  # file order, last axis fastest
    assert [p.axes["seed"] for p in spec.points[:2]] == [0, 1]
    for point in spec.points:
        cfg = point.config
        assert (cfg.dataset, cfg.method, cfg.iterations, cfg.settings.batch_real) == ("digits", "dc", 7, 16)
        assert (cfg.ipc, cfg.seed, cfg.pool.name) == (point.axes["ipc"], point.axes["seed"], point.axes["pool"])
        assert (cfg.settings.outer_loop, cfg.settings.inner_loop) == ((1, 1) if cfg.ipc == 1 else (10, 50))  # DC's table
    pools = {p.config.pool for p in spec.points}
    assert pools == {PoolSpec.single("ConvNet"), PoolSpec.main_share("ConvNet", ["ConvNetW64", "ConvNetD2"], 0.9)}
    assert spec.dataset.val_size == 0.2 and spec.dataset.name == "digits"
    ev = spec.evaluation
    assert ev.students == ("ConvNet", "MLP", "LeNet") and ev.kd_modes == (False, True) and ev.seeds == 2
    assert (ev.config.epochs, ev.config.temperatures, ev.teacher) == (20, (1.0, 4.0), "ConvNet")
    r = spec.resources
    assert (r.trial_cpu, r.evaluators, r.evaluator_cpu, r.max_failures, r.checkpoint_every) == (1, 2, 0.5, 2, 25)
    assert spec.source == good_raw()


def test_compile_is_a_distill_setting_every_point_gets() -> None:
    raw = good_raw()
    raw["distill"]["compile"] = True
    assert all(p.config.settings.compile for p in parse_spec(raw).points)
    assert not any(p.config.settings.compile for p in parse_spec(good_raw()).points)


def test_a_setting_left_null_in_its_section_may_become_a_grid_axis() -> None:
    """So that an override (`distill.lr_img=null 'grid.lr_img=[...]'`) can turn a file's fixed
    setting into an axis without editing the file; a set value still conflicts."""
    raw = good_raw()
    raw["distill"]["lr_img"] = None
    raw["grid"]["lr_img"] = [0.1, 1.0]
    assert {p.config.lr_img for p in parse_spec(raw).points} == {0.1, 1.0}
    raw["distill"]["lr_img"] = 0.5
    assert problems_of(raw) == ["grid.lr_img: also set in distill.lr_img; set it in one place (or to null there)"]


def test_defaults_fill_what_the_file_leaves_out() -> None:
    spec = parse_spec({"name": "tiny", "dataset": "digits", "evaluation": {"students": ["MLP"]}})
    (point,) = spec.points
    assert point.trial_key == "base" and point.axes == {}
    assert point.config.pool == PoolSpec.single("ConvNet")
    assert spec.storage == "./runs" and spec.evaluation.kd_modes == (False, True) and spec.evaluation.seeds == 5
    assert spec.resources.evaluators == 1 and spec.resources.max_concurrent_trials is None


def pool_of(entry) -> PoolSpec:
    raw = with_sections(yaml.safe_dump({"grid": {"pool": [entry]}}))
    (point,) = parse_spec(raw).points
    return point.config.pool


def test_main_share_pool_gives_the_rest_in_equal_parts() -> None:
    pool = pool_of({"main": "ConvNet", "others": ["ConvNetW64", "ConvNetD2", "ConvNetAL"], "main_weight": 0.7})
    assert pool.archs == ("ConvNet", "ConvNetW64", "ConvNetD2", "ConvNetAL")
    assert pool.probs[0] == pytest.approx(0.7)
    assert pool.probs[1:] == pytest.approx([0.1, 0.1, 0.1])
    assert pool_of({"main": "LeNet"}) == PoolSpec.single("LeNet")


def test_listed_pool_normalises_on_request_and_defaults_to_equal_shares() -> None:
    pool = pool_of({"archs": ["ConvNet", "LeNet", "MLP"], "probabilities": [2, 1, 1], "normalize": True,
                    "warmup": 5})
    assert pool.probs == pytest.approx([0.5, 0.25, 0.25]) and pool.warmup == 5
    assert pool_of({"archs": ["ConvNet", "LeNet"]}).probs == pytest.approx([0.5, 0.5])
    assert pool_of("ConvNet=0.75,LeNet=0.25").probs == pytest.approx([0.75, 0.25])


def test_trial_keys_are_readable_safe_unique_and_stable() -> None:
    spec = parse_spec(good_raw())
    keys = [p.trial_key for p in spec.points]
    assert keys[0] == "ipc1-pool_ConvNet-seed0"
    assert "ipc10-pool_ConvNet0.9+ConvNetW64+ConvNetD2-seed1" in keys
    assert len(set(keys)) == len(keys)
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", k) for k in keys)
    assert keys == [p.trial_key for p in parse_spec(good_raw()).points]


def test_trial_keys_spell_out_other_pools_values_and_warmup() -> None:
    raw = with_sections("""
grid:
  pool:
    - {archs: [ConvNet, LeNet, AlexNet, VGG11], probabilities: [0.25, 0.25, 0.25, 0.25]}
    - {archs: [VGG11, ConvNet], probabilities: [0.3, 0.7], warmup: 500}
    - {main: VGG11, others: [ConvNet, LeNet], main_weight: 0.8}
  lr_img: [0.05]
  init: [real]
""")
    keys = [p.trial_key for p in parse_spec(raw).points]
    assert keys == [
        "pool_ConvNet+LeNet+AlexNet+VGG11-lr_img0.05-init_real",
        "pool_VGG11_0.3+ConvNet_warm500-lr_img0.05-init_real",  # ConvNet: the rest, 0.7
        "pool_VGG11_0.8+ConvNet+LeNet-lr_img0.05-init_real",
    ]


def test_long_or_colliding_keys_get_a_hash_and_stay_unique() -> None:
    many = ["ConvNet", *[f"ConvNet{v}" for v in ("W32", "W64", "W256", "D1", "D2", "D4", "AS", "AL", "NN", "BN",
                                                    "GN", "MP", "NP")]]
    raw = with_sections(yaml.safe_dump({"grid": {
        "pool": [{"main": "ConvNet", "others": many[1:], "main_weight": 0.9},
                 {"main": "ConvNet", "others": many[1:], "main_weight": 0.8}],
        "dsa_strategy": ["crop/flip", "crop_flip"]}}))
    keys = [p.trial_key for p in parse_spec(raw).points]
    assert len(set(keys)) == 4
    assert all(len(k) <= 96 and re.fullmatch(r"[A-Za-z0-9._+-]+", k) for k in keys)
    assert all(re.search(r"-[0-9a-f]{8}$", k) for k in keys), keys


def test_storage_override(tmp_path) -> None:
    spec = parse_spec(good_raw())
    moved = spec.with_storage("s3://bucket/prefix")
    assert moved.storage == "s3://bucket/prefix" and moved.points == spec.points and spec.storage == "./runs"
    with pytest.raises(SpecError, match=r"--storage: unsupported storage scheme 'ftp'"):
        spec.with_storage("ftp://host/x")
    path = tmp_path / "s.yaml"
    path.write_text(GOOD.replace("storage: ./runs", "storage: nfs://nowhere"))
    assert load_spec(path, storage="gs://b/p").storage == "gs://b/p"  # the override replaces a bad value
    with pytest.raises(SpecError, match=r"--storage: 's3://' names no bucket"):
        load_spec(path, storage="s3://")


def test_describe_is_the_resolved_description_and_the_experiment_hash_ignores_where_and_how() -> None:
    first, second = parse_spec(good_raw()), parse_spec(good_raw())
    described = first.describe()
    assert [p["trial_key"] for p in described["points"]] == [p.trial_key for p in first.points]
    point = described["points"][-1]
    assert point["config"]["outer_loop"] == 10 and point["config"]["pool"]["archs"]["ConvNet"] == pytest.approx(0.9)
    assert described["evaluation"]["config"]["epochs"] == 20 and described["evaluation"]["kd_modes"] == [False, True]
    assert described["resources"]["evaluators"] == 2
    other = with_sections("evaluation: {students: [MLP], epochs: null}")
    assert parse_spec(other).describe()["evaluation"]["config"]["epochs"] == 300  # resolved
    assert first.experiment_hash() == second.experiment_hash() and len(first.experiment_hash()) == 64
    moved = with_sections("resources: {evaluators: {count: 1}}")
    moved["storage"] = "s3://elsewhere/runs"
    assert parse_spec(moved).experiment_hash() == first.experiment_hash()
    assert parse_spec(other).experiment_hash() != first.experiment_hash()


def test_a_point_survives_its_plain_values() -> None:
    """Tune's param_space holds points as plain values; the trial rebuilds the very same point."""
    for point in parse_spec(good_raw()).points:
        assert TrialPoint.from_dict(point.to_dict()) == point


def test_val_size_takes_a_count_as_the_core_does() -> None:
    assert parse_spec(with_sections("dataset: {name: digits, val_size: 50}")).dataset.val_size == 50


def test_kd_words() -> None:
    assert [kd_mode(w) for w in ("off", "on", "OFF", "true", False, True)] == [False, True, False, True, False, True]
    assert (kd_word(False), kd_word(True)) == ("off", "on")
    with pytest.raises(ValueError, match="must be off or on, got 'maybe'"):
        kd_mode("maybe")


def test_values_that_differ_only_in_unsafe_characters_get_distinct_keys() -> None:
    raw = with_sections("grid: {dsa_strategy: [crop/flip, crop_flip, crop_flip_scale]}")
    keys = [p.trial_key for p in parse_spec(raw).points]
    assert keys[2] == "dsa_strategy_crop_flip_scale"
    assert keys[0] != keys[1] and all(re.fullmatch(r"dsa_strategy_crop_flip-[0-9a-f]{8}", k) for k in keys[:2])


def test_a_fixed_pool_in_distill_applies_to_every_point() -> None:
    raw = with_sections("""
distill: {pool: {main: ConvNet, others: [ConvNetW64], main_weight: 0.75}}
grid: {ipc: [1, 10]}
""")
    spec = parse_spec(raw)
    assert [p.trial_key for p in spec.points] == ["ipc1", "ipc10"]
    assert all(p.config.pool.probs == pytest.approx((0.75, 0.25)) for p in spec.points)


def test_whole_config_errors_name_the_failing_points(monkeypatch) -> None:
    """A rule spanning several fields is reported once: at `distill` when every point breaks it."""
    import raydd.spec.grid as grid_module

    class Strict(grid_module.DistillConfig):
        def __init__(self, **keys) -> None:
            super().__init__(**keys)
            if self.iterations == 7 and self.settings.batch_real == 16:
                raise ValueError("7 iterations of 16 images are refused")
            if self.ipc == 10 and self.seed == 1:
                raise ValueError("ipc 10 with seed 1 is refused")

    monkeypatch.setattr(grid_module, "DistillConfig", Strict)  # where grid points are built
    problems = problems_of(good_raw())
    assert problems == ["distill: 7 iterations of 16 images are refused"]
    raw = good_raw()
    raw["distill"]["iterations"] = 8
    problems = problems_of(raw)
    assert problems == ["grid point ipc10-pool_ConvNet-seed1: ipc 10 with seed 1 is refused (and 1 more points)"]


def test_baselines_add_one_random_real_set_per_ipc_and_seed_of_the_grid() -> None:
    spec = parse_spec({**good_raw(), "baselines": ["random_real"]})
    assert [p.trial_key for p in spec.baselines] == [
        "random_real-ipc1-seed0", "random_real-ipc1-seed1", "random_real-ipc10-seed0", "random_real-ipc10-seed1"]
    assert all(p.baseline == "random_real" for p in spec.baselines) and spec.evaluated == spec.points + spec.baselines
    assert [(p.config.ipc, p.config.seed) for p in spec.baselines] == [(1, 0), (1, 1), (10, 0), (10, 1)]
    assert TrialPoint.from_dict(spec.baselines[0].to_dict()) == spec.baselines[0]
    without = parse_spec(good_raw())
    assert without.baselines == () and "baselines" not in without.describe()  # old sweeps keep their hash
    assert spec.experiment_hash() != without.experiment_hash()


@pytest.mark.parametrize("value, expected", [
    (["random"], r"baselines\[0\]: unknown baseline 'random'; known: random_real"),
    ("random_real", r"baselines: must be a list"),
    (["random_real", "random_real"], r"baselines"),
])
def test_bad_baselines_are_refused_with_their_place(value, expected) -> None:
    with pytest.raises(SpecError, match=expected):
        parse_spec({**good_raw(), "baselines": value})


# ---- evaluation axes in the grid ------------------------------------------------------------------
def with_eval_axes(**axes) -> dict:
    """The good file with evaluation axes added to its grid (and taken out of `evaluation:`)."""
    raw = good_raw()
    raw["grid"].update(axes)
    for axis in axes:
        raw["evaluation"].pop(axis, None)
    return raw


def test_an_evaluation_axis_multiplies_settings_never_distillations() -> None:
    plain, spec = parse_spec(good_raw()), parse_spec(with_eval_axes(augment=["none", "dsa"]))
    assert [p.trial_key for p in spec.points] == [p.trial_key for p in plain.points]  # the same 8 sets
    assert [s.eval_key for s in spec.evaluation.settings] == ["augment_none", "augment_dsa"]
    none, dsa = (s.config for s in spec.evaluation.settings)
    assert (none.augment, dsa.augment) == ("none", "dsa")
    assert none.epochs == dsa.epochs == 20 and none.temperatures == (1.0, 4.0)  # the rest from evaluation:
    assert spec.evaluation.config == plain.evaluation.config
    assert [s.teacher_key for s in spec.evaluation.settings] == ["augment_none", "augment_dsa"]  # a teacher each


def test_kd_candidate_axes_take_one_candidate_or_a_list_and_share_the_teacher() -> None:
    spec = parse_spec(with_eval_axes(temperatures=[1, [2, 4]], alphas=[0.5, 0.9]))
    settings = spec.evaluation.settings
    assert [s.eval_key for s in settings] == ["temperatures1-alphas0.5", "temperatures1-alphas0.9",
                                              "temperatures2+4-alphas0.5", "temperatures2+4-alphas0.9"]
    assert [s.config.temperatures for s in settings] == [(1.0,), (1.0,), (2.0, 4.0), (2.0, 4.0)]
    assert {s.teacher_key for s in settings} == {""}  # KD candidates do not change how the teacher trains


def test_settings_equal_on_the_teachers_axes_share_its_teacher() -> None:
    spec = parse_spec(with_eval_axes(augment=["none", "dsa"], alphas=[0.5, 0.9], lr=[0.01, 0.02]))
    teachers = [s.teacher_key for s in spec.evaluation.settings]
    assert len(teachers) == 8 and len(set(teachers)) == 4
    assert teachers[:3] == ["augment_none-lr0.01", "augment_none-lr0.02", "augment_none-lr0.01"]
    # (settings 0 and 2 differ in alphas alone: one teacher)


def test_without_evaluation_axes_the_sweep_describes_itself_as_before() -> None:
    spec = parse_spec(good_raw())
    assert spec.evaluation.grid == () and [s.eval_key for s in spec.evaluation.settings] == [""]
    assert spec.evaluation.settings[0].config == spec.evaluation.config
    assert "grid" not in spec.describe()["evaluation"]  # so an existing sweep keeps its experiment hash
    with_axis = parse_spec(with_eval_axes(augment=["none", "dsa"]))
    assert with_axis.describe()["evaluation"]["grid"][1]["config"]["augment"] == "dsa"
    assert with_axis.experiment_hash() != spec.experiment_hash()


EVAL_AXIS_BAD = [
    ("grid: {ipc: [1], augment: [none, dsa]}", "grid.augment: also set in evaluation.augment; set it in one place",
     {"augment": "dsa"}),
    ("grid: {ipc: [1], epochs: [5, 10]}", "grid.epochs: also set in evaluation.epochs; set it in one place",
     {"epochs": 20}),
    ("grid: {augment: [none, flip]}", "grid.augment[1]: must be one of none, dc, dsa, got 'flip'", {}),
    ("grid: {lr: [0.01, -1]}", "grid.lr[1]: must be > 0, got -1.0", {}),
    ("grid: {temperatures: [1, [2, x]]}", "grid.temperatures[1]: must be a list of numbers, got [2, 'x']", {}),
    ("grid: {temperatures: [0]}", "grid.temperatures[0]: must be a non-empty list of values > 0", {}),
    ("grid: {alphas: [0.5, [0.5]]}", "grid.alphas[1]: duplicate of grid.alphas[0]", {}),
    ("grid: {teacher: [ConvNet, VGG12]}", "grid.teacher[1]: unknown architecture 'VGG12'", {}),
    ("grid: {augment: dsa}", "grid.augment: must be a list of values (one per evaluation setting)", {}),
    ("grid: {lr: []}", "grid.lr: is empty", {}),
    ("grid: {eval_batch_size: [64, 128]}", "grid.eval_batch_size: unknown setting", {}),
    ("grid: {epochs: [null, 300]}", "grid: evaluation points epochs_null and epochs300 resolve to the same evaluation",
     {}),
    ("grid: {ipc: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], lr: " + str([0.001 * (i + 1) for i in range(1000)]) + "}",
     "grid: has 11 set(s) x 1000 evaluation settings", {}),
]


@pytest.mark.parametrize("snippet, expected, evaluation", EVAL_AXIS_BAD, ids=[b[1][:50] for b in EVAL_AXIS_BAD])
def test_bad_evaluation_axes_get_their_error_and_place(snippet: str, expected: str, evaluation: dict) -> None:
    raw = with_sections(snippet)
    raw["evaluation"] = {"students": ["MLP"], **evaluation}
    assert any(expected in p for p in problems_of(raw)), problems_of(raw)


def test_every_evaluation_axis_problem_is_reported_at_once_with_its_line(tmp_path) -> None:
    text = (GOOD.replace("seed: [0, 1]", "seed: [0, 1]\n  augment: [none, flip]\n  epochs: [5, 10]\n  lr: [0]")
            .replace("ipc: [1, 10]", "ipc: [1, 0]"))
    problems_on_their_lines(tmp_path / "bad.yaml", text, {
        "grid.ipc[1]: must be an integer >= 1": "ipc: [1, 0]",
        "grid.augment[1]: must be one of none, dc, dsa": "augment: [none, flip]",
        "grid.epochs: also set in evaluation.epochs": "epochs: [5, 10]",
        "grid.lr[0]: must be > 0": "lr: [0]",
    })


def test_evaluation_learned_lr_is_a_checked_key_recorded_only_when_off() -> None:
    raw = good_raw()
    raw["evaluation"]["learned_lr"] = False
    off = parse_spec(raw)
    assert off.evaluation.config.learned_lr is False and off.evaluation.config.to_dict()["learned_lr"] is False
    plain = parse_spec(good_raw())
    assert "learned_lr" not in plain.evaluation.config.to_dict()  # sweeps written before it keep their hash
    raw["evaluation"]["learned_lr"] = True
    assert parse_spec(raw).experiment_hash() == plain.experiment_hash() != off.experiment_hash()
    raw["evaluation"]["learned_lr"] = "no"
    assert problems_of(raw) == ["evaluation.learned_lr: must be true or false, got 'no'"]
