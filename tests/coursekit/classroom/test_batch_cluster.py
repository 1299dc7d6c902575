"""Choosing the cluster of class mode, and what a worker receives (no cluster started here but the
unreachable one)."""
from __future__ import annotations

import dataclasses
import pickle
import shutil
import socket
import time
from pathlib import Path

import pytest

from coursekit.classroom import cluster as clusters
from coursekit.classroom.batch import grade_batch, student_seed
from coursekit.cli import main
from coursekit.config import _parse, load_config
from coursekit.errors import EXIT_GRADER, EXIT_USAGE, ConfigError, GradingError
from coursekit.grade.checks.accuracy import DataSlice
from coursekit.grade.job import staged_digest, unpack_into
from coursekit.grade.pipeline import prepare_grade

ROOT = Path(__file__).resolve().parents[3]
ASSIGNMENT = "fc_net"
QUICK_CONNECT = 2  # seconds to give up on a scheduler that is not there


@pytest.fixture(scope="module")
def course():
    return load_config(ROOT / "course.toml")


@pytest.fixture
def submitted(tmp_path):
    shutil.copytree(ROOT / "release" / ASSIGNMENT, tmp_path / "submitted" / "alice" / ASSIGNMENT)
    return tmp_path / "submitted"


def closed_port() -> int:
    """A port of 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raw_config(**grading) -> dict:
    import tomllib

    raw = tomllib.loads((ROOT / "course.toml").read_text())
    raw["grading"].update(grading)
    return raw


@pytest.mark.parametrize("address", ["tcp://10.0.0.5:8786", "tls://sched.example.org:8786", "local"])
def test_a_scheduler_address_in_course_toml_is_read(address):
    """Is `[grading] cluster` read into Course.cluster ("local" when absent)?"""
    assert _parse(raw_config(cluster=address), ROOT / "course.toml").cluster == address
    assert _parse(raw_config(), ROOT / "course.toml").cluster == "local"


@pytest.mark.parametrize("address", ["10.0.0.5:8786", "tcp://10.0.0.5", "http://x:1", "tcp://:8786", "tcp://a b:1"])
def test_a_malformed_cluster_address_is_a_config_error_naming_the_key(address):
    """Is an address that is not tcp://HOST:PORT refused, naming the key and showing the form?"""
    with pytest.raises(ConfigError, match=r"grading\.cluster.*tcp://HOST:PORT"):
        _parse(raw_config(cluster=address), ROOT / "course.toml")


def test_an_unreachable_scheduler_is_one_paragraph_before_any_grading(submitted, tmp_path, monkeypatch, capsys):
    """Does `--cluster` naming no scheduler exit with 6 and one paragraph (the address, what to check),
    with nothing graded or written?"""
    monkeypatch.setattr(clusters, "CONNECT_SECONDS", QUICK_CONNECT)
    address = f"tcp://127.0.0.1:{closed_port()}"
    out = tmp_path / "out"
    start = time.monotonic()
    code = main(["--config", str(ROOT / "course.toml"), "grade", ASSIGNMENT, str(submitted), "--fast",
                 "--out", str(out), "--cluster", address])
    err = capsys.readouterr().err
    assert code == EXIT_GRADER
    assert address in err and "dask scheduler" in err and "--cluster local" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (out / "students").exists()
    assert time.monotonic() - start < 120  # gave up, rather than waiting for Dask's own retries forever


def test_workers_with_a_named_cluster_is_a_usage_error(submitted, tmp_path, capsys):
    """Is --workers (the embedded cluster's size) with --cluster tcp://... refused with a usage error?"""
    code = main(["--config", str(ROOT / "course.toml"), "grade", ASSIGNMENT, str(submitted), "--fast",
                 "--out", str(tmp_path / "out"), "--cluster", f"tcp://127.0.0.1:{closed_port()}", "--workers", "2"])
    assert code == EXIT_USAGE and "--workers" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--cluster", "sched:8786"], ["--workers", "0"]])
