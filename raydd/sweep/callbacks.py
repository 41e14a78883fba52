"""Tune callbacks run in the driver: a concise progress printer and the stop-request watcher."""

from __future__ import annotations

import logging
import signal
import threading
import time

from ray.tune import Callback

from raydd import storage
from raydd.eta import eta_text
from raydd.sweep.trial import trial_key

log = logging.getLogger(__name__)


def _print(text: str) -> None:
    print(text, flush=True)


class TrialProgressPrinter(Callback):
    """One line per trial every `every_s` seconds, and one per start, retry, error and finish. A
    trial's ETA goes by its progress since the driver first saw it (since its last retry): work
    restored from a checkpoint took no time in this run."""

    def __init__(self, echo=_print, every_s: float = 10.0, clock=time.monotonic):
        self.echo, self.every_s, self.clock = echo, every_s, clock
        self.last_line: dict[str, float] = {}
        self.first_seen: dict[str, tuple[float, float]] = {}  # trial key -> (time, progress)

    def __getstate__(self):
        # Tune pickles its callbacks with the experiment; an echo function need not survive that
        # (a restored sweep prints with the builtin print)
        return {"every_s": self.every_s, "last_line": {}, "first_seen": {}}

    def __setstate__(self, state):
        self.__dict__.update(state, echo=_print, clock=time.monotonic)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.first_seen.pop(trial_key(trial.config), None)
        self.echo(f"[trial] {trial_key(trial.config)} started")

    def _eta(self, key: str, progress: float, now: float) -> str:
        since, at = self.first_seen.setdefault(key, (now, progress))
        return eta_text(progress - at, 1.0 - at, now - since)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        now, key = self.clock(), trial_key(trial.config)
        eta = self._eta(key, result.get("progress", 0.0), now)
        if result.get("done") or now - self.last_line.get(key, 0.0) < self.every_s:
            return
        self.last_line[key] = now
        loss = result.get("loss")
        loss_text = f", loss {loss:.4f}" if isinstance(loss, float) else ""
        self.echo(f"[trial] {key} iteration {result.get('iteration')} "
                  f"({100 * result.get('progress', 0):.0f}%){loss_text}, {eta}")

    def on_trial_recover(self, iteration, trials, trial, **info):
        self.first_seen.pop(trial_key(trial.config), None)  # the retry's own rate, from its checkpoint
        self.echo(f"[trial] {trial_key(trial.config)} failed; retrying from its last checkpoint")

    def on_trial_error(self, iteration, trials, trial, **info):
        self.echo(f"[trial] {trial_key(trial.config)} FAILED (no retries left)")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.echo(f"[trial] {trial_key(trial.config)} {ending(trial.last_result or {})}")


def ending(result: dict) -> str:
    """How a trial ended, from its last result: a trial's final report says how many evaluation
    jobs its set queued; a trial a scheduler stopped (ASHA) never sent one, and its set is not evaluated."""
    if "evaluations_queued" in result:
        return f"distilled; {result['evaluations_queued']} evaluation job(s) queued"
    return f"stopped by the scheduler at iteration {result.get('iteration', '?')}; not evaluated"


class StopRequestWatcher(Callback):
    """Ends the Tune run resumably when the sweep's stop-request file appears.

    Tune treats SIGUSR1, as SIGINT, as "save the experiment state and stop; resume later"
    (unfinished trials stay resumable), whereas a Stopper marks them terminated for good. So the
    watcher raises SIGUSR1 in the driver, whose handler Tune installs for every run; SIGINT (Ctrl-C)
    is left to `raydd sweep`'s own handler, which requests the stop. Needs the driver's main thread.
    """

    def __init__(self, location: str, every_s: float = 1.0):
        self.location, self.every_s = location, every_s
        self.last_check = 0.0
        self.raised = False

    def on_step_begin(self, iteration, trials, **info):
        now = time.monotonic()
        if self.raised or now - self.last_check < self.every_s:
            return
        self.last_check = now
        if not storage.exists(self.location):
            return
        if threading.current_thread() is not threading.main_thread():
            log.warning("stop requested, but Tune does not run in the main thread; cannot stop it")
            return
        self.raised = True
        signal.raise_signal(signal.SIGUSR1)
