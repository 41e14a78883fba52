"""`raydd sweep`: run a sweep file on Ray (locally or as a Ray Job), watch, stop and resume it,
and rank a search's trials."""

from __future__ import annotations

import json
import os
import signal
import sys
from contextlib import contextmanager

import click

from raydd.cli.errors import ErrorBoundary
from raydd.cli.sweep_target import STORAGE_HELP as TARGET_STORAGE_HELP
from raydd.cli.sweep_target import locate_sweep
from raydd.storage import DEFAULT_STORAGE

STORAGE_HELP = f"Storage root (local path or s3://...); default: the sweep file's, else {DEFAULT_STORAGE}."
ADDRESS_HELP = ("Ray dashboard address (http://HEAD:8265): submit as a Ray Job there. "
                "Default: $RAY_ADDRESS if it is an http address, else run here.")


def _job_address(address: str | None, in_job: bool) -> str | None:
    """Where to submit a Ray Job, or None to drive the sweep from this process."""
    if in_job:
        return None
    address = address or os.environ.get("RAY_ADDRESS")
    return address if address and address.startswith(("http://", "https://")) else None


def _runs_here(in_job: bool) -> bool:
    """True when the sweep starts its own local Ray instance, so its trials run on this machine."""
    return not (in_job or os.environ.get("RAY_ADDRESS"))


def _data_mode(job_address: str | None, in_job: bool) -> str:
    """How hard validation tries to read the dataset (`raydd.spec.data`): a sweep whose trials
    run here needs its data here; one run elsewhere is checked against it when it is here."""
    return "required" if job_address is None and _runs_here(in_job) else "if_present"


def _start_ray(in_job: bool) -> None:
    import ray

    if _runs_here(in_job):
        from raydd.sweep import watchdog

        watchdog.start()  # ends Ray's lingering agents if this process is killed
        ray.init(include_dashboard=False)
    else:
        ray.init()  # attach to the cluster the job (or RAY_ADDRESS) names


def _check_compile_here(spec, in_job: bool) -> None:
    """A local sweep with `compile: true` needs torch.compile to work on this machine: check it
    before Ray starts. On a cluster the trials' own nodes decide, and a trial reports the error."""
    if not (_runs_here(in_job) and any(getattr(p.config.settings, "compile", False) for p in spec.points)):
        return
    import torch

    from raydd.core.distill.compiled import CompileUnavailable, require_compile

    device = "cuda" if spec.resources.trial_gpu > 0 and torch.cuda.is_available() else "cpu"
    try:
        require_compile(device)
    except CompileUnavailable as err:
        raise click.ClickException(str(err)) from None


def _drive(spec, in_job: bool, resume: bool):
    """Check the compiler, then run the sweep from this process (`run_sweep` holds its lease and,
    for a new run, refuses another experiment under the name, all before Ray starts). Once Ray
    runs, SIGINT (Ctrl-C) and SIGTERM ask the sweep to stop resumably, as `raydd sweep stop` does;
    a second one exits at once. Returns (outcome, the signal that stopped it or None). When this
    process ends, however it ends, the local Ray it started ends with it (Ray ties its processes
    to the driver's; tests/test_sweep_driver.py measures it)."""
    from raydd.sweep.runner import run_sweep

    _check_compile_here(spec, in_job)
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # Ctrl-C is raydd's to handle, below
    with _stop_on_signals(spec.name, spec.storage) as (arm, received):
        def start_ray() -> None:
            _start_ray(in_job)
            arm()  # after ray.init, which installs its own handlers

        outcome = run_sweep(spec, resume=resume, echo=click.echo, start_ray=start_ray)
        return outcome, (received[0] if received else None)


STOP_SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


@contextmanager
def _stop_on_signals(name: str, storage: str):
    """Yields (`arm`, the signals received): `arm` makes SIGINT and SIGTERM a stop request
    until the block ends; a second signal exits at once, with 128 + its number."""
    from raydd.sweep.runner import request_stop

    def on_signal(signum, frame) -> None:
        if received:
            raise SystemExit(128 + signum)
        received.append(signum)
        click.echo(f"{STOP_SIGNALS[signum]}: stopping resumably (running evaluations finish; again to exit now)",
                   err=True)
        request_stop(name, storage)

    def arm() -> None:
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, on_signal)

    received: list[int] = []
    previous: dict = {}
    try:
        yield arm, received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _print_summary(outcome) -> None:
    from raydd.results import ResultsError, render, results_table
    from raydd.sweep.runner import load_results

    click.echo(f"\nsweep {outcome.name}: {len(outcome.trials)} trial(s) in {outcome.seconds:.0f} s; "
               f"{outcome.evaluations.get('rows_written', 0)} row(s) written this run")
    click.echo(f"results: {outcome.results}")
    for key, error in outcome.trial_errors.items():
        click.echo(f"trial {key} failed: {error}", err=True)
    for job, error in outcome.evaluations.get("failed", {}).items():
        click.echo(f"evaluation {job} failed: {error}", err=True)
    try:
        click.echo(render(results_table(load_results(outcome.results))))
    except (ResultsError, ValueError) as err:
        click.echo(f"(no table: {err})")


