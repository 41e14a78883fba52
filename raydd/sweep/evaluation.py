"""Evaluation jobs, their result rows, and the actor that runs them.

One job is (synthetic set, evaluation setting, student, kd, eval seed); it carries the resolved grid
point its set was distilled from and the resolved evaluation setting, so its row needs no look-up.
Its rows go to one Parquet file named after the job (`results/<job>.parquet`), written atomically
and only if the job is not done: a job that is retried after its actor died, or dispatched again on
resume, never writes a row twice. A job is done when its file is readable and holds exactly the
job's row, or when a compacted file holds its row (`raydd results compact` merged its file away);
a file that is not (truncated, corrupt, another job's rows) is moved aside to `quarantine/`, never
deleted, and the job runs again.

The driver reads the states of every job once, before a run (`job_states`): jobs already done are
never dispatched, and bad files are moved aside. The actor looks at a job's file once more, just
before the job's work (a call retried after its actor died may find its rows already written).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone


from raydd import storage
from raydd.core.datasets import DATASETS
from raydd.spec import EvalPoint, EvaluationSpec, SweepSpec, TrialPoint, kd_word
from raydd.spec.grid import distill_key
from raydd.sweep import artifacts, regimes
from raydd.core.devices import device_label
from raydd.results.rows import node_name
from raydd.sweep.context import SweepContext, worker_device
from raydd.sweep.layout import SweepPaths


@dataclass(frozen=True)
class EvalJob:
    point: TrialPoint  # the grid point whose synthetic set is evaluated
    student: str
    kd: bool
    seed: int
    setting: EvalPoint  # how the student is trained (one of EvaluationSpec.settings)

    @property
    def trial_key(self) -> str:
        return self.point.trial_key

    @property
    def eval_key(self) -> str | None:
        """The evaluation setting's key as rows hold it: None for a grid without evaluation axes."""
        return self.setting.eval_key or None

    @property
    def name(self) -> str:
        """`<trial key>[__<eval key>]__<student>__kd-<on|off>__seed<k>`; without evaluation axes,
        the name jobs had before such axes existed, so older sweeps resume unchanged."""
        parts = [self.trial_key, self.setting.eval_key, self.student, f"kd-{kd_word(self.kd)}", f"seed{self.seed}"]
        return "__".join(part for part in parts if part)

    @property
    def key(self) -> tuple[str, str | None, str, bool, int]:
        """The job's row, as the values of its JOB_COLUMNS."""
        return self.trial_key, self.eval_key, self.student, self.kd, self.seed


JOB_COLUMNS = ("trial_key", "eval_key", "student", "kd", "eval_seed")  # which job a row belongs to


def jobs_for(point: TrialPoint, evaluation: EvaluationSpec) -> list[EvalJob]:
    """Every job of one set, KD-off first (they need no teacher, so start at once); the label
    regimes and the whole-dataset baseline leave some out (`raydd.sweep.regimes`)."""
    return [
        EvalJob(point, student, kd, seed, setting)
        for kd in sorted(evaluation.kd_modes)
        for setting in regimes.settings_for(point, evaluation.settings)
        if regimes.runs(point, setting, kd)
        for seed in range(evaluation.seeds_of(regimes.is_whole(point)))
        for student in evaluation.students
    ]


def stacking_pays(arch: str, job: EvalJob, trainings: int, device_type: str, num_classes: int) -> bool:
    """Whether `trainings` of `arch` on `job`'s set run faster as one stack (`speed.stack_pays`)."""
    from raydd.core.evaluate.speed import stack_pays

    images = None if regimes.is_whole(job.point) else job.point.config.ipc * num_classes
    batch = job.setting.config.batch_size if images is None else min(job.setting.config.batch_size, images)
    return stack_pays(arch, device_type, trainings, batch)


def job_groups(jobs: list[EvalJob], device_type: str, num_classes: int) -> list[list[EvalJob]]:
    """`jobs` as an evaluation actor runs them: the seeds of one (set, setting, student, kd) in one
    call where their trainings (with every KD candidate) run faster as one stack on `device_type`,
    each job alone otherwise; groups in the order of their first job."""
    alike: dict[tuple, list[EvalJob]] = {}
    for job in jobs:
        alike.setdefault((job.trial_key, job.setting.eval_key, job.student, job.kd), []).append(job)
    groups = []
    for members in alike.values():
        first = members[0]
        trainings = len(members) * (len(first.setting.config.candidates()) if first.kd else 1)
        if stacking_pays(first.student, first, trainings, device_type, num_classes):
            groups.append(members)
        else:
            groups.extend([job] for job in members)
    return groups


