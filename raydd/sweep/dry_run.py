"""What `raydd sweep submit --dry-run` shows: the trials, the expert stage of MTT points (how many
experts, how many the store holds already: raydd.sweep.experts_stage), the evaluation jobs as the driver would
queue them (`raydd.sweep.evaluation`'s own functions), the resources asked for (and, for a run here,
whether this machine can give them: `raydd.sweep.fit`) and an estimated wall time from measured
costs (`raydd.sweep.costs`). Starts nothing and writes nothing; no Ray."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from raydd.core.datasets import DATASETS
from raydd.core.datasets.splits import holdout_count
from raydd.spec import SweepSpec
from raydd.sweep import costs, fit, regimes
from raydd.sweep.evaluation import EvalJob, all_jobs, jobs_for
from raydd.sweep.experts_stage import ExpertPlan, plan_experts
from raydd.sweep.fit import Nodes

DISTILLED = "distilled"


@dataclass(frozen=True)
class JobGroup:
    """The evaluation jobs of one kind of set (distilled, random_real, ...) and their factors."""

    kind: str
    sets: int
    settings: int
    students: int
    kd_modes: int
    seeds: int
    jobs: int  # as the driver counts them (a regime may leave a combination out of the product)

    def line(self) -> str:
        factors = f"{self.sets} sets x {self.students} students x {self.kd_modes} KD modes x {self.seeds} seeds"
        factors += f" x {self.settings} settings" if self.settings > 1 else ""
        return f"  {self.kind:14s} {factors} = {self.jobs}"


@dataclass(frozen=True)
class Estimate:
    core_seconds: float
    cores: int
    not_measured: tuple[str, ...]  # parts left out of the estimate (it is then a lower bound)

    @property
    def seconds(self) -> float:
        return self.core_seconds / self.cores

    def line(self) -> str:
        minutes = round(self.seconds / 60)
        text = (f"estimated wall time ~{minutes // 60} h {minutes % 60} min on {self.cores} cores kept busy "
                f"(from costs measured on {costs.MEASURED_ON}; an estimate)")
        return text + (f"; not measured, left out: {', '.join(self.not_measured)}" if self.not_measured else "")


@dataclass(frozen=True)
class SweepPlan:
    name: str
    storage: str
    trials: tuple[tuple[str, dict], ...]  # (trial key, grid-axis values) per grid point
    samples_per_point: int  # a search's trials per grid point; 1 for a grid
    groups: tuple[JobGroup, ...]
    resources: dict
    estimate: Estimate
    overrides: tuple[str, ...] = ()  # the `key.path=value` overrides the file was planned with
    exceeds_this_machine: str | None = None  # why a run here would be refused (raydd.sweep.fit)
    experts: ExpertPlan | None = None  # the expert stage; None without MTT points

    @property
    def trial_count(self) -> int:
        return len(self.trials) * self.samples_per_point

    @property
    def job_count(self) -> int:
        return sum(g.jobs for g in self.groups)

    def lines(self) -> list[str]:
        searched = self.samples_per_point > 1
        per_point = f" ({self.samples_per_point} searched per grid point)" if searched else ""
        out = [f"sweep {self.name} at {self.storage} (dry run: nothing started, nothing written)",
               *([f"overrides: {' '.join(self.overrides)}"] if self.overrides else []),
               f"trials: {self.trial_count}{per_point}"]
        out += [f"  {key}  " + (" ".join(f"{k}={v}" for k, v in axes.items()) or "(no grid axes)")
                for key, axes in self.trials]
        out += [self.experts.line()] if self.experts else []
        out.append(f"evaluation jobs: {'at most ' if searched else ''}{self.job_count}")
        out += [g.line() for g in self.groups]
        r = self.resources
        out.append(f"resources: per trial {r['trial_cpu']:g} CPU, {r['trial_gpu']:g} GPU; evaluators "
                   f"{r['evaluators']} x ({r['evaluator_cpu']:g} CPU, {r['evaluator_gpu']:g} GPU); max concurrent "
                   f"trials: {r['max_concurrent_trials'] or 'no limit'}")
        if self.exceeds_this_machine:
            out.append(f"warning: a run here would be refused: {self.exceeds_this_machine}")
        return out + [self.estimate.line()]

    def as_dict(self) -> dict:
        return {"name": self.name, "storage": self.storage, "overrides": list(self.overrides),
                "trial_count": self.trial_count,
                "samples_per_point": self.samples_per_point,
                "trials": [{"trial_key": key, "axes": axes} for key, axes in self.trials],
                "evaluation_jobs": self.job_count, "job_groups": [dataclasses.asdict(g) for g in self.groups],
                "resources": self.resources, "exceeds_this_machine": self.exceeds_this_machine,
                **({"experts": dataclasses.asdict(self.experts)} if self.experts else {}),
                "estimate": {"wall_seconds": round(self.estimate.seconds),
                             "core_seconds": round(self.estimate.core_seconds),
                             "cores": self.estimate.cores, "measured_on": costs.MEASURED_ON,
                             "not_measured": list(self.estimate.not_measured), "text": self.estimate.line()}}


def sweep_jobs(spec: SweepSpec) -> list[EvalJob]:
    """The jobs the driver queues: `all_jobs` for a grid; for a search, its baselines' and those of
    every sampled trial, each counted as its grid point's (ASHA may stop some: at most these)."""
    if spec.search is None:
        return all_jobs(spec)
    per_point = [job for point in spec.points for job in jobs_for(point, spec.evaluation)]
    return [job for point in spec.baselines for job in jobs_for(point, spec.evaluation)] + \
        per_point * spec.search.num_samples