def _finish(outcome, signum: int | None) -> None:
    """The run's summary; a stopped sweep's what is done and how to continue it instead of a table
    (exit 128 + the signal's number when a signal stopped it), an incomplete one exit 1."""
    if not outcome.stopped:
        _print_summary(outcome)
        if not outcome.complete:
            sys.exit(1)
        return
    from raydd.sweep.runner import sweep_status

    storage = os.path.dirname(outcome.root)
    status = sweep_status(outcome.name, storage)
    how = f"interrupted ({STOP_SIGNALS[signum]})" if signum else "stopped"
    click.echo(f"\nsweep {outcome.name} {how}: {status.counts.get('done', 0)} of {len(status.trials)} trial(s) "
               f"and {status.evaluations_done} of {status.evaluations_total} evaluation(s) done; continue with: "
               f"raydd sweep resume {outcome.name} --storage {storage}")
    for key, error in outcome.trial_errors.items():
        click.echo(f"trial {key} failed: {error}", err=True)
    if signum:
        sys.exit(128 + signum)


def _print_plan(spec, as_json: bool, here: bool) -> None:
    """The dry run: what the sweep would run and cost here, printed; nothing started or written.
    `here`: the run would start a local Ray, so the plan says whether this machine can give it."""
    from raydd.sweep.dry_run import plan
    from raydd.sweep.fit import this_machine

    planned = plan(spec, cores=os.cpu_count() or 1, machine=this_machine() if here else None)
    click.echo(json.dumps(planned.as_dict(), indent=2) if as_json else "\n".join(planned.lines()))


def _run_as_job(args: list[str], address: str, name: str, storage: str, wait: bool) -> None:
    from ray.exceptions import AuthenticationError

    from raydd.sweep.jobs import follow_job, submit_job

    try:  # an UploadError (a ValueError) is already one line at the CLI's error boundary
        job_id = submit_job(args, address, name=name, storage_location=storage, echo=click.echo)
    except AuthenticationError as err:
        reason = " ".join(err.message.split())  # Ray's message spans lines
        raise click.ClickException(
            f"the Ray cluster at {address} refused this client ({reason}); it uses token "
            "authentication: set RAY_AUTH_MODE=token and put the cluster's token in ~/.ray/auth_token "
            "(or RAY_AUTH_TOKEN_PATH), see README 'On a cluster'") from None
    except ConnectionError as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise click.ClickException(f"cannot reach the Ray cluster at {address}: {first}") from None
    click.echo(f"submitted Ray Job {job_id} to {address}")
    if not wait:
        click.echo(f"follow it with: ray job logs --address {address} --follow {job_id}")
        return
    status = follow_job(job_id, address, echo=click.echo)
    click.echo(f"job {job_id}: {status}")
    if status != "SUCCEEDED":
        sys.exit(1)


@click.group(cls=ErrorBoundary)
def sweep() -> None:
    """Run a sweep file on Ray: every grid point a Tune trial, every set evaluated on an actor pool."""


def _parse_overrides(ctx, param, texts: tuple[str, ...]) -> tuple:
    from raydd.spec.overrides import OverrideError, parse_override

    try:
        return tuple(parse_override(text) for text in texts)
    except OverrideError as err:
        raise click.BadParameter(str(err), ctx, param) from None


@sweep.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(exists=True, dir_okay=False))
@click.argument("overrides", metavar="[KEY.PATH=VALUE]...", nargs=-1, callback=_parse_overrides)
@click.option("--storage", default=None, help=STORAGE_HELP)
@click.option("--address", default=None, help=ADDRESS_HELP)
@click.option("--wait", is_flag=True, help="With a Ray Job: follow its logs until it ends.")
@click.option("--in-job", is_flag=True, hidden=True, help="Set by the Ray Job's entrypoint.")
@click.option("--dry-run", is_flag=True,
              help="Validate SPEC as a submit does, then print the trials, the evaluation jobs, the resources "
                   "and an estimated wall time; start nothing, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: print it as one JSON object.")
