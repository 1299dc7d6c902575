"""Attacks from inside the child, one probe per student function, all in one fast grade.

Each probe is the code an attacker would write; the test reads what it observed (see
``conftest.probe``) and what is left on the machine after the grade.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from coursekit.grade import grade_submission

from .conftest import (GONE_SECONDS, REFORK, SURVIVOR, copy_solution, inject, kill_all, probe, seen, survivors,
                       wait_until_gone)

LAYERS, OPTIM = "cs231n/layers.py", "cs231n/optim.py"
SHM_KEY = 0x4B4B4B4B  # a SysV shared-memory key no one else uses
SECRET = "do-not-leak-4711"
DISK_ATTEMPT_MB = 128  # more than the tmpfs allows
CHILD_MEMORY_MB = 200  # per forked process; four of them exceed TREE_MEMORY_MB together
TREE_MEMORY_MB = 512
START_SECONDS = 60  # for the grader subprocess to get its child going
DEEP_TREE_LEVELS = 200
UNTOUCHED = ("affine_forward", "affine_backward", "fc_init", "dropout_forward")  # no probe on their path


def shm_keys() -> set[int]:
    """Keys of the machine's SysV shared-memory segments (as the grader sees them)."""
    lines = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    return {int(line.split()[0]) for line in lines if line.strip()}


@pytest.fixture(scope="module")
def attacked(quick_course, tmp_path_factory):
    """One fast grade of a submission whose functions attack the grader; (report, course, host marker)."""
    tmp = tmp_path_factory.mktemp("attacks")
    marker = tmp / "host-file"
    marker.write_text("the grader's temp files")
    submission = copy_solution(quick_course, "fc_net", tmp / "submission")
    paths = [str(quick_course.source_dir / LAYERS), str(quick_course.path), str(quick_course.data.cifar10_dir),
             str(marker), "/var/tmp", str(Path(__file__).resolve()), str(quick_course.root / "coursekit")]
    folders = [str(quick_course.root), str(Path.home())]
    probes = {
        # files that must not exist; and any file under the course root or home that is not part of
        # the Python installation (bwrap creates the parent folders of what it binds, empty)
        (LAYERS, "relu_forward"): textwrap.dedent(f"""\
            import os, sys
            seen = [p for p in {paths!r} if os.path.exists(p)]
            allowed = tuple(os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, os.path.dirname(np.__file__)))
            for top in {folders!r}:
                for folder, dirs, files in os.walk(top):
                    dirs[:] = [d for d in dirs if not os.path.realpath(os.path.join(folder, d)).startswith(allowed)]
                    seen += [os.path.join(folder, f) for f in files]"""),
        (LAYERS, "softmax_loss"): textwrap.dedent("""\
            import socket
            try:
                socket.create_connection(('1.1.1.1', 53), timeout=2)
                seen = 'connected'
            except OSError as err:
                seen = type(err).__name__
            seen = (seen, sorted(name for _, name in socket.if_nameindex()))"""),
        (LAYERS, "layernorm_forward"): textwrap.dedent("""\
            import os
            cmds = []
            for pid in os.listdir('/proc'):
                if pid.isdigit():
                    try:
                        cmds.append(open('/proc/' + pid + '/cmdline', 'rb').read().decode(errors='replace'))
                    except OSError:
                        pass
            status = open('/proc/self/status').read()
            cap = [line.split()[1] for line in status.splitlines() if line.startswith('CapEff')][0]
            nnp = [line.split()[1] for line in status.splitlines() if line.startswith('NoNewPrivs')][0]
            seen = (cmds, os.environ.get('SECRET_TOKEN'), os.getuid(), cap, nnp)"""),
        (LAYERS, "batchnorm_forward"): textwrap.dedent("""\
            import os
            seen = []
            for d in ['/dev/shm', '/var/tmp', '/run/lock', '/usr', os.path.dirname(np.__file__), '/grade/code']:
                try:
                    open(os.path.join(d, 'ck-x'), 'w').write('x')
                    seen.append(d)
                except OSError:
                    pass"""),
        (OPTIM, "sgd_momentum"): textwrap.dedent(f"""\
            seen = 0
            try:
                for i in range({DISK_ATTEMPT_MB // 16}):
                    with open('big%d' % i, 'wb') as f:
                        for _ in range(16):
                            f.write(b'0' * 2**20)
                            f.flush()
                            seen += 1
            except OSError:
                pass"""),
        (OPTIM, "rmsprop"): f"import ctypes\nseen = ctypes.CDLL(None).shmget({SHM_KEY}, 4096, 0o1666)",
        (OPTIM, "adam"): textwrap.dedent("""\
            import json, os
            line = json.dumps({'event': 'jail', 'active': ['FORGED protection'], 'failed': []}) + '\\n'
            for fd in range(3, 64):
                try:
                    os.write(fd, line.encode())
                except OSError:
                    pass
            seen = 'forged'"""),
        # once per child: its first call (the large-input case) starts the tree, which then holds the
        # child's process limit, so a second call's fork would fail (EAGAIN) and report nothing
        (LAYERS, "dropout_backward"): ("import sys\nif not hasattr(sys, 'ck_forked'):\n    sys.ck_forked = True\n"
                                       + textwrap.indent(REFORK, "    ") + "\nseen = 'forked'"),
    }
    for (rel, function), body in probes.items():
        inject(submission, rel, function, probe(body))
    (submission / "cs231n" / "x.py").mkdir()  # a folder named like a module
    (submission / "cs231n" / "loop").symlink_to(submission / "cs231n")
    deep = submission / "deep"
    for _ in range(DEEP_TREE_LEVELS):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "y.py").write_text("x = 1\n")
    before = shm_keys()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SECRET_TOKEN", SECRET)
        report = grade_submission(quick_course, "fc_net", submission, fast=True)
    return {t.key: t for t in report.tests}, report, before


