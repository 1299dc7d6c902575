"""Class mode on a real Dask cluster: a scheduler and two workers started with the `dask` command-line
tools as separate processes on 127.0.0.1, a worker SIGKILLed mid-batch, and the same grades as one
machine gives (fast mode, no CIFAR-10)."""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

from coursekit.classroom.batch import GRADES_CSV, RESULTS, grade_batch
from coursekit.classroom.results import STUDENTS
from coursekit.config import load_config
from coursekit.grade import grade_submission
from coursekit.selfcheck.catalogue import apply_mistake, load_catalogue

from ..grade.conftest import inject

ROOT = Path(__file__).resolve().parents[3]
PRELOAD = Path(__file__).with_name("dask_preload.py")
ASSIGNMENT = "fc_net"
SEED = 20260  # the batch's seed: each student's hidden seed is drawn from it and the id
START_SECONDS = 300  # for the scheduler and the workers to come up, on a busy machine
KILL_SECONDS = 600  # for a worker to be busy with a grade while others are finished
STOP_SECONDS = 60  # for every process of the cluster to end after SIGTERM
POLL = 0.05
FULL = 36.0
KILL_MARKER = "# coursekit-test: this grade kills its Dask worker"  # dask_preload.KILL_MARKER
HOSTILE = {  # student -> (file, function, code) injected into the solution
    "s5-hang": ("cs231n/layers.py", "affine_forward", "while True:\n    pass"),
    "s6-fork-bomb": ("cs231n/layers.py", "relu_forward",
                     "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"),
    "s7-memory-hog": ("cs231n/layers.py", "softmax_loss", "hog = bytearray(8 * 2**30)"),
}  # each stopped the same way on any machine, however busy: a deadline, the limits


@pytest.fixture(scope="module")
def quick_course():
    """The course with short limits, so that a hanging or greedy submission costs seconds."""
    course = load_config(ROOT / "course.toml")
    limits = dataclasses.replace(course.limits, check_seconds=4, memory_mb=1024, wall_seconds=60)
    return dataclasses.replace(course, limits=limits)


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """submitted/ for 8 students: complete, partial, broken, skeleton, and four hostile ones."""
    root = tmp_path_factory.mktemp("class") / "submitted"
    solution, release = ROOT / "solutions" / ASSIGNMENT, ROOT / "release" / ASSIGNMENT
    folder = lambda student: root / student / ASSIGNMENT  # noqa: E731
    shutil.copytree(solution, folder("s1-complete"))
    shutil.copytree(solution, folder("s2-partial"))
    catalogue = {m.id: m for m in load_catalogue(ROOT / "autograder" / "mistakes.toml")}
    apply_mistake(catalogue["adam-no-bias-correction"], folder("s2-partial"))
    shutil.copytree(solution, folder("s3-broken"))
    with open(folder("s3-broken") / "cs231n" / "optim.py", "a") as f:
        f.write("\ndef broken(:\n")
    shutil.copytree(release, folder("s4-skeleton"))
    for student, (rel, function, code) in HOSTILE.items():
        shutil.copytree(solution, folder(student))
        inject(folder(student), rel, function, code)
    shutil.copytree(solution, folder("s8-crash-at-import"))
    layers = folder("s8-crash-at-import") / "cs231n" / "layers.py"
    layers.write_text("import ctypes\nctypes.string_at(0)  # a segmentation fault at import\n" + layers.read_text())
    return root


