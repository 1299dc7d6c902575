"""Ctrl-C always ends the command (coursekit/interrupt.py): exit code 130, one line, its tree killed."""
import signal
import subprocess
import sys
import time

import psutil

WAIT = 120  # seconds for the process to end; generous for a busy machine


def _run(tmp_path, body: str) -> tuple[subprocess.Popen, int]:
    """Run ``body`` in a fresh interpreter that starts a sleeping child first; returns the
    process and the child's pid, once the body has said it is ready."""
    script = tmp_path / "script.py"
    script.write_text(
        "import subprocess, sys, threading, time\n"
        "from coursekit import interrupt\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print(child.pid, flush=True)\n" + body)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def _finish(proc: subprocess.Popen) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()


def _ctrl_c_when_ready(proc: subprocess.Popen) -> tuple[str, str]:
    """Once the script has printed "ready", Ctrl-C (SIGINT) and its output to the end."""
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    return _finish(proc)


def _gone(pid: int) -> bool:
    end = time.monotonic() + 60  # SIGKILL was sent; on a busy machine it may take a moment to land
    while time.monotonic() < end:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_a_cleanup_that_hangs_is_killed_with_its_tree(tmp_path):
    """After Ctrl-C, if the cleanup never ends, does end_if_stuck kill the children and exit 130 with one line?"""
    proc, child = _run(tmp_path, "interrupt.end_if_stuck(1.0)\ntime.sleep(600)  # a cleanup that never ends\n")
    out, err = _finish(proc)
    assert proc.returncode == 130 and err.strip() == interrupt_line(), err
    assert _gone(child)


def test_ctrl_c_ends_a_main_thread_that_never_wakes(tmp_path):
    """The busy machine's hang: the main thread waits in a call that a SIGINT taken by another thread
    does not interrupt.  Within watched(), does Ctrl-C still end the process, its child killed?"""
    proc, child = _run(tmp_path, (
        "threads = [threading.Thread(target=time.sleep, args=(600,), daemon=True) for _ in range(4)]\n"
        "with interrupt.watched(seconds=1.0):\n"
        "    for thread in threads:\n"
        "        thread.start()  # like Dask's: the kernel may hand them the signal\n"
        "    print('ready', flush=True)\n"
        "    threading.Event().wait()  # never set: a wait that no signal ends\n"))
    out, err = _ctrl_c_when_ready(proc)
    assert proc.returncode == 130 and err.strip() == interrupt_line(), err
    assert _gone(child)


def test_ctrl_c_raises_keyboard_interrupt_in_the_main_thread(tmp_path):
    """Within watched(), does Ctrl-C still reach the main thread as KeyboardInterrupt at once, so the
    usual cleanup runs, and once out of watched() does the caller go on (no guard left armed,
    SIGINT handled as before)?"""
    proc, child = _run(tmp_path, (
        "try:\n"
        "    with interrupt.watched(seconds=2.0):\n"
        "        print('ready', flush=True)\n"
        "        while True:\n"
        "            time.sleep(0.05)\n"
        "except KeyboardInterrupt:\n"
        "    print('cleaned up', flush=True)\n"
        "time.sleep(4.0)  # the caller goes on: the guard was cancelled when watched() was left\n"
        "child.kill()\n"
        "import signal\n"
        "print(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []), flush=True)\n"))
    out, err = _ctrl_c_when_ready(proc)
    assert proc.returncode == 0, err  # not ended by the guard: its exit code is 130
    assert out.split() == ["cleaned", "up", "False"]  # caught in the main thread; SIGINT unblocked again


def test_outside_the_main_thread_watched_changes_nothing():
    """A library caller in a thread of its own: watched() must neither fail nor block its signals."""
    from coursekit import interrupt

    seen = []

    def in_a_thread():
        before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        with interrupt.watched():
            seen.append(signal.pthread_sigmask(signal.SIG_BLOCK, []) == before)

    import threading

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == [True]


def interrupt_line() -> str:
    from coursekit import interrupt

    return interrupt.LINE


def test_main_in_a_callers_process_is_not_ended_after_ctrl_c(monkeypatch, capsys):
    """cli.main called in-process (a test, a notebook) returns 130 on KeyboardInterrupt and arms no
    timer that would end the caller's process 20 s later; only the coursekit command (cli.run) does."""
    import threading

    from coursekit import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_build", interrupted)
    timers = {t for t in threading.enumerate() if isinstance(t, threading.Timer)}
    for _ in range(2):  # each command's interruption gets its line
        assert cli.main(["build"]) == 130
        assert capsys.readouterr().err.strip() == interrupt_line()
    assert {t for t in threading.enumerate() if isinstance(t, threading.Timer)} == timers
