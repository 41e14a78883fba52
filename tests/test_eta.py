"""The ETA of progress lines (raydd.eta): its arithmetic and its text."""

from __future__ import annotations

import pytest

from raydd.eta import Countdown, duration_text, eta_text


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (0.4, "0s"), (45, "45s"), (59.6, "1m00s"), (192, "3m12s"), (3600, "1h00m"),
    (2 * 3600 + 5 * 60 + 30, "2h05m"), (27 * 3600, "1d03h"), (-3, "0s"),
])
def test_duration_text_shows_the_two_largest_units(seconds, text):
    assert duration_text(seconds) == text


def test_nothing_done_yet_has_no_rate():
    assert eta_text(0, 10, 30.0) == "eta ?"
    assert eta_text(3, 10, 0.0) == "eta ?"
    assert eta_text(3, 10, float("nan")) == "eta ?"


def test_all_done_has_nothing_left():
    assert eta_text(10, 10, 30.0) == "eta 0s" and eta_text(12, 10, 30.0) == "eta 0s"


@pytest.mark.parametrize("done, total, elapsed, text", [
    (1, 4, 10.0, "eta 30s"),  # 3 units left at 10 s each
    (5, 10, 96.0, "eta 1m36s"),
    (0.25, 1.0, 60.0, "eta 3m00s"),  # fractions: a trial's progress
    (1, 1001, 36.0, "eta 10h00m"),
])
def test_time_left_is_the_work_left_at_the_measured_rate(done, total, elapsed, text):
    assert eta_text(done, total, elapsed) == text


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_countdown_goes_by_the_rate_since_its_start():
    clock = FakeClock()
    countdown = Countdown(4, clock)
    clock.now += 20
    assert countdown.tick() == "eta 1m00s"  # 1 of 4 in 20 s
    clock.now += 20
    assert countdown.at(3) == "eta 13s"  # 3 of 4 in 40 s
    assert countdown.tick() == "eta 0s"


class Trial:
    def __init__(self, key: str) -> None:
        self.config = {"point": {"trial_key": key}}


def test_a_trials_progress_line_has_its_eta_from_the_progress_the_driver_saw():
    from raydd.sweep.callbacks import TrialProgressPrinter

    lines, clock, trial = [], FakeClock(), Trial("t0")
    printer = TrialProgressPrinter(lines.append, every_s=10.0, clock=clock)
    printer.on_trial_result(0, [], trial, {"iteration": 40, "progress": 0.4, "loss": 1.0})  # resumed at 40 %
    clock.now += 30
    printer.on_trial_result(0, [], trial, {"iteration": 55, "progress": 0.55, "loss": 0.9})
    assert lines[0] == "[trial] t0 iteration 40 (40%), loss 1.0000, eta ?"
    assert lines[1] == "[trial] t0 iteration 55 (55%), loss 0.9000, eta 1m30s"  # 15 % in 30 s, 45 % left