def test_course_dataset_home_and_host_tmp_are_absent(attacked):
    """Can student code see source/, course.toml, the course root, the dataset, home or the host's /tmp?"""
    tests, _, _ = attacked
    assert seen(tests["relu_forward"]) == []


def test_no_network(attacked):
    """Is there no network at all (no route out, only a loopback interface)?"""
    tests, _, _ = attacked
    outcome, interfaces = seen(tests["softmax_loss"])
    assert outcome != "connected" and set(interfaces) <= {"lo"}


def test_grader_process_and_environment_are_invisible(attacked):
    """Does the child see no other process's command line, no secret, and run without root or capabilities?"""
    tests, _, _ = attacked
    cmds, secret, uid, cap_eff, no_new_privs = seen(tests["layernorm_forward"])
    assert len(cmds) == 2 and "--args" in cmds[0] and "harness.py" in cmds[1], cmds  # bwrap's init, the harness
    assert not any("pytest" in cmd or "coursekit-grade-" in cmd for cmd in cmds), cmds
    assert secret is None and uid != 0
    assert int(cap_eff, 16) == 0 and no_new_privs == "1"


def test_nothing_outside_the_run_folder_is_writable(attacked):
    """Are /dev/shm, /var/tmp, /run/lock, the Python installation and the staged code unwritable?"""
    tests, _, _ = attacked
    assert seen(tests["batchnorm_forward"]) == []


def test_disk_is_bounded_for_all_files_together(attacked, quick_course):
    """Do many files together stay under file_size_mb (a size-limited tmpfs, not a per-file cap)?"""
    tests, _, _ = attacked
    written_mb = seen(tests["sgd_momentum"])
    assert written_mb <= quick_course.limits.file_size_mb < DISK_ATTEMPT_MB


def test_sysv_shared_memory_does_not_outlive_the_child(attacked):
    """Is a SysV segment the child created gone with it (a private IPC namespace)?"""
    tests, _, before = attacked
    assert seen(tests["rmsprop"]) >= 0  # it was created, inside the child
    assert SHM_KEY not in shm_keys() - before


def test_protections_cannot_be_forged(attacked):
    """Is a 'jail' line written by student code on every descriptor ignored by the report?"""
    tests, report, _ = attacked
    assert seen(tests["adam"]) == "forged"
    assert "FORGED" not in json.dumps(report.protections)
    assert any("bubblewrap" in line for line in report.protections["active"])


def test_refork_tree_does_not_outlive_the_grade(attacked):
    """After the grade, is every process of a re-forking tree gone?"""
    tests, _, _ = attacked
    assert seen(tests["dropout_backward"]) == "forked"
    left = wait_until_gone()
    kill_all(left)
    assert left == []


def test_memory_limit_holds_for_the_whole_tree(quick_course, tmp_path):
    """Do four processes together stay under memory_mb (a cgroup), though each alone is under it?"""
    course = dataclasses.replace(quick_course, limits=dataclasses.replace(
        quick_course.limits, check_seconds=30, memory_mb=TREE_MEMORY_MB))
    assert 4 * CHILD_MEMORY_MB > course.limits.memory_mb > CHILD_MEMORY_MB
    submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    inject(submission, LAYERS, "relu_forward", textwrap.dedent(f"""\
        import builtins
        if hasattr(builtins, 'hogged'):  # once only: later checks call relu_forward too
            return np.maximum(x, 0), x
        builtins.hogged = True
        """) + probe(textwrap.dedent(f"""\
        import os, time
        kids = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                try:
                    hog = np.ones({CHILD_MEMORY_MB} * 2**20 // 8)
                    time.sleep(1)
                    os._exit(0)
                except BaseException:
                    os._exit(1)
            kids.append(pid)
        seen = [os.waitpid(pid, 0)[1] for pid in kids]""")))
    report = grade_submission(course, "fc_net", submission, fast=True)
    if not any("memory" in line and "cgroup" in line for line in report.protections["active"]):
        pytest.skip("no memory cgroup on this machine: " + "; ".join(report.protections["failed"]))
    statuses = seen({t.key: t for t in report.tests}["relu_forward"])
    held = sum(status == 0 for status in statuses)
    assert held * CHILD_MEMORY_MB < course.limits.memory_mb, statuses


