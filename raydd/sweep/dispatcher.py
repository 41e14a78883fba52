"""The evaluation dispatcher: a named async actor that feeds a pool of evaluation actors.

Trials hand it a finished set by its grid point (the artifact is on storage); it trains one KD
teacher per (set, evaluation setting's teacher key, eval seed) on the pool (and a label regime's
whole-data teacher once per sweep and setting, `raydd.sweep.regimes`), then runs every
(evaluation setting x student x kd x seed) job of the set that is not done yet on whichever actor
is free, while other trials are still distilling. Jobs that differ only in their seed go to one
actor call where training them as one stack pays on the pool's device (`job_groups`). The actors
are restartable (`max_restarts`, `max_task_retries`): a call in flight on an actor that dies is run
again on its restarted self, and the jobs are idempotent (see raydd.sweep.evaluation).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import ray

from raydd.core.datasets import DATASETS
from raydd.spec import ResourceSpec, TrialPoint
from raydd.sweep import regimes
from raydd.sweep.context import SweepContext
from raydd.sweep.evaluation import EvalJob, EvaluationWorker, job_groups, jobs_for, stacking_pays

DISPATCHER_NAME = "dispatcher"
ACTOR_RESTARTS = 3  # an evaluation actor may die this often (OOM, lost node) before jobs fail
TASK_RETRIES = 3


@dataclass(frozen=True)
class PoolResources:
    count: int
    cpu: float
    gpu: float

    @classmethod
    def of(cls, resources: ResourceSpec) -> "PoolResources":
        return cls(resources.evaluators, resources.evaluator_cpu, resources.evaluator_gpu)


class EvaluationDispatcher:
    """Async actor; see the module docstring. Every method returns quickly except `wait_all`."""

    def __init__(self, context: SweepContext, pool: PoolResources, done: frozenset[str] = frozenset()):
        context.enter_worker()
        self.context = context
        self.done = done  # jobs whose rows were on storage when the run began
        self.pool = pool
        self.device_type = "cuda" if pool.gpu > 0 else "cpu"  # what worker_device() finds on such a slice
        self.num_classes = DATASETS.get(context.dataset.name).info.num_classes
        self.workers: list = []
        if pool.gpu == 0:
            self._start_workers()  # CPU slices are cheap to hold: evaluation overlaps the trials
        self.idle: asyncio.Queue | None = None
        self.jobs: dict[str, asyncio.Task] = {}
        self.running: set[str] = set()
        self.teachers: dict[tuple[str, str, int], asyncio.Task] = {}
        self.whole_teachers: dict[str, asyncio.Task] = {}
        self.written = 0
        self.failed: dict[str, str] = {}
        self.set_jobs: dict[str, set[str]] = {}  # trial key -> its jobs queued in this run
        self.untaken: set[str] = set()  # sets not yet handed out by take_finished_sets

    def _start_workers(self) -> None:
        """Request the evaluation actors. Evaluators with GPU slices are requested when a set
        arrives, not at start, and ended when they run out of jobs (`_release_gpus_if_idle`)."""
        remote_worker = ray.remote(EvaluationWorker).options(
            num_cpus=self.pool.cpu, num_gpus=self.pool.gpu, max_restarts=ACTOR_RESTARTS,
            max_task_retries=TASK_RETRIES, namespace=self.context.namespace,
        )
        self.workers = [remote_worker.remote(self.context) for _ in range(self.pool.count)]

    def _idle_queue(self) -> asyncio.Queue:
        if self.idle is None:  # created inside the actor's event loop, at the first job
            if not self.workers:
                self._start_workers()
            self.idle = asyncio.Queue()
            for w in self.workers:
                self.idle.put_nowait(w)
        return self.idle

    async def ready(self) -> int:
        """Returns once this actor is up and, for CPU evaluators, its pool requested (their CPUs
        are claimed before Tune asks for trials); the pool's own start-up overlaps the first trials."""
        return len(self.workers)

    async def submit(self, point: TrialPoint) -> int:
        """Queue every job of a finished set that is neither done nor queued; returns how many."""
        fresh = [j for j in jobs_for(point, self.context.evaluation)
                 if j.name not in self.jobs and j.name not in self.done]
        for group in job_groups(fresh, self.device_type, self.num_classes):
            task = asyncio.ensure_future(self._run(group))
            for job in group:
                self.jobs[job.name] = task
        if fresh:
            self.set_jobs.setdefault(point.trial_key, set()).update(j.name for j in fresh)
            self.untaken.add(point.trial_key)
        return len(fresh)

    def take_finished_sets(self) -> list[str]:
        """The sets whose every queued job has finished (rows written or failed) since the last
        call, each handed out once (the driver logs them to the trackers, raydd.sweep.eval_tracking)."""
        finished = sorted(key for key in self.untaken
                          if all(self.jobs[name].done() for name in self.set_jobs[key]))
        self.untaken.difference_update(finished)
        return finished

    async def _on_worker(self, call):
        queue = self._idle_queue()
        worker = await queue.get()
        try:
            return await call(worker)
        finally:
            queue.put_nowait(worker)

    async def _teachers(self, jobs: list[EvalJob]) -> None:
        """Wait for the KD teachers of `jobs` (one set and setting, one seed each). The first job
        group needing a (set, teacher, seed) starts its training, the seeds in one call where a
        stack of teachers pays, else one call each; later groups wait for the same calls."""
        first = jobs[0]
        keys = [(first.trial_key, first.setting.teacher_key, job.seed) for job in jobs]
        missing = [key[2] for key in keys if key not in self.teachers]
        stack = stacking_pays(first.setting.config.teacher, first, len(missing), self.device_type, self.num_classes)
        for seeds in [missing] if stack else [[seed] for seed in missing]:
            call = asyncio.ensure_future(self._on_worker(
                lambda w, seeds=seeds: w.train_teachers.remote(first.trial_key, seeds, first.setting)))
            for seed in seeds:
                self.teachers[(first.trial_key, first.setting.teacher_key, seed)] = call
        # shielded: a cancelled waiter must not cancel a teacher that other jobs wait for
        await asyncio.gather(*(asyncio.shield(self.teachers[key]) for key in keys))

    async def _whole_teacher(self, setting) -> None:
        """Wait for the whole-data teacher of `setting` (`raydd.sweep.regimes`); the first job group
        needing it starts its training, later ones wait for the same call."""
        key = regimes.whole_teacher_key(setting)
        if key not in self.whole_teachers:
            self.whole_teachers[key] = asyncio.ensure_future(
                self._on_worker(lambda w: w.train_whole_teacher.remote(setting)))
        await asyncio.shield(self.whole_teachers[key])

    async def _run(self, jobs: list[EvalJob]) -> None:
        """Run jobs of one (set, setting, student, kd), one per seed, in one actor call, once the
        teachers they need are trained."""
        names = [job.name for job in jobs]
        first = jobs[0]
        try:
            if regimes.needs_whole(first.point, first.setting):
                await self._whole_teacher(first.setting)
            if regimes.needs_set_teachers(first.kd, first.setting):
                await self._teachers(jobs)

            async def evaluate(worker):
                self.running.update(names)
                return await worker.evaluate_group.remote(jobs)

            written = await self._on_worker(evaluate)
            self.written += written  # (not `+= await`: that would read the counter before awaiting)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # recorded and reported; the other jobs go on
            self.failed.update(dict.fromkeys(names, f"{type(err).__name__}: {err}"))
        finally:
            self.running.difference_update(names)
            self._release_gpus_if_idle()

    def _release_gpus_if_idle(self) -> None:
        """With no job left to run, end GPU evaluators so their slices return to the trials: held
        until the sweep's end, slices on every GPU would leave none whole for the next `gpu: 1`
        trial. The next finished set starts them again."""
        if self.pool.gpu == 0 or not self.workers:
            return
        if len({task for task in self.jobs.values() if not task.done()}) > 1:  # (the caller's own task is not done yet)
            return
        for worker in self.workers:
            ray.kill(worker)
        self.workers, self.idle = [], None

    def status(self) -> dict:
        finished = sum(t.done() for t in self.jobs.values())
        return {"queued": len(self.jobs), "finished": finished, "running": len(self.running),
                "rows_written": self.written, "failed": dict(self.failed)}

    async def wait_all(self) -> dict:
        """Wait until every queued job has finished (jobs queued meanwhile included)."""
        while not all(t.done() for t in self.jobs.values()):
            await asyncio.wait([t for t in self.jobs.values() if not t.done()])
        return self.status()

    async def drain(self) -> dict:
        """For a graceful stop: drop jobs not yet started, let the running ones finish."""
        for name, task in self.jobs.items():
            if name not in self.running and not task.done():
                task.cancel()
        await asyncio.gather(*self.jobs.values(), return_exceptions=True)
        return self.status()


def dispatcher_handle(context: SweepContext, pool: PoolResources, done: frozenset[str]):
    """The sweep's dispatcher, started if it is not running (all trials share this one); `done`
    names the jobs whose rows are already on storage."""
    actor = ray.remote(EvaluationDispatcher).options(
        name=DISPATCHER_NAME, namespace=context.namespace, get_if_exists=True, num_cpus=0,
        max_concurrency=1000,
    )
    return actor.remote(context, pool, done)


def find_dispatcher(context: SweepContext):
    return ray.get_actor(DISPATCHER_NAME, namespace=context.namespace)
