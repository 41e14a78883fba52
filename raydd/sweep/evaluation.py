"""Evaluation jobs, their result rows, and the actor that runs them.

One job is (synthetic set, student, kd, eval seed). Its rows go to one Parquet file named after
the job (`results/<job>.parquet`), written atomically and only if the job is not done: a job that
is retried after its actor died, or dispatched again on resume, never writes a row twice. A job
is done when its file is readable and holds exactly the job's row; a file that is not (truncated,
corrupt, another job's rows) is moved aside to `quarantine/`, never deleted, and the job runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone


from raydd import strict_json
from raydd.sweep import artifacts, storage
from raydd.sweep.context import SweepContext, worker_device
from raydd.sweep.storage import SweepPaths


@dataclass(frozen=True)
class EvalJob:
    trial_key: str
    student: str
    kd: bool
    seed: int

    @property
    def name(self) -> str:
        return f"{self.trial_key}__{self.student}__kd-{'on' if self.kd else 'off'}__seed{self.seed}"


def jobs_for(trial_key: str, evaluation) -> list[EvalJob]:
    """Every job of one set, KD-off first (they need no teacher, so start at once)."""
    return [
        EvalJob(trial_key, student, kd, seed)
        for kd in sorted(evaluation.kd_modes)
        for seed in range(evaluation.seeds)
        for student in evaluation.students
    ]


def all_jobs(spec) -> list[EvalJob]:
    return [job for p in spec.points for job in jobs_for(p.trial_key, spec.evaluation)]


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
    keys = [(r["trial_id"], r["student"], r["kd"], r["eval_seed"])
            for r in table.select(["trial_id", "student", "kd", "eval_seed"]).to_pylist()]
    if keys != [(job.trial_key, job.student, job.kd, job.seed)]:
        return f"not the result of job {job.name}: it holds {len(keys)} row(s) {keys[:2]}"
    return None


def set_aside(location: str, paths: SweepPaths) -> str:
    """Move a bad result file into the sweep's quarantine (kept as evidence); its new location."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = paths.quarantined(f"{location.rsplit('/', 1)[-1]}.{stamp}")
    storage.move(location, target)
    return target


def job_states(context: SweepContext) -> dict[str, str | None]:
    """Every job of the sweep -> its `job_state` (one listing, then one read per present file)."""
    present = set(storage.list_names(context.paths.results))
    return {job.name: job_state(context.paths.result_file(job.name), job)
            if f"{job.name}.parquet" in present else MISSING for job in all_jobs(context.spec)}


def set_aside_bad_results(context: SweepContext, echo) -> int:
    """Before a run: move every bad result file aside (saying so), so its job runs again."""
    moved = 0
    for name, state in job_states(context).items():
        if state not in (None, MISSING):
            location = context.paths.result_file(name)
            echo(f"[eval] {location} is {state}; moved to {set_aside(location, context.paths)}, "
                 "its job runs again")
            moved += 1
    return moved


# ---- rows --------------------------------------------------------------------------------------
def record_rows(record, job: EvalJob, context: SweepContext, synset_meta: dict) -> list[dict]:
    """The result row of one EvalRecord, in raydd.results' schema."""
    from raydd import __version__

    point = context.point(job.trial_key)
    cfg, evaluation = point.config, context.spec.evaluation
    synset_uri = context.paths.synset(job.trial_key)
    recipe = {"sweep": strict_json.loads(context.spec_json), "trial": job.trial_key,
              "axes": {k: str(v) for k, v in point.axes.items()}, "distill": cfg.to_dict()}
    return [{
        "sweep": context.name, "trial_id": job.trial_key, "method": cfg.method,
        "dataset": context.spec.dataset.name, "ipc": cfg.ipc, "pool_name": cfg.pool.name,
        "pool": dict(zip(cfg.pool.archs, cfg.pool.probs)), "pool_main_weight": cfg.pool.probs[0],
        "pool_warmup": cfg.pool.warmup, "iterations": cfg.iterations, "distill_seed": cfg.seed,
        "student": record.student, "teacher": record.teacher, "kd": record.kd, "alpha": record.alpha,
        "temperature": record.temperature, "eval_seed": record.seed, "val_acc": record.val_acc,
        "test_acc": record.test_acc, "train_seconds": record.train_seconds,
        "distill_seconds": float(synset_meta.get("wall_seconds") or 0.0), "synset_uri": synset_uri,
        "grid_png_uri": storage.join(synset_uri, "grid.png"), "epochs": evaluation.config.resolved_epochs,
        "augment": evaluation.config.augment, "created_at": datetime.now(timezone.utc),
        "raydd_version": __version__, "config_json": strict_json.dumps(recipe, default=str),
    }]


def write_rows_once(rows: list[dict], location: str, job: EvalJob, paths: SweepPaths) -> bool:
    """Write `rows` as the Parquet file `location` unless it completes `job` already; True when
    written. A bad file in the way is moved aside first.

    A retried or re-dispatched job reaches this with the same file name, so its rows land at
    most once. (Two copies of one job running at the same moment could both pass the check;
    each write is atomic and carries the whole job's rows under the same name, so a reader
    still sees them once.)
    """
    from raydd.results import write_rows

    state = job_state(location, job)
    if state is None:
        return False
    if state != MISSING:
        set_aside(location, paths)
    fs, path = storage.filesystem_for(location)
    directory, name = path.rsplit("/", 1)
    write_rows(rows, directory, name=name, filesystem=fs)
    return True


# ---- the actor ---------------------------------------------------------------------------------
class EvaluationWorker:
    """One member of the evaluation pool; created by the dispatcher as a restartable Ray actor."""

    def __init__(self, context: SweepContext):
        context.enter_worker()
        self.context = context
        self.device = worker_device()
        self.data = context.load_data(self.device)

    def ready(self) -> bool:
        return True

    def train_teacher(self, trial_key: str, seed: int) -> str:
        """Train the set's KD teacher for `seed` once; later calls find the saved one."""
        from raydd.core.evaluate import train_teacher

        location = self.context.paths.teacher(trial_key, seed)
        if not storage.exists(location):
            synset = artifacts.load_synset_from(self.context.paths.synset(trial_key))
            cfg = self.context.spec.evaluation.config
            net = train_teacher(synset.images, synset.labels, self.data, cfg, seed, self.device)
            artifacts.save_teacher(net, location)
        return location

    def evaluate(self, job: EvalJob) -> int:
        """Run one job and write its rows; returns how many rows it wrote (0: already done)."""
        from raydd.core.evaluate import evaluate_student

        paths, cfg = self.context.paths, self.context.spec.evaluation.config
        target = paths.result_file(job.name)
        if job_state(target, job) is None:
            return 0
        synset = artifacts.load_synset_from(paths.synset(job.trial_key))
        teacher = None
        if job.kd:
            teacher = artifacts.load_teacher(paths.teacher(job.trial_key, job.seed), cfg.teacher,
                                             self.data.info, self.device)
        record = evaluate_student(synset.images, synset.labels, self.data, job.student, cfg, job.seed,
                                  self.device, teacher)
        rows = record_rows(record, job, self.context, synset.meta)
        return len(rows) if write_rows_once(rows, target, job, paths) else 0
