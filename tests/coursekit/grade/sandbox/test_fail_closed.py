"""`coursekit grade` where bubblewrap works, where it cannot, and in the degraded mode on purpose.

The container case (root, no CAP_SYS_ADMIN, user namespaces blocked) is made for real: a
user namespace whose ``max_user_namespaces`` is 0, then ``capsh`` drops CAP_SYS_ADMIN.
"""
from __future__ import annotations

import ast
import json
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from coursekit.classroom.gradescope import build_bundle

from .conftest import SEEN, copy_solution, inject, probe

ROOT = Path(__file__).resolve().parents[4]
CAPSH = "/usr/sbin/capsh"
RUN_SECONDS = 180
FULL_FAST = 36  # fc_net's points in fast mode
ISOLATION_EXIT = 6  # GradingError's exit code


def coursekit(*args, env=None, wrap=None):
    """Run the installed `coursekit` command (as a user would), capturing its output.

    ``wrap``: a function from a shell command line to the argv that runs it in some setting.
    """
    command = [str(Path(sys.executable).parent / "coursekit"), "--config", str(ROOT / "course.toml"), *args]
    if wrap is not None:
        command = wrap(shlex.join(command))
    return subprocess.run(command, capture_output=True, text=True, timeout=RUN_SECONDS,
                          env={**os.environ, **(env or {})})


def without_cap_sys_admin(line: str) -> list[str]:
    return [CAPSH, "--drop=cap_sys_admin", "--", "-c", line]


def in_a_container(line: str) -> list[str]:
    """As root in a user namespace where no further user namespace may be made, without CAP_SYS_ADMIN."""
    inner = shlex.join(without_cap_sys_admin(line))
    return ["unshare", "-U", "-r", "-m", "sh", "-c", f"echo 0 > /proc/sys/user/max_user_namespaces && {inner}"]


@pytest.fixture
def solution(quick_course, tmp_path):
    return copy_solution(quick_course, "fc_net", tmp_path / "submission")


def test_grade_with_bubblewrap_gives_full_marks(solution):
    """Where bwrap works, does `coursekit grade --fast` give the solution full marks, isolated?"""
    done = coursekit("grade", "fc_net", str(solution), "--fast")
    assert done.returncode == 0, done.stderr
    assert f"{FULL_FAST} / {FULL_FAST} points" in done.stdout and "bubblewrap" in done.stdout


def test_missing_bwrap_refuses_with_one_paragraph(solution, tmp_path):
    """With no bwrap binary, does `coursekit grade` refuse, saying what is missing and how to fix it?"""
    done = coursekit("grade", "fc_net", str(solution), "--fast", env={"COURSEKIT_BWRAP": str(tmp_path / "none")})
    assert done.returncode == ISOLATION_EXIT and done.stdout == ""
    assert "refuses to run student code" in done.stderr and "--insecure" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_insecure_still_refuses_course_files_readable_by_students(solution, tmp_path):
    """With --insecure and no bwrap, is a course whose files others can read still refused?"""
    if all(os.stat(p).st_mode & 0o001 for p in ROOT.parents) and os.stat(ROOT).st_mode & 0o004:
        done = coursekit("grade", "fc_net", str(solution), "--fast", "--insecure",
                         env={"COURSEKIT_BWRAP": str(tmp_path / "none")})
        assert done.returncode == ISOLATION_EXIT and "readable by other users" in done.stderr
    else:
        pytest.skip(f"{ROOT} is not readable by other users here")


@pytest.mark.skipif(not os.path.exists(CAPSH) or os.geteuid() != 0, reason="needs root and capsh")
def test_without_cap_sys_admin_bwrap_still_isolates_or_grading_refuses(solution):
    """With CAP_SYS_ADMIN dropped, does the grade either run in bwrap (user namespaces) or refuse?"""
    done = coursekit("grade", "fc_net", str(solution), "--fast", wrap=without_cap_sys_admin)
    if done.returncode == 0:
        assert "bubblewrap" in done.stdout and f"{FULL_FAST} / {FULL_FAST}" in done.stdout
    else:
        assert done.returncode == ISOLATION_EXIT and "refuses to run student code" in done.stderr


@pytest.mark.skipif(not os.path.exists(CAPSH) or shutil.which("unshare") is None, reason="needs capsh and unshare")
def test_container_without_namespaces_refuses_for_real(solution):
    """In a Gradescope-like container (no CAP_SYS_ADMIN, user namespaces blocked), does the default refuse?"""
    check = subprocess.run(in_a_container("true"), capture_output=True, timeout=30)
    if check.returncode != 0:
        pytest.skip(f"cannot make a user namespace to block nesting in: {check.stderr.decode()[-200:]}")
    done = coursekit("grade", "fc_net", str(solution), "--fast", wrap=in_a_container)
    assert done.returncode == ISOLATION_EXIT, (done.stdout, done.stderr)
    assert "could not create the sandbox" in done.stderr and "--insecure" in done.stderr