def test_children_die_with_a_killed_grader(quick_course, tmp_path):
    """When the grader is SIGKILLed mid-grade, does the child's whole re-forking tree die too?"""
    submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    inject(submission, LAYERS, "affine_forward", REFORK + "\nimport time\ntime.sleep(60)\nout, cache = None, None")
    script = (f"import dataclasses, sys\nfrom coursekit.config import load_config\n"
              f"from coursekit.grade import grade_submission\n"
              f"course = load_config({str(quick_course.path)!r})\n"
              f"course = dataclasses.replace(course, limits=dataclasses.replace(course.limits, check_seconds=60))\n"
              f"grade_submission(course, 'fc_net', {str(submission)!r}, fast=True)\n")
    grader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + START_SECONDS
        while not survivors() and time.monotonic() < end:
            time.sleep(0.2)
        assert survivors(), "the hostile child never started"
    finally:
        grader.send_signal(signal.SIGKILL)
        grader.wait()
    left = wait_until_gone()
    kill_all(left)
    assert left == []


def test_folder_named_like_a_module_and_deep_trees_are_harmless(attacked):
    """Beside the probes, do a folder named x.py, a symlink loop and a 200-level tree leave the other checks intact?"""
    tests, _, _ = attacked
    for key in UNTOUCHED:
        assert tests[key].passed, tests[key].output()


def test_sandbox_limits_are_reported_from_the_parent(attacked, quick_course):
    """Does the report list the namespaces, the fresh uid and the cgroup limits the parent set up?"""
    _, report, _ = attacked
    text = " ".join(report.protections["active"])
    assert "network namespaces" in text and "unprivileged uid" in text and "tmpfs" in text
    if os.geteuid() == 0 and Path("/sys/fs/cgroup/pids").is_dir():
        assert f"pids.max = {quick_course.limits.max_processes}" in text


def test_a_zip_bomb_from_the_child_costs_its_check_not_the_grade(quick_course, tmp_path):
    """If student code makes the harness return a compressed bomb, does that check fail and results.json get written?"""
    submission = copy_solution(quick_course, "fc_net", tmp_path / "submission")
    inject(submission, LAYERS, "relu_forward", textwrap.dedent("""\
        import sys
        harness = sys.modules['__main__']
        original = harness._savez
        def bomb(f, **k):  # this task's outputs only: 80 MB of zeros in about 80 KB
            harness._savez = original
            np.savez_compressed(f, value=np.zeros(10**7))
        if not hasattr(harness, 'bombed'):  # once, so that the test stays quick
            harness.bombed = True
            harness._savez = bomb
        out, cache = np.maximum(x, 0), x"""))
    results = tmp_path / "results.json"
    report = grade_submission(quick_course, "fc_net", submission, fast=True, results_path=results)
    tests = {t.key: t for t in report.tests}
    bombed = [c for c in tests["relu_forward"].cases if "compressed" in c.detail]
    assert bombed and not any(c.passed for c in bombed)  # the bombed task's case, and nothing else lost
    assert tests["relu_backward"].passed and tests["affine_forward"].passed
    assert json.loads(results.read_text())["score"] == report.score


def test_no_cgroup_outlives_the_grade(attacked):
    """After a grade (with a re-forking tree), are the grade's cgroups gone?"""
    left = [p for p in Path("/sys/fs/cgroup").glob(f"**/coursekit-{os.getpid()}-*") if p.is_dir()]
    assert left == []


@pytest.mark.skipif(not os.access("/sys/fs/cgroup/pids", os.W_OK), reason="no writable pids cgroup (v1)")
def test_cgroups_of_a_killed_grader_are_emptied_and_swept():
    """Is a cgroup left by a grader that is gone removed at the next sweep, with the processes still in it killed?"""
    from coursekit.grade.sandbox.registry import sweep

    stale = [Path(f"/sys/fs/cgroup/{c}/coursekit-999999999-1-dead") for c in ("pids", "freezer")]  # no such grader
    for folder in stale:
        folder.mkdir(exist_ok=True)
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        for folder in stale:
            (folder / "cgroup.procs").write_text(str(sleeper.pid))
        assert sweep().cgroups >= 1
        assert sleeper.wait(timeout=GONE_SECONDS) == -signal.SIGKILL
        assert not any(folder.exists() for folder in stale)
    finally:
        sleeper.kill()
        for folder in stale:
            if folder.exists():
                folder.rmdir()
