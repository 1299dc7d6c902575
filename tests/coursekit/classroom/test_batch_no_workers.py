"""A class on a scheduler without workers says so, then goes on when a worker joins (classroom/batch.py)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from coursekit.classroom import batch
from coursekit.classroom.batch import grade_batch
from coursekit.config import load_config

from .test_batch_distributed import START_SECONDS, _dask, _stop, _wait

ROOT = Path(__file__).resolve().parents[3]
ASSIGNMENT = "fc_net"
NOTICE_SECONDS = 60  # for the notice to come, on a busy machine (it is due after 0.5 s)


def test_grades_waiting_without_workers_are_announced_then_graded(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(batch, "NO_WORKER_SECONDS", 0.5)
    submitted = tmp_path / "submitted"
    for student in ("alice", "bob"):
        shutil.copytree(ROOT / "solutions" / ASSIGNMENT, submitted / student / ASSIGNMENT)
    file, env = tmp_path / "scheduler.json", {**os.environ, "TMPDIR": str(tmp_path), "MPLBACKEND": "Agg"}
    processes = [subprocess.Popen(_dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                        "--scheduler-file", str(file)), env=env, cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait(lambda: file.exists() and file.stat().st_size, START_SECONDS, "the scheduler file")
        address = json.loads(file.read_text())["address"]
        result: list = []
        grading = threading.Thread(target=lambda: result.append(grade_batch(
            load_config(ROOT / "course.toml"), ASSIGNMENT, submitted, tmp_path / "out", cluster=address,
            fast=True, progress=False)), daemon=True)
        grading.start()
        said = ""
        end = time.monotonic() + NOTICE_SECONDS
        while "no Dask worker" not in said and grading.is_alive() and time.monotonic() < end:
            time.sleep(0.1)
            said += capsys.readouterr().err
        assert f"no Dask worker has been connected to the scheduler at {address}" in said
        assert "Start workers" in said and not result  # nothing graded, nothing given up
        processes.append(subprocess.Popen(
            _dask("worker", "--scheduler-file", str(file), "--nthreads", "1", "--nworkers", "1", "--host",
                  "127.0.0.1", "--no-dashboard", "--local-directory", str(tmp_path)),
            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        grading.join(timeout=START_SECONDS)
        assert result and result[0].graded == 2 and not result[0].errors
        assert capsys.readouterr().err.count("no Dask worker") == 0  # said once
    finally:
        _stop(processes)