def submit(spec_path: str, overrides: tuple, storage: str | None, address: str | None, wait: bool, in_job: bool,
           dry_run: bool, as_json: bool) -> None:
    """Validate SPEC, then run the sweep here or submit it to a Ray cluster.

    Each KEY.PATH=VALUE sets one setting of SPEC before it is validated, as if the file said so
    (`distill.iterations=10 'grid.ipc=[1,10]'`); VALUE is YAML. The sweep is stored with them put
    in, and `sweep resume` runs it so. Results go to <storage>/<name>/results/ (Parquet); a table
    is printed at the end.
    """
    from raydd.spec import load_spec
    from raydd.storage import absolute

    if as_json and not dry_run:
        raise click.UsageError("--json goes with --dry-run")
    job_address = _job_address(address, in_job)
    # every problem at once, exit 2, before Ray
    spec = load_spec(spec_path, storage=storage, data=_data_mode(job_address, in_job), overrides=overrides)
    spec = spec.with_storage(absolute(spec.storage))  # the job and the workers run elsewhere
    if dry_run:
        _print_plan(spec, as_json, here=job_address is None and _runs_here(in_job))
        return
    if job_address:
        from raydd.sweep.jobs import spec_argument

        try:
            job_spec = spec_argument(spec_path, os.getcwd())  # the job runs from a copy of the cwd
        except ValueError as err:
            raise click.ClickException(str(err)) from None
        args = ["submit", job_spec, *(o.text for o in overrides), "--storage", spec.storage]
        _run_as_job(args, job_address, spec.name, spec.storage, wait)
        return
    _finish(*_drive(spec, in_job, resume=False))


@sweep.command()
@click.argument("target", metavar="SWEEP")
@click.option("--storage", default=None, help=TARGET_STORAGE_HELP)
@click.option("--address", default=None, help=ADDRESS_HELP)
@click.option("--wait", is_flag=True, help="With a Ray Job: follow its logs until it ends.")
@click.option("--in-job", is_flag=True, hidden=True, help="Set by the Ray Job's entrypoint.")
def resume(target: str, storage: str | None, address: str | None, wait: bool, in_job: bool) -> None:
    """Continue an interrupted sweep: finished trials and written rows are kept, the rest run.

    SWEEP is the sweep's name or the sweep file that started it; the sweep stored under its root
    is what runs.
    """
    from raydd.storage import absolute

    name, storage = locate_sweep(target, storage)
    storage = absolute(storage)
    job_address = _job_address(address, in_job)
    if job_address:
        _run_as_job(["resume", name, "--storage", storage], job_address, name, storage, wait)
        return
    from raydd.sweep.runner import load_stored_spec

    _finish(*_drive(load_stored_spec(name, storage, data=_data_mode(None, in_job)), in_job, resume=True))


@sweep.command()
@click.argument("target", metavar="SWEEP")
@click.option("--storage", default=None, help=TARGET_STORAGE_HELP)
@click.option("--job", "stop_ray_job", is_flag=True,
              help="Also stop the sweep's Ray Job (with SIGINT, so it stays resumable).")
def stop(target: str, storage: str | None, stop_ray_job: bool) -> None:
    """Ask a running sweep to stop resumably (`raydd sweep resume SWEEP` continues it).

    SWEEP is the sweep's name or the sweep file that started it. Writes <storage>/<name>/STOP;
    the driver sees it within a second, saves Tune's state, lets running evaluations finish and exits.
    """
    from raydd.sweep.runner import request_stop

    name, storage = locate_sweep(target, storage)
    location = request_stop(name, storage)
    click.echo(f"stop requested ({location})")
    if stop_ray_job:
        from raydd.sweep.jobs import stop_job

        job_id = stop_job(name, storage)
        click.echo(f"stopping Ray Job {job_id}" if job_id else "no Ray Job recorded for this sweep")


