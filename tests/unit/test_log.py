"""The log (log.py) during a long stage: a line every interval saying it is alive and what it
does, as a CI log needs; nothing when quiet."""

from __future__ import annotations

import io
import time

from pybin2img.log import Log


def test_a_long_stage_says_every_interval_it_is_alive_and_what_it_does() -> None:
    stream = io.StringIO()
    log = Log(stream=stream, heartbeat=0.05)
    with log.stage("compile") as stage, log.progress(lambda: "C compilation, 3 of 7"):
        time.sleep(0.2)
        stage.summary = "done"
    lines = stream.getvalue().splitlines()
    assert any("still running: C compilation, 3 of 7" in line for line in lines[:-1])
    assert lines[-1].startswith("compile ")
    assert lines[-1].endswith("done")


def test_quiet_means_no_progress_lines() -> None:
    stream = io.StringIO()
    log = Log(verbosity=-1, stream=stream, heartbeat=0.05)
    with log.stage("compile"), log.progress(lambda: "busy"):
        time.sleep(0.2)
    assert stream.getvalue() == ""