@dataclasses.dataclass
class Cluster:
    address: str
    processes: list[subprocess.Popen]  # the scheduler, then each `dask worker` (a nanny)
    scratch: Path  # the workers' --local-directory
    tmp: Path  # TMPDIR of every process of the cluster
    logs: Path

    def worker_processes(self) -> list[psutil.Process]:
        """The worker processes (each nanny's child that runs tasks)."""
        found = []
        for nanny in self.processes[1:]:
            found += [p for p in psutil.Process(nanny.pid).children() if "spawn" in " ".join(p.cmdline())]
        return found

    def tree(self) -> list[psutil.Process]:
        found = []
        for proc in self.processes:
            try:
                root = psutil.Process(proc.pid)
                found += [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        return found


def _dask(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("dask")), *args]


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """`dask scheduler` and two `dask worker`s (nanny + worker process each) on 127.0.0.1."""
    from distributed import Client

    root = tmp_path_factory.mktemp("dask")
    scratch, tmp, logs = root / "scratch", root / "tmp", root / "logs"
    for folder in (scratch, tmp, logs):
        folder.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
           "MPLBACKEND": "Agg"}
    file = root / "scheduler.json"
    processes = [subprocess.Popen(_dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                        "--scheduler-file", str(file)), env=env, cwd=root,
                                  stdout=subprocess.DEVNULL, stderr=open(logs / "scheduler.log", "wb"))]
    try:
        _wait(lambda: file.exists() and file.stat().st_size, START_SECONDS, "the scheduler file")
        for name in ("w1", "w2"):
            processes.append(subprocess.Popen(
                _dask("worker", "--scheduler-file", str(file), "--nthreads", "1", "--nworkers", "1",
                      "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(scratch),
                      "--preload", str(PRELOAD), "--name", name),
                env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=open(logs / f"{name}.log", "wb")))
        address = json.loads(file.read_text())["address"]
        with Client(address, timeout=START_SECONDS) as client:
            client.wait_for_workers(2, timeout=START_SECONDS)
        yield Cluster(address, processes, scratch, tmp, logs)
    finally:
        _stop(processes)


def _wait(condition, seconds: float, what: str):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(POLL)
    raise AssertionError(f"waited {seconds} s for {what}")


def _stop(processes: list[subprocess.Popen]) -> None:
    for proc in reversed(processes):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in processes:
        try:
            proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _kill_a_busy_worker(cluster: Cluster, out: Path, killed: list) -> None:
    """Once a grade is written, SIGKILL a worker process that is running a grade (it has children:
    the sandbox) while others are still to be written."""
    def busy():
        if not list(out.glob(f"{STUDENTS}/*/{RESULTS}")):
            return None
        return next((p for p in cluster.worker_processes() if p.children()), None)

    try:
        worker = _wait(busy, KILL_SECONDS, "a worker busy with a grade")
        killed.append((worker.pid, len(list(out.glob(f"{STUDENTS}/*/{RESULTS}")))))
        worker.send_signal(signal.SIGKILL)
    except (AssertionError, psutil.Error) as err:
        killed.append(err)


@pytest.fixture(scope="module")
def distributed(quick_course, klass, dask_cluster, tmp_path_factory):
    """The class graded on the cluster, one worker SIGKILLed mid-batch; the client's temp folder apart."""
    out, client_tmp = tmp_path_factory.mktemp("graded"), tmp_path_factory.mktemp("client-tmp")
    killed: list = []
    killer = threading.Thread(target=_kill_a_busy_worker, args=(dask_cluster, out, killed), daemon=True)
    before, tempfile.tempdir = tempfile.tempdir, str(client_tmp)
    try:
        killer.start()
        report = grade_batch(quick_course, ASSIGNMENT, klass, out, cluster=dask_cluster.address, fast=True,
                             progress=False, seed=SEED)
    finally:
        tempfile.tempdir = before
    killer.join(timeout=KILL_SECONDS)
    return report, out, killed, client_tmp


def read_csv(out: Path) -> dict[str, dict]:
    with open(out / GRADES_CSV, newline="") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


def test_every_student_is_graded_once_though_a_worker_died(distributed, klass):
    """With a worker SIGKILLed during a grade, is every student graded, and written exactly once?"""
    report, out, killed, _ = distributed
    students = sorted(p.name for p in klass.iterdir())
    assert len(killed) == 1 and isinstance(killed[0], tuple), killed
    assert killed[0][1] < len(students)  # the kill came before the batch was over
    assert not psutil.pid_exists(killed[0][0]) or psutil.Process(killed[0][0]).status() == psutil.STATUS_ZOMBIE
    assert report.written == sorted(set(report.written), key=report.written.index)  # no student twice
    assert sorted(report.written) == students and report.graded == len(students)
    assert sorted(read_csv(out)) == students
    assert report.errors == [], report.errors
    rows = read_csv(out)
    assert float(rows["s1-complete"]["score"]) == FULL
    assert float(rows["s2-partial"]["score"]) == FULL - 0.5  # adam's next_w only
    assert float(rows["s4-skeleton"]["score"]) == 0.0
    for student in (*HOSTILE, "s8-crash-at-import", "s3-broken"):
        assert 0 <= float(rows[student]["score"]) < FULL, student