def all_jobs(spec: SweepSpec) -> list[EvalJob]:
    return [job for point in spec.evaluated for job in jobs_for(point, spec.evaluation)]


MISSING = "missing"


def job_state(location: str, job: EvalJob) -> str | None:
    """None when the file at `location` completes `job`; else why not: MISSING, or what the file is
    ("not a readable Parquet file (...)", ...)."""
    from raydd.results.store import BadResultFile, read_file

    if not storage.exists(location):
        return MISSING
    fs, path = storage.filesystem_for(location)
    try:
        table = read_file(path, fs)
    except BadResultFile as bad:
        return bad.problem
    keys = list(zip(*(table.column(c).to_pylist() for c in JOB_COLUMNS)))
    if keys != [job.key]:
        return f"not the result of job {job.name}: it holds {len(keys)} row(s) {keys[:2]}"
    return None


def set_aside(location: str, paths: SweepPaths) -> str:
    """Move a bad result file into the sweep's quarantine (kept as evidence); its new location."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = paths.quarantined(f"{location.rsplit('/', 1)[-1]}.{stamp}")
    storage.move(location, target)
    return target


def job_states(jobs: list[EvalJob], paths: SweepPaths) -> dict[str, str | None]:
    """Every job -> its `job_state` (one listing, then one read per present file), or None when a
    compacted file holds its row."""
    from raydd.results.compact import compacted_keys
    from raydd.results.store import is_compacted

    present = set(storage.list_names(paths.results))
    sweep = paths.root.rstrip("/").rsplit("/", 1)[-1]  # rows of other sweeps copied here are not its jobs
    compacted = (compacted_keys(paths.results, ("sweep", *JOB_COLUMNS)) if any(map(is_compacted, present))
                 else set())

    def state(job: EvalJob) -> str | None:
        if (sweep, *job.key) in compacted:
            return None
        if f"{job.name}.parquet" not in present:
            return MISSING
        return job_state(paths.result_file(job.name), job)

    return {job.name: state(job) for job in jobs}


def set_aside_bad_results(states: dict[str, str | None], paths: SweepPaths, echo) -> int:
    """Before a run: move every bad result file aside (saying so), so its job runs again."""
    moved = 0
    for name, state in states.items():
        if state not in (None, MISSING):
            location = paths.result_file(name)
            echo(f"[eval] {location} is {state}; moved to {set_aside(location, paths)}, its job runs again")
            moved += 1
    return moved


# ---- rows --------------------------------------------------------------------------------------
def record_rows(record, job: EvalJob, context: SweepContext, synset_meta: dict,
                computed_on: tuple[str, str], label_bytes: int | None = None,
                learned_lr: float | None = None) -> list[dict]:
    """The result row of one EvalRecord (`raydd.results.rows.result_rows`); `computed_on` is
    (device, node) as `device_label` and `node_name` give them; `label_bytes` the storage of the
    labels the student trained on (default: those of the job's set of ipc images per class);
    `learned_lr` the set's own lr its students trained at (an MTT set's), if any."""
    from raydd.core.evaluate.carried import with_carried_lr
    from raydd.results.rows import Setting, provenance, result_rows

    cfg = job.point.config
    evaluation = with_carried_lr(regimes.job_config(job.point, job.setting), learned_lr)
    recipe = {"sweep_hash": context.experiment_hash, "trial_key": job.trial_key,
              "axes": {**job.point.axes, **job.setting.axes}, "dataset": asdict(context.dataset),
              **({"baseline": job.point.baseline, "ipc": cfg.ipc, "seed": cfg.seed} if job.point.baseline
                 else {"distill": cfg.to_dict()}),
              **({"eval_key": job.eval_key} if job.eval_key else {}), "evaluation": evaluation.to_dict()}
    if label_bytes is None:
        label_bytes = _label_bytes(job, context)
    return result_rows(sweep=context.name, dataset=context.dataset.name,
                       set_=_set_columns(job.point, context.paths.synset(job.trial_key), synset_meta),
                       setting=Setting.of(evaluation, label_bytes, job.eval_key, learned_lr),
                       records=[record.row_fields()],
                       made_by=provenance(*computed_on), recipe=recipe)


def _label_bytes(job: EvalJob, context: SweepContext) -> int:
    from raydd.core.evaluate.labels import label_bytes

    info = DATASETS.get(context.dataset.name).info
    cfg = job.setting.config
    if regimes.is_whole(job.point):  # needs the split's size: the worker passes it
        raise ValueError("the label storage of a whole_dataset job needs the training split's size")
    return label_bytes(cfg.labels, job.point.config.ipc * info.num_classes, info, cfg.teacher)


def _set_columns(point: TrialPoint, synset_uri: str, synset_meta: dict) -> dict:
    """How the set was made: its method and pool, or, for a baseline, its name and no pool."""
    from raydd.results.rows import set_columns

    cfg = point.config
    whole = regimes.is_whole(point)  # the training split itself: no ipc, no seed, no artifact
    shared = {"trial_key": point.trial_key, "ipc": 0 if whole else cfg.ipc, "distill_seed": 0 if whole else cfg.seed,
              "synset_uri": synset_uri, "grid_png_uri": None if whole else storage.join(synset_uri, "grid.png"),
              "distill_seconds": float(synset_meta.get("wall_seconds") or 0.0)}
    if point.baseline is not None:
        return set_columns(method=point.baseline, **shared)
    return set_columns(method=cfg.method, pool=dict(zip(cfg.pool.archs, cfg.pool.probs)), pool_name=cfg.pool.name,
                       pool_warmup=cfg.pool.warmup, iterations=cfg.iterations, distill_key=distill_key(point.axes),
                       **shared)


def write_job_rows(rows: list[dict], location: str, state: str | None, paths: SweepPaths) -> None:
    """Write a job's `rows` as the Parquet file `location`, whose `job_state` was `state`: a bad
    file in the way is moved aside first.

    (Two copies of one job running at the same moment could both find it missing; each write is
    atomic and carries the whole job's rows under the same name, so a reader sees them once.)
    """
    from raydd.results import write_rows

    if state not in (None, MISSING):
        set_aside(location, paths)
    fs, path = storage.filesystem_for(location)
    directory, name = path.rsplit("/", 1)
    write_rows(rows, directory, name=name, filesystem=fs)


# ---- the actor ---------------------------------------------------------------------------------
class EvaluationWorker:
    """One member of the evaluation pool; created by the dispatcher as a restartable Ray actor."""

    def __init__(self, context: SweepContext):
        context.enter_worker()
        self.context = context
        self.device = worker_device()
        self.computed_on = (device_label(self.device), node_name())
        self.data = context.load_data(self.device)
        self._whitened: tuple[str, object] | None = None  # (trial key, its whitened data): refitted once

    def _carried(self, trial_key: str, synset, config):
        """(config, data, learned lr) the set's students and teachers train under: an MTT set's
        learned lr (unless `config.learned_lr` is off) and real data whitened as the set was
        (raydd.core.evaluate.carried, as `raydd evaluate` does); `config` and the plain data for
        every other set."""
        from raydd.core.evaluate.carried import carried_data, carried_lr, is_whitened, with_carried_lr
        from raydd.core.evaluate.labels import needs_whole_teacher

        lr = carried_lr(synset.meta) if config.learned_lr else None
        if not is_whitened(synset.meta):
            return with_carried_lr(config, lr), self.data, lr
        if needs_whole_teacher(config, synset.soft_labels is not None):
            raise ValueError(f"set {trial_key} is ZCA-whitened; labels {config.labels} would have it "
                             "labelled by a teacher trained on plain images: use labels hard")
        if self._whitened is None or self._whitened[0] != trial_key:
            self._whitened = (trial_key, carried_data(synset.meta, self.data))
        return with_carried_lr(config, lr), self._whitened[1], lr

    def _set(self, point: TrialPoint):
        """The set a job trains on: its artifact, or the training split for `whole_dataset`."""
        if regimes.is_whole(point):
            from raydd.core.artifact import SyntheticSet
            from raydd.core.evaluate.labels import check_training_split

            check_training_split(self.data, "the whole_dataset baseline")
            return SyntheticSet(self.data.train.images, self.data.train.labels, {})
        return artifacts.load_synset_from(self.context.paths.synset(point.trial_key))

    def train_whole_teacher(self, setting: EvalPoint) -> str:
        """The whole-data teacher of `setting` (`raydd.sweep.regimes`), trained unless saved already;
        returns its location."""
        from raydd.core.evaluate.sets import train_whole_teacher

        location = self.context.paths.whole_teacher(regimes.whole_teacher_key(setting))
        if not storage.exists(location):
            artifacts.save_teacher(train_whole_teacher(self.data, setting.config, self.device), location)
        return location

    def _targets(self, config, setting: EvalPoint, synset, seeds: list[int], set_teachers=None, data=None):
        """(what the students fit, the relabelling teachers) under `config`'s label regime, with
        the setting's whole-data teacher where the regime needs it (trained by `train_whole_teacher`);
        `data`: the real data as the set's students see it (default: as loaded)."""
        from raydd.core.evaluate.labels import needs_whole_teacher
        from raydd.core.evaluate.sets import regime_inputs

        whole = None
        if needs_whole_teacher(config, synset.soft_labels is not None):
            location = self.context.paths.whole_teacher(regimes.whole_teacher_key(setting))
            whole = artifacts.load_teacher(location, config.teacher, self.data.info, self.device)
        return regime_inputs(config, synset.images, synset.labels, synset.soft_labels,
                             self.data if data is None else data, seeds,
                             self.device, whole, set_teachers)

    def train_teachers(self, trial_key: str, seeds: list[int], setting: EvalPoint) -> list[str]:
        """The set's KD teachers for `seeds` under `setting`, trained in one `train_teachers` call
        (stacked where that pays) on what the setting's students fit (`taught_on`), unless saved
        already; returns their locations, in order."""
        from raydd.core.evaluate import train_teachers

        locations = [self.context.paths.teacher(trial_key, seed, setting.teacher_key) for seed in seeds]
        missing = [(seed, loc) for seed, loc in zip(seeds, locations) if not storage.exists(loc)]
        if missing:
            synset = artifacts.load_synset_from(self.context.paths.synset(trial_key))
            fresh = [seed for seed, _ in missing]
            config, data, _ = self._carried(trial_key, synset, setting.config)
            targets, _ = self._targets(taught_on(config), setting, synset, fresh, data=data)
            nets = train_teachers(synset.images, targets, data, config, fresh, self.device)
            for net, (_, location) in zip(nets, missing):
                artifacts.save_teacher(net, location)
        return locations

    def evaluate_group(self, jobs: list[EvalJob]) -> int:
        """Run jobs that differ only in their seed as one `evaluate_seeds` call (stacked where that
        pays) and write each job's rows; returns how many rows were written (jobs already done
        are skipped, so a retried call redoes only what is missing)."""
        from raydd.core.evaluate import evaluate_seeds
        from raydd.core.evaluate.labels import label_bytes

        paths, first = self.context.paths, jobs[0]
        cfg = regimes.job_config(first.point, first.setting)
        todo = []
        for job in jobs:
            target = paths.result_file(job.name)
            state = job_state(target, job)
            if state is not None:  # None: the job's rows are on storage already
                todo.append((job, target, state))
        if not todo:
            return 0
        synset = self._set(first.point)
        cfg, data, learned_lr = self._carried(first.trial_key, synset, cfg)
        seeds = [job.seed for job, _, _ in todo]
        set_teachers = None
        if regimes.needs_set_teachers(first.kd, first.setting):
            set_teachers = [artifacts.load_teacher(paths.teacher(job.trial_key, job.seed, job.setting.teacher_key),
                                                   cfg.teacher, self.data.info, self.device) for job, _, _ in todo]
        targets, relabelers = self._targets(cfg, first.setting, synset, seeds, set_teachers, data=data)
        records = evaluate_seeds(synset.images, targets, data, first.student, cfg, seeds, self.device,
                                 set_teachers if first.kd else None, relabelers=relabelers)
        size = label_bytes(cfg.labels, len(synset.images), self.data.info, cfg.teacher)
        written = 0
        for (job, target, state), record in zip(todo, records):
            rows = record_rows(record, job, self.context, synset.meta, self.computed_on, size, learned_lr)
            write_job_rows(rows, target, state, paths)
            written += len(rows)
        return written


def taught_on(config):
    """The setting a set's KD teacher (also `relabel_teacher: set`) fits: the set's soft labels
    under `soft`, its class labels otherwise."""
    return config if config.labels == "soft" else replace(config, labels="hard")