def plan(spec: SweepSpec, cores: int, machine: Nodes | None = None) -> SweepPlan:
    """The dry run of `spec`, its time estimated for `cores` busy cores; `machine`: the node of the
    local Ray a run here would start (`fit.this_machine()`), to say whether the sweep fits it."""
    samples = spec.search.num_samples if spec.search is not None else 1
    jobs = sweep_jobs(spec)
    exceeds = None if machine is None else fit.shortfall(spec.resources, machine, where="this machine",
                                                         trials=bool(spec.points))
    experts = plan_experts(spec)
    return SweepPlan(spec.name, spec.storage, tuple((p.trial_key, dict(p.axes)) for p in spec.points), samples,
                     _groups(jobs, samples), dataclasses.asdict(spec.resources),
                     _estimate(spec, jobs, samples, cores, experts), spec.overrides, exceeds, experts)


def _groups(jobs: list[EvalJob], samples: int) -> tuple[JobGroup, ...]:
    """Jobs by kind of set; a search's distilled sets are its grid points' `samples` trials each."""
    kinds: dict[str, list[EvalJob]] = {}
    for job in jobs:
        kinds.setdefault(job.point.baseline or DISTILLED, []).append(job)

    def distinct(members: list[EvalJob], field) -> int:
        return len({field(j) for j in members})

    return tuple(JobGroup(kind, distinct(m, lambda j: j.trial_key) * (samples if kind == DISTILLED else 1),
                          distinct(m, lambda j: j.setting.eval_key), distinct(m, lambda j: j.student),
                          distinct(m, lambda j: j.kd), distinct(m, lambda j: j.seed), len(m))
                 for kind, m in kinds.items())


def _estimate(spec: SweepSpec, jobs: list[EvalJob], samples: int, cores: int,
              experts: ExpertPlan | None = None) -> Estimate:
    size = DATASETS.get(spec.dataset.name).info.image_size
    missing: dict[str, None] = {}
    total = 0.0
    if experts is not None:
        total += experts.train_seconds
        if experts.unmeasured:
            missing[f"training {experts.unmeasured} expert(s)"] = None
    for point in spec.points:
        seconds = _distill_seconds(point.config, size)
        if seconds is None:
            missing[f"distillation by {point.config.method} with pool {point.config.pool.name}"] = None
        total += (seconds or 0.0) * samples
    if spec.probe is not None:
        missing["the probe's students during distillation"] = None
    teachers: set[tuple] = set()
    for job in jobs:
        config = regimes.job_config(job.point, job.setting)
        images = _images(spec, job)
        trainings = [job.student]
        if job.kd and (job.trial_key, job.setting.teacher_key, job.seed) not in teachers:
            teachers.add((job.trial_key, job.setting.teacher_key, job.seed))
            trainings.append(config.teacher)
        for arch in trainings:
            seconds = costs.student_seconds(arch, config.resolved_epochs, images, size, regimes.is_whole(job.point))
            if seconds is None:
                missing[f"student {arch}"] = None
            total += seconds or 0.0
    return Estimate(total, max(1, cores), tuple(missing))


def _distill_seconds(config, size: int) -> float | None:
    if config.method != "mtt":
        return costs.distill_seconds(config.method, config.pool.archs, config.iterations, size)
    images = config.ipc * DATASETS.get(config.dataset).info.num_classes
    step_images = min(config.settings.batch_syn or images, images)  # as MTT cuts its batches
    return costs.mtt_seconds(config.pool, config.settings.syn_steps, step_images, config.iterations, size)


def _images(spec: SweepSpec, job: EvalJob) -> int:
    """Images a job's student trains on: the set's, or the training split after the carve."""
    if not regimes.is_whole(job.point):
        return job.point.config.ipc * DATASETS.get(spec.dataset.name).info.num_classes
    total = costs.TRAIN_IMAGES.get(spec.dataset.name, costs.WHOLE_IMAGES)
    return total - holdout_count(spec.dataset.val_size, total)
