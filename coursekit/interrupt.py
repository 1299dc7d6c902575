"""Ctrl-C that always ends the command: exit code 130, one line, within a bound.

Class mode runs Dask's threads beside the main one.  The kernel hands SIGINT to any thread that
does not block it, and Python acts on it only when the main thread next runs Python code: a main
thread waiting in a system call that a signal to another thread does not interrupt would never
see it, and the command would hang after Ctrl-C (seen on busy machines).

Inside :func:`watched`, every thread blocks SIGINT and one watcher thread takes it with
``sigwait``.  The watcher arms :func:`end_if_stuck` at once, then interrupts the main thread: the
usual KeyboardInterrupt unwinds (grades in flight are cancelled, the cluster closes, every grade
already written stays), and if that has not left :func:`watched` within ``CLOSE_SECONDS``, every
process below this one is killed and the process exits 130.  The ``coursekit`` command bounds
its own exit the same way (``cli.run``).
"""
from __future__ import annotations

import _thread
import contextlib
import os
import signal
import sys
import threading
from typing import Iterator

from .errors import EXIT_INTERRUPTED

CLOSE_SECONDS = 20  # after Ctrl-C, what the cleanup (cancelling grades, closing a cluster) may take
LINE = "coursekit: interrupted"

_said = threading.Event()  # set once the line is printed: once per command, by whoever comes first
_saying = threading.Lock()


def new_command() -> None:
    """A command starts in this process (cli.main): an interruption of it gets its own line."""
    _said.clear()


def say_interrupted() -> None:
    """Print the one line that says the command was interrupted (once per command)."""
    with _saying:
        if not _said.is_set():
            _said.set()
            print(LINE, file=sys.stderr, flush=True)


def end_if_stuck(seconds: float = CLOSE_SECONDS) -> threading.Timer:
    """After Ctrl-C: unless the process has ended within ``seconds``, kill every process below
    it (nannies, workers, their grading children) and exit with the interrupted code.  Returns
    the timer: cancel it once the cleanup is over.  The next grade sweeps the killed graders'
    cgroups and folders."""
    import psutil

    def kill_and_exit() -> None:
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()
        say_interrupted()
        os._exit(EXIT_INTERRUPTED)

    timer = threading.Timer(seconds, kill_and_exit)
    timer.daemon = True
    timer.start()
    return timer


@contextlib.contextmanager
def watched(seconds: float = CLOSE_SECONDS) -> Iterator[None]:
    """Within: SIGINT is taken by a watcher thread, whichever thread it was sent to (module doc).

    Enter it before starting the threads it must cover (they inherit the blocked SIGINT, as do
    child processes; the kit's own children end by SIGKILL, never by SIGINT).  Outside the main
    thread, or without ``pthread_sigmask``, it changes nothing.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    leaving = threading.Event()
    guards: list[threading.Timer] = []

    def watch() -> None:
        while True:
            signal.sigwait({signal.SIGINT})
            if leaving.is_set():
                return
            if not guards:  # a second Ctrl-C changes nothing: the bound already holds
                guards.append(end_if_stuck(seconds))
                _thread.interrupt_main(signal.SIGINT)

    watcher = threading.Thread(target=watch, name="coursekit-ctrl-c", daemon=True)
    watcher.start()
    try:
        yield
    finally:  # the cleanup is over: a caller in its own process (a notebook) goes on
        leaving.set()
        signal.pthread_kill(watcher.ident, signal.SIGINT)  # wakes its sigwait: it returns
        watcher.join(timeout=5)
        for guard in guards:
            guard.cancel()
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