def test_every_grade_equals_a_single_machine_grade_with_its_seed(distributed, klass, quick_course):
    """Does `coursekit grade` of each submission alone, with the seed its results.json records, give the
    same score on every check (and, for the well-behaved ones, the same feedback on every case)?"""
    _, out, _, _ = distributed
    for student in sorted(p.name for p in klass.iterdir()):
        results = json.loads((out / STUDENTS / student / RESULTS).read_text())
        seed = results["extra_data"]["hidden_seed"]
        alone = grade_submission(quick_course, ASSIGNMENT, klass / student / ASSIGNMENT, fast=True, seed=seed)
        assert alone.to_gradescope()["score"] == results["score"], student
        got = {t["name"]: t for t in results["tests"]}
        for test in alone.to_gradescope()["tests"]:
            assert got[test["name"]]["score"] == test["score"], (student, test["name"])
            if student not in HOSTILE and student != "s8-crash-at-import":
                assert got[test["name"]]["output"] == test["output"], (student, test["name"])


def test_the_embedded_local_cluster_gives_the_same_grades_csv(distributed, klass, quick_course, tmp_path):
    """With the same seed, does the embedded local cluster (no --cluster) write the same grades.csv?"""
    _, out, _, _ = distributed
    local = grade_batch(quick_course, ASSIGNMENT, klass, tmp_path, workers=2, fast=True, progress=False, seed=SEED)
    assert local.cluster.startswith("tcp://127.0.0.1:") and local.cluster != distributed[0].cluster
    assert (tmp_path / GRADES_CSV).read_text() == (out / GRADES_CSV).read_text()


def test_a_grade_that_kills_its_worker_twice_is_an_error_row(dask_cluster, klass, quick_course, tmp_path):
    """Does a grade that kills every worker it runs on end, after two deaths, as that student's error
    row that says so, while another student is graded in full?"""
    submitted = tmp_path / "submitted"
    shutil.copytree(klass / "s1-complete", submitted / "s0-kills-its-worker")
    layers = submitted / "s0-kills-its-worker" / ASSIGNMENT / "cs231n" / "layers.py"
    layers.write_text(layers.read_text() + "\n" + KILL_MARKER + "\n")
    shutil.copytree(klass / "s1-complete", submitted / "s1-complete")
    report = grade_batch(quick_course, ASSIGNMENT, submitted, tmp_path / "out", cluster=dask_cluster.address,
                         fast=True, progress=False)
    rows = read_csv(tmp_path / "out")
    assert float(rows["s1-complete"]["score"]) == FULL and not rows["s1-complete"]["error"]
    assert rows["s0-kills-its-worker"]["score"] == "0"
    assert "KilledWorker" in rows["s0-kills-its-worker"]["error"]
    assert "died 2 times" in rows["s0-kills-its-worker"]["error"]
    assert [student for student, _ in report.errors] == ["s0-kills-its-worker"]
    _wait(lambda: len(dask_cluster.worker_processes()) == 2, START_SECONDS, "the nannies to restart the workers")


def test_no_process_or_temporary_folder_is_left_behind(distributed, dask_cluster):
    """After the batches, is no sandbox process left, and no grade's folder in the workers' or the
    client's temporary folders; and after the cluster is stopped, no process of it at all?"""
    _, _, _, client_tmp = distributed
    for worker in dask_cluster.worker_processes():
        assert worker.children() == [], [c.cmdline() for c in worker.children()]
    for folder in (dask_cluster.scratch, dask_cluster.tmp, client_tmp):
        assert list(folder.rglob("coursekit-*")) == [], folder
    tree = dask_cluster.tree()
    _stop(dask_cluster.processes)
    _wait(lambda: not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE], STOP_SECONDS,
          "every process of the cluster to end")
    left = [p for p in dask_cluster.scratch.rglob("worker-*") if p.is_dir()]  # (Dask keeps empty .dirlock files)
    assert left == []  # each worker removed its scratch folder, and the killed one's was purged