@sweep.command()
@click.argument("target", metavar="SWEEP")
@click.option("--storage", default=None, help=TARGET_STORAGE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print it as one JSON object (keys: docs/sweep-format.md).")
def status(target: str, storage: str | None, as_json: bool) -> None:
    """Trials done / running / failed / pending and evaluations done / pending of a sweep.

    SWEEP is the sweep's name or the sweep file that started it.
    """
    from raydd.sweep.layout import SweepPaths
    from raydd.sweep.runner import stored_overrides, sweep_status

    s = sweep_status(*locate_sweep(target, storage))
    if as_json:
        from raydd.sweep.report import status_dict

        _echo_json(status_dict(s))
        return
    overrides = stored_overrides(SweepPaths(s.root))  # read before printing: a damaged record is one line
    click.echo(f"sweep {s.name} at {s.root}")
    click.echo(f"trials: {', '.join(f'{n} {state}' for state, n in s.counts.items())} (of {len(s.trials)})")
    if s.searched:
        click.echo("  (stopped: ASHA ended the trial early, its set is not evaluated)")
        click.echo(_searched_table(s.searched))
    for key, state in () if s.searched else s.trials.items():
        click.echo(f"  {state:8s} {key}")
    click.echo(f"evaluations: {s.evaluations_done} done, {s.evaluations_pending} pending "
               f"(of {s.evaluations_total})")
    for location, problem in s.bad_results.items():
        click.echo(f"  bad result file {location}: {problem} (resume moves it aside and redoes its job)")
    click.echo(f"driver: {s.driver}" if s.driver else "driver: none (not running)")
    if s.stop_requested:
        click.echo("a stop was requested")
    if s.job:
        click.echo(f"Ray Job: {json.loads(s.job).get('job_id')}")
    if overrides:
        click.echo(f"submitted with overrides: {' '.join(overrides)}")


def _echo_json(document: dict) -> None:
    """One JSON document on stdout, standard JSON (no NaN); warnings go to stderr."""
    from raydd import strict_json

    click.echo(strict_json.dumps(document, indent=2))


@sweep.command("list")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, help="Storage root to look under.")
@click.option("--json", "as_json", is_flag=True, help="Print it as one JSON object (keys: docs/sweep-format.md).")
def list_sweeps(storage: str, as_json: bool) -> None:
    """The sweeps under a storage root: name, state, trials and evaluation jobs done of their total."""
    from raydd.sweep.report import list_dict

    listed = list_dict(storage, warn=lambda line: click.echo(line, err=True))
    if as_json:
        _echo_json(listed)
        return
    if not listed["sweeps"]:
        click.echo(f"no sweeps under {listed['storage']}")
    for s in listed["sweeps"]:
        if s["state"] == "unreadable":  # why is on stderr already
            click.echo(f"{s['name']:24s} {s['state']}")
            continue
        click.echo(f"{s['name']:24s} {s['state']:10s}  trials {s['trials_done']}/{s['trials_total']}  "
                   f"evaluations {s['evaluations_done']}/{s['evaluations_total']}")


def _sampled_text(sampled: dict) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(sampled.items()))


def _searched_table(trials, extra=None) -> str:
    """One line per searched trial: state, iteration, objective, [extra columns,] sampled values, key."""
    import pandas as pd

    rows = [{"state": t.state, "iteration": t.iteration,
             "objective": "-" if t.objective is None else f"{t.objective:.4f}",
             **(extra(t) if extra else {}), "sampled": _sampled_text(t.sampled), "trial": t.point.trial_key}
            for t in trials]
    return pd.DataFrame(rows).to_string(index=False, justify="left")


@sweep.command()
@click.argument("target", metavar="SWEEP")
@click.option("--storage", default=None, help=TARGET_STORAGE_HELP)
@click.option("--top", default=5, show_default=True, type=click.IntRange(min=1), help="How many trials to show.")
@click.option("--json", "as_json", is_flag=True, help="Print it as one JSON object (keys: docs/sweep-format.md).")
def best(target: str, storage: str | None, top: int, as_json: bool) -> None:
    """The searched trials with the best validation objective, and their test accuracy.

    SWEEP is the sweep's name or the sweep file that started it. Ranked by the probe's validation
    accuracy (the search's metric) alone; the test accuracy (mean over students and evaluation
    seeds, per KD mode, from the result rows) is shown for the report and is never used to choose.
    """
    from raydd.results import ResultsError
    from raydd.results.store import ResultsNotFoundError
    from raydd.sweep.layout import SweepPaths
    from raydd.sweep.report import best_dict, test_accuracies
    from raydd.sweep.runner import load_results, load_stored_spec
    from raydd.sweep.search import ranked, searched_trials

    name, storage = locate_sweep(target, storage)
    spec = load_stored_spec(name, storage, data="skip")
    if spec.search is None:
        raise click.ClickException(f"sweep {name!r} has no search section; its sets are compared by "
                                   f"`raydd results show {SweepPaths.of(storage, name).results}`")
    paths = SweepPaths.of(storage, name)
    trials = ranked(searched_trials(spec, paths), spec.search.mode)
    try:
        rows = load_results(paths.results)
    except (ResultsNotFoundError, FileNotFoundError):  # nothing evaluated yet: the ranking stands alone
        rows = None
    except ResultsError as err:  # a bad or empty result file: the ranking stands alone, saying why
        click.echo(f"warning: no test accuracies shown: {err}", err=True)
        rows = None
    if as_json:
        _echo_json(best_dict(spec, trials, trials[:top], rows))
        return

    def test_columns(trial) -> dict:  # `-` where no row is written yet
        return {f"test kd-{kd}": "-" if acc is None else f"{acc:.4f}"
                for kd, acc in test_accuracies(rows, trial, spec).items()}

    click.echo(f"sweep {name}: {len(trials)} searched trial(s) with a {spec.search.metric} "
               f"(validation, {spec.search.mode}); the best {min(top, len(trials))}, best first")
    if trials:
        click.echo(_searched_table(trials[:top], extra=test_columns))
