"""Where a sweep keeps its files, as locations (a local path or a URI) under `<storage>/<name>`.

    <storage>/<name>/spec.yaml                       the submitted sweep file, its overrides put in
    <storage>/<name>/overrides.json                  the `key.path=value` overrides given with it
    <storage>/<name>/tune/                           the Tune experiment (state, checkpoints)
    <storage>/<name>/synsets/<trial_key>/            synthetic-set artifacts
    <storage>/<name>/synsets/<trial_key>/teachers/seed<k>.pt   the shared KD teacher per eval seed
    <storage>/<name>/synsets/<trial_key>/teachers/<teacher_key>/seed<k>.pt   the same, per evaluation
                                                     setting that trains its own (EvalPoint.teacher_key)
    <storage>/<name>/teachers/whole/<key>.pt         the whole-data teacher of a label regime (raydd.sweep.regimes)
    <storage>/<name>/trials/<trial_key>.done         a trial distilled its set and handed it over
    <storage>/<name>/results/<job>.parquet           the rows of one evaluation job (name = job)
    <storage>/<name>/quarantine/<job>.parquet.<time> a bad result file, moved aside (never deleted)
    <storage>/<name>/STOP                            a stop request (`raydd sweep stop`)
    <storage>/<name>/LEASE                           which driver runs the sweep (raydd.sweep.lease)
    <storage>/<name>/job.json                        the Ray Job that runs the sweep, if any

Reading and writing them goes through `raydd.storage`.
"""

from __future__ import annotations

from dataclasses import dataclass

from raydd.storage import absolute, join

TUNE_DIR = "tune"  # the Tune experiment name under the sweep root


@dataclass(frozen=True)
class SweepPaths:
    """Every file of one sweep, as locations under `root` = `<storage>/<name>`."""

    root: str

    @classmethod
    def of(cls, storage: str, name: str) -> "SweepPaths":
        """The sweep `name` under `storage`; a name that is not one (`..`, `a/b`) is a ValueError."""
        from raydd.spec import name_problem

        problem = name_problem(name)
        if problem:
            raise ValueError(f"sweep name {problem}")
        return cls(join(absolute(storage), name))

    @property
    def spec(self) -> str:
        return join(self.root, "spec.yaml")

    @property
    def overrides(self) -> str:
        return join(self.root, "overrides.json")

    @property
    def tune(self) -> str:
        return join(self.root, TUNE_DIR)

    @property
    def results(self) -> str:
        return join(self.root, "results")

    @property
    def stop_request(self) -> str:
        return join(self.root, "STOP")

    @property
    def lease(self) -> str:
        return join(self.root, "LEASE")

    @property
    def job_record(self) -> str:
        return join(self.root, "job.json")

    @property
    def trials(self) -> str:
        return join(self.root, "trials")

    def synset(self, trial_key: str) -> str:
        return join(self.root, "synsets", trial_key)

    def teacher(self, trial_key: str, seed: int, teacher_key: str = "") -> str:
        return join(self.synset(trial_key), "teachers", *([teacher_key] if teacher_key else []), f"seed{seed}.pt")

    def whole_teacher(self, key: str) -> str:
        return join(self.root, "teachers", "whole", f"{key}.pt")

    def trial_done(self, trial_key: str) -> str:
        return join(self.trials, f"{trial_key}.done")

    def result_file(self, job_name: str) -> str:
        return join(self.results, f"{job_name}.parquet")

    def quarantined(self, name: str) -> str:
        return join(self.root, "quarantine", name)