@pytest.fixture(scope="module")
def gradescope(quick_course, tmp_path_factory):
    """The fc_net bundle unpacked as Gradescope does, with a hostile submission; root readable by root only."""
    root = tmp_path_factory.mktemp("autograder")
    os.chmod(root, 0o755)  # as /autograder: everyone may pass; the kit inside becomes root's
    bundle = build_bundle(quick_course, "fc_net", root / "autograder.zip")
    with zipfile.ZipFile(bundle) as z:
        z.extractall(root / "source")
    bundle.unlink()
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    submission = copy_solution(quick_course, "fc_net", root / "submission")
    kit_file = root / "source" / "kit" / "source" / "cs231n" / "layers.py"
    inject(submission, "cs231n/layers.py", "relu_forward",
           probe(f"import os\nseen = (os.getuid(), os.access({str(kit_file)!r}, os.R_OK), "
                 f"os.path.exists({str(root / 'source' / 'kit' / 'course.toml')!r}))"))
    inject(submission, "cs231n/optim.py", "adam", probe(
        "import os\ntry:\n    open('/autograder-results-probe', 'w')\n    seen = 'wrote'\n"
        "except OSError as err:\n    seen = type(err).__name__"))
    return root


@pytest.mark.skipif(os.geteuid() != 0, reason="the degraded mode switches uid: it needs root")
def test_gradescope_bundle_grades_in_the_degraded_mode_when_bwrap_cannot_run(gradescope):
    """Without bwrap, does the bundle's run_autograder grade on purpose in the degraded mode, kit unreadable?"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(AUTOGRADER_ROOT=str(gradescope), COURSEKIT_FAST="1", COURSEKIT_BWRAP="/nonexistent/bwrap",
               PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
    done = subprocess.run(["bash", str(gradescope / "run_autograder")], capture_output=True, text=True,
                          env=env, timeout=RUN_SECONDS)
    assert done.returncode == 0, done.stderr
    results = json.loads((gradescope / "results" / "results.json").read_text())
    assert "DEGRADED" in results["extra_data"]["protections"]["active"][0]
    relu = next(t for t in results["tests"] if "ReLU: forward" in t["name"])
    uid, can_read_kit, sees_config = ast.literal_eval(SEEN.findall(relu["output"])[-1])
    assert uid != 0 and not can_read_kit and not sees_config
    assert results["score"] < FULL_FAST  # the probes cost their own checks
    assert not Path("/autograder-results-probe").exists()


def test_run_autograder_writes_results_json_when_the_grader_breaks(tmp_path):
    """When the grader itself fails (unknown assignment), is a valid results.json with score 0 still written?"""
    results = tmp_path / "results"
    done = subprocess.run([sys.executable, str(ROOT / "autograder" / "run_autograder.py"), "no_such_assignment",
                           str(tmp_path), str(results)], capture_output=True, text=True, timeout=RUN_SECONDS)
    assert done.returncode != 0
    data = json.loads((results / "results.json").read_text())
    assert data["score"] == 0 and "could not run" in data["output"]


def test_run_autograder_writes_results_json_on_an_internal_error(tmp_path, monkeypatch):
    """When grading raises something unexpected (MemoryError), is results.json still written with score 0?"""
    sys.path.insert(0, str(ROOT / "autograder"))
    try:
        import run_autograder
    finally:
        sys.path.pop(0)
    import coursekit.grade

    def explode(*args, **kwargs):
        raise MemoryError("a 306-byte header claimed a huge shape")

    monkeypatch.setattr(coursekit.grade, "grade_submission", explode)
    upload = tmp_path / "upload"
    shutil.copytree(ROOT / "solutions" / "fc_net" / "cs231n", upload / "cs231n")
    code = run_autograder.main(["fc_net", str(upload), str(tmp_path / "results")])
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert code != 0 and data["score"] == 0 and "MemoryError" in data["output"]


def read_only_cgroups(line: str) -> list[str]:
    """In a private mount namespace whose cgroup hierarchies are remounted read-only (as in many containers)."""
    remount = ("for m in $(awk '$3 ~ /^cgroup/ {print $2}' /proc/self/mounts); do "
               "mount -o remount,bind,ro \"$m\" || exit 97; done")
    return ["unshare", "-m", "sh", "-c", f"{remount} && {line}"]


@pytest.mark.parametrize("cgroups", ["empty", "read-only"])
def test_no_cgroup_refuses_with_one_paragraph(solution, tmp_path, cgroups):
    """With no usable cgroup (an empty hierarchy, or a read-only one as in many containers), does the default
    refuse with the grader-error exit code and one paragraph: what is missing, how to enable it, which mode
    accepts the risk?"""
    if cgroups == "empty":
        (tmp_path / "no-cgroups").mkdir()
        done = coursekit("grade", "fc_net", str(solution), "--fast",
                         env={"COURSEKIT_CGROUP_ROOT": str(tmp_path / "no-cgroups")})
    elif os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("remounting the cgroup hierarchies read-only needs root and unshare")
    else:
        done = coursekit("grade", "fc_net", str(solution), "--fast", wrap=read_only_cgroups)
        assert done.returncode != 97, "could not remount the cgroups read-only"
    assert done.returncode == ISOLATION_EXIT and done.stdout == "", (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    message = done.stderr
    assert "without cgroup limits" in message and "memory limit" in message and "process limit" in message
    assert "COURSEKIT_CGROUP_ROOT" in message and "--insecure" in message
    if cgroups == "read-only":
        assert "Read-only file system" in message