def test_bad_cluster_options_are_usage_errors(submitted, argv, capsys):
    """Are a malformed --cluster and --workers 0 refused before anything runs?"""
    assert main(["--config", str(ROOT / "course.toml"), "grade", ASSIGNMENT, str(submitted), "--fast", *argv]) \
        == EXIT_USAGE
    assert "error" in capsys.readouterr().err


def test_student_seeds_differ_and_are_reproducible():
    """Does a batch seed give each student their own seed, the same on every run?"""
    seeds = [student_seed(7, s) for s in ("alice", "bob", "carol")]
    assert len(set(seeds)) == 3 and seeds == [student_seed(7, s) for s in ("alice", "bob", "carol")]
    assert student_seed(8, "alice") != seeds[0] and student_seed(None, "alice") is None


def test_a_job_carries_no_solution_code_and_no_dataset(course, cifar10_dir):  # full mode checks the files
    """Does the job sent to a worker hold the student's staged files and the tasks' inputs, but no
    line of the solution's regions, no reference, and CIFAR-10 only by name?"""
    submission = ROOT / "release" / ASSIGNMENT
    prepared = prepare_grade(course, ASSIGNMENT, submission, fast=False, seed=5,
                             data={"y_train": list(range(49_000))})
    job = pickle.loads(pickle.dumps(prepared.job))
    wire = pickle.dumps(job)
    solution = (ROOT / "source" / "cs231n" / "layers.py").read_text()
    region = solution.split("*****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****")[1]
    region_lines = [line.strip() for line in region.split("# *****END")[0].splitlines() if len(line.strip()) > 20]
    assert region_lines and not any(line.encode() in wire for line in region_lines)
    expected = [array for check in prepared.checks for array in _expected_values(check)]
    assert len(expected) > 50  # the references the judges hold stay on the client
    assert not [a for a in expected if a.nbytes >= 64 and a.tobytes() in wire]
    assert all(isinstance(v, DataSlice) for task in job.training for v in task.inputs.values())
    assert len(wire) < 20_000_000, len(wire)  # inputs (the large gradient cases: about 5 MB), never CIFAR-10 (180 MB)


def _expected_values(check):
    """The reference arrays (``expected``) held by a check's judges, however deeply wrapped."""
    import numpy as np

    todo, seen = [judge for _, judge in check.cases], set()
    while todo:
        fn = todo.pop()
        if id(fn) in seen or not callable(fn):
            continue
        seen.add(id(fn))
        todo += [getattr(fn, "__wrapped__", None)]
        names = getattr(getattr(fn, "__code__", None), "co_freevars", ())
        for name, cell in zip(names, getattr(fn, "__closure__", None) or ()):
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if name == "expected" and isinstance(value, np.ndarray):
                yield value
            elif callable(value):
                todo.append(value)
            elif isinstance(value, (list, tuple)):
                todo += [v for v in value if callable(v)]


