"""The progress bar: drawn from Job.progress() after its delay, never for quick jobs."""

from __future__ import annotations

import time

from dataflow.progress import ProgressBar, wanted


class FakeJob:
    job_id = "abc"
    name = "q7"

    def __init__(self) -> None:
        self.calls = 0

    def progress(self) -> dict:
        self.calls += 1
        left = max(0, 10 - self.calls)
        return {"status": "running", "attempt": 1, "morsels": 10, "morsels_left": left,
                "stages": [{"stage": 0, "instances": 1, "done": 0, "rows": 5 * self.calls}]}


def test_bar_moves_with_progress(capsys):
    job = FakeJob()
    bar = ProgressBar(job, delay=0.0, every=0.01)
    time.sleep(0.3)
    bar.stop()
    err = capsys.readouterr().err
    assert job.calls >= 3
    assert "q7" in err and "morsel" in err and "/10" in err


def test_quick_job_draws_nothing(capsys):
    job = FakeJob()
    bar = ProgressBar(job, delay=5.0)
    bar.stop()
    assert job.calls == 0
    assert capsys.readouterr().err == ""


def test_off_when_asked_or_not_a_terminal():
    assert wanted(False) is False
    assert wanted(True) is False  # pytest's stderr is not a terminal
