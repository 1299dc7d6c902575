"""Machines that do not run the client's kit are refused before anyone is graded (classroom/workerkit.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.classroom import cluster as clusters
from coursekit.classroom import workerkit
from coursekit.config import load_config
from coursekit.errors import WorkerKitError

from .test_batch_distributed import START_SECONDS, _dask, _stop, _wait

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).parent


def test_identity_is_this_kit_and_its_numpy():
    import numpy

    found = workerkit.identity()
    assert found == clusters.kit_identity()
    assert Path(found["where"]) == clusters.KIT and len(found["code"]) == 64
    assert found["numpy"] == numpy.__version__ and found["python"] == f"{sys.version_info[0]}.{sys.version_info[1]}"


def test_differences_say_what_differs():
    mine = {"code": "a" * 64, "where": "/here", "python": "3.11", "numpy": "2.4.6"}
    assert workerkit.differences(mine, dict(mine)) == []
    assert workerkit.differences(mine, {**mine, "code": None, "where": None}) == ["it has no coursekit package"]
    other = workerkit.differences(mine, {**mine, "code": "b" * 64, "where": "/site/coursekit", "numpy": "1.26.4"})
    assert "/site/coursekit" in other[0] and "other code" in other[0]
    assert other[1] == "its numpy is 1.26.4, the client's 2.4.6"


def test_identity_runs_by_value_where_the_kit_cannot_be_imported(tmp_path):
    """Sent by value (as to a Dask machine), does identity() run in a Python that has no coursekit?"""
    import cloudpickle

    with workerkit.by_value():
        payload = cloudpickle.dumps(workerkit.identity)
    assert b"_make_function" in payload  # the function itself, not a reference to its module
    hide = (HERE / "kitless_preload.py").read_text()
    program = hide + "\nimport pickle, json\nprint(json.dumps(pickle.loads(sys.stdin.buffer.read())()))\n"
    found = json.loads(subprocess.run([sys.executable, "-I", "-c", program], input=payload, cwd=tmp_path,
                                      capture_output=True, check=True).stdout)
    assert found["code"] is None and found["numpy"] == workerkit.identity()["numpy"]
    assert "coursekit" not in subprocess.run([sys.executable, "-I", "-c", hide + "\nimport coursekit"],
                                             capture_output=True, text=True, cwd=tmp_path).stdout


@pytest.fixture(scope="module")
def mismatched_cluster(tmp_path_factory):
    """`dask scheduler` without the kit, and three workers on 127.0.0.1: one right, one without the kit,
    one with another numpy."""
    root = tmp_path_factory.mktemp("dask-kits")
    file = root / "scheduler.json"
    env = {**os.environ, "TMPDIR": str(root), "MPLBACKEND": "Agg"}
    processes = [subprocess.Popen(_dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                        "--scheduler-file", str(file), "--preload", str(HERE / "kitless_preload.py")),
                                  env=env, cwd=root,
                                  stdout=subprocess.DEVNULL, stderr=open(root / "scheduler.log", "wb"))]
    try:
        _wait(lambda: file.exists() and file.stat().st_size, START_SECONDS, "the scheduler file")
        for name, preload in (("right", None), ("kitless", "kitless_preload.py"),
                              ("old-numpy", "other_numpy_preload.py")):
            extra = ["--preload", str(HERE / preload)] if preload else []
            processes.append(subprocess.Popen(
                _dask("worker", "--scheduler-file", str(file), "--nthreads", "1", "--nworkers", "1", "--host",
                      "127.0.0.1", "--no-dashboard", "--local-directory", str(root), "--name", name, *extra),
                env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=open(root / f"{name}.log", "wb")))
        from distributed import Client

        address = json.loads(file.read_text())["address"]
        with Client(address, timeout=START_SECONDS) as client:
            client.wait_for_workers(3, timeout=START_SECONDS)
        yield address
    finally:
        _stop(processes)


def test_a_cluster_with_other_kits_is_refused_naming_each_machine(mismatched_cluster):
    """Is a cluster refused before any grade, naming the kitless scheduler, the kitless and the
    other-numpy worker, and do they survive the question (a task of the kit would end the kitless one)?"""
    from distributed import Client

    course = load_config(ROOT / "course.toml")
    with pytest.raises(WorkerKitError) as raised:
        with clusters.open_cluster(course, mismatched_cluster):
            pytest.fail("a cluster with other kits was opened")
    message = str(raised.value)
    assert message.startswith("Nothing was graded")
    lines = [line for line in message.splitlines() if line.startswith("  - ")]
    assert len(lines) == 3, message
    assert lines[0] == f"  - the scheduler at {mismatched_cluster}: it has no coursekit package", message
    assert any(line.startswith("  - the worker") and "it has no coursekit package" in line for line in lines), message
    assert any("its numpy is 0.0.0+other" in line for line in lines), message
    assert "`pip install coursekit` installs an unrelated package" in message
    with Client(mismatched_cluster, timeout=START_SECONDS) as client:
        assert len(client.scheduler_info()["workers"]) == 3


def test_a_scheduler_is_compared_by_its_code_alone():
    """A scheduler runs no student code: is another numpy there no difference, but other code one?"""
    mine = {"code": "a" * 64, "where": "/here", "python": "3.11", "numpy": "2.4.6"}
    assert workerkit.differences(mine, {**mine, "numpy": "1.26.4", "python": "3.12"}, ()) == []
    assert workerkit.differences(mine, {**mine, "code": None}, ()) == ["it has no coursekit package"]


def test_a_worker_that_joins_with_another_kit_stops_the_class(mismatched_cluster):
    """Checked once (the right worker), does the engine refuse the workers that joined since, and
    check each worker once?"""
    from distributed import Client

    with Client(mismatched_cluster, timeout=START_SECONDS) as client:
        workers = client.scheduler_info()["workers"]
        right = next(address for address, info in workers.items() if info.get("name") == "right")
        engine = clusters.Engine(client, mismatched_cluster, False, 1, None, checked={right})
        with pytest.raises(WorkerKitError) as raised:
            engine.check_new_workers()
        message = str(raised.value)
        assert message.startswith("Grading stopped at a worker that joined"), message
        assert "the scheduler" not in message and right not in message
        assert len([line for line in message.splitlines() if line.startswith("  - the worker")]) == 2
        engine.checked = set(workers)
        engine.check_new_workers()  # nothing new: no question asked, nothing refused


def test_a_class_stopped_by_a_joining_worker_keeps_the_grade_that_finished(tmp_path, monkeypatch):
    """When the check of a joining worker stops the class, is the grade that had just finished still
    written, and the error raised to the caller?"""
    import shutil

    from coursekit.classroom.batch import RESULTS, grade_batch
    from coursekit.classroom.results import STUDENTS

    submitted = tmp_path / "submitted"
    for student in ("s1", "s2", "s3"):
        shutil.copytree(ROOT / "solutions" / "fc_net", submitted / student / "fc_net")
    looks = []

    def check_new_workers(engine):
        looks.append(engine.address)
        if len(looks) == 2:  # the look after the first grade finished
            raise WorkerKitError("Grading stopped at a worker that joined (test)")

    monkeypatch.setattr(clusters.Engine, "check_new_workers", check_new_workers)
    with pytest.raises(WorkerKitError, match="Grading stopped"):
        grade_batch(load_config(ROOT / "course.toml"), "fc_net", submitted, tmp_path / "out", workers=1, fast=True,
                    progress=False)
    assert len(list((tmp_path / "out").glob(f"{STUDENTS}/*/{RESULTS}"))) == 1