def test_a_job_changed_on_the_way_is_refused(course, tmp_path):
    """Does a worker refuse files that do not match the job's content hash, or that leave its folder?"""
    job = prepare_grade(course, ASSIGNMENT, ROOT / "solutions" / ASSIGNMENT, fast=True).job
    changed = dataclasses.replace(job, files=((job.files[0][0], b"import os\n"), *job.files[1:]))
    with pytest.raises(GradingError, match="content hash"):
        unpack_into(changed, tmp_path)
    escaping = (("../escape.py", b""),)
    with pytest.raises(GradingError, match="leaves its folder"):
        unpack_into(dataclasses.replace(job, files=escaping, digest=staged_digest(escaping)), tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing left of either


def test_a_worker_with_other_kit_code_refuses_to_grade(course):
    """Does a worker whose kit differs from the client's refuse, saying so, rather than grade differently?"""
    job = prepare_grade(course, ASSIGNMENT, ROOT / "solutions" / ASSIGNMENT, fast=True).job
    with pytest.raises(GradingError, match="not the client's"):
        clusters.run_job(job, {**clusters.kit_identity(), "numpy": "0.0"})


def test_run_job_outside_a_cluster_grades_like_the_pipeline(course):
    """Does the worker's function, called directly, return the outcomes of every task of the job?"""
    prepared = prepare_grade(course, ASSIGNMENT, ROOT / "solutions" / ASSIGNMENT, fast=True, seed=3)
    execution = clusters.run_job(prepared.job, clusters.kit_identity())
    assert execution.digest == prepared.job.digest
    assert set(execution.outcomes) == {task.id for task in prepared.job.quick}
    assert all(outcome.ok for outcome in execution.outcomes.values())
    assert execution.protections["active"] and execution.wall > 0


def test_grade_batch_names_the_course_toml_key_when_its_scheduler_is_unreachable(course, submitted, tmp_path,
                                                                               monkeypatch):
    """Is a scheduler from course.toml's [grading] cluster reported with that key as its source?"""
    monkeypatch.setattr(clusters, "CONNECT_SECONDS", QUICK_CONNECT)
    named = dataclasses.replace(course, cluster=f"tcp://127.0.0.1:{closed_port()}")
    with pytest.raises(GradingError, match=r"\[grading\] cluster"):
        grade_batch(named, ASSIGNMENT, submitted, tmp_path / "out", fast=True, progress=False)


INTERRUPT_WAIT = 600  # seconds for grades to be written, or the command to end, on a busy machine


def test_ctrl_c_at_the_terminal_keeps_finished_grades_and_leaves_nothing(tmp_path):
    """Does Ctrl-C (SIGINT to the whole foreground process group, workers included) end the command
    with exit code 130 and one line, keep every grade written, and leave no process of it?"""
    import json
    import os
    import signal
    import subprocess
    import sys

    import psutil

    submitted, out = tmp_path / "submitted", tmp_path / "out"
    for student in ("s1", "s2", "s3", "s4", "s5", "s6", "s7-hangs"):
        shutil.copytree(ROOT / "solutions" / ASSIGNMENT / "cs231n", submitted / student / ASSIGNMENT / "cs231n")
    # One student whose code hangs at import: the class cannot finish before the Ctrl-C (fast grades
    # of the others can all be written between two looks at the folder), and its child must die too.
    layers = submitted / "s7-hangs" / ASSIGNMENT / "cs231n" / "layers.py"
    layers.write_text("import time\ntime.sleep(3600)\n" + layers.read_text())
    proc = subprocess.Popen([str(Path(sys.executable).with_name("coursekit")), "--config", str(ROOT / "course.toml"),
                             "grade", ASSIGNMENT, str(submitted), "--fast", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        end = time.monotonic() + INTERRUPT_WAIT
        while len(list(out.glob("students/*/results.json"))) < 2 and time.monotonic() < end and proc.poll() is None:
            time.sleep(0.1)
        group = [proc.pid, *(p.pid for p in psutil.Process(proc.pid).children(recursive=True))]
        os.killpg(proc.pid, signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=120)  # the kit kills what is stuck after 20 s (interrupt.watched)
        except subprocess.TimeoutExpired:  # say where it was: the tree and its threads' states
            tree = [f"{p.pid} {p.status()} {' '.join(p.cmdline())[:150]} threads={p.num_threads()}"
                    for p in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]]
            pytest.fail("still running 120 s after Ctrl-C:\n" + "\n".join(tree) + _where(proc.pid))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    written = list(out.glob("students/*/results.json"))
    assert proc.returncode == 130 and err.strip() == "coursekit: interrupted", err
    assert 2 <= len(written) <= 6 and not (out / "students" / "s7-hangs" / "results.json").exists()
    assert all(json.loads(path.read_text())["score"] == 36.0 for path in written)
    end = time.monotonic() + 60
    while any(map(_alive, group)) and time.monotonic() < end:
        time.sleep(0.1)
    assert not [pid for pid in group if _alive(pid)]


def _where(pid: int) -> str:
    """The client's signal dispositions, and its threads' stacks when py-spy is installed (a developer's
    tool, not a dependency): what a hang after Ctrl-C needs to be explained."""
    import shutil
    import subprocess

    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    text = "\n" + "\n".join(line for line in status if line.startswith(("Sig", "Shd")))
    if shutil.which("py-spy"):
        dump = subprocess.run(["py-spy", "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=60)
        text += "\n" + dump.stdout + dump.stderr
    return text


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
