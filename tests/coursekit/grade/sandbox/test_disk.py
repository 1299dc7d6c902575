"""A disk budget per grade: what a submission makes the grader write on the host, all children together."""
from __future__ import annotations

import dataclasses
import json
import os
import threading

from coursekit.grade import grade_submission
from coursekit.grade.sandbox import isolation

from .conftest import copy_solution

MB = 2**20
BUDGET_MB, FILE_MB = 48, 16
PADDING_MB = 1  # a big staged file: layers.py with a long comment (staging takes a module of up to 2 MB)
SPAM_MB = 6  # what each call of a layer function writes to stderr and to each file it holds
SAMPLE_SECONDS = 0.02
# Appended to layers.py: every function of the module writes SPAM_MB to stderr and to every regular
# file it has open (the harness's output file), then ends the process, so that every task needs a
# fresh child with its own files.
SPAMMING = f"""
import os as _os, stat as _stat, sys as _sys


def _spam(function):
    def spamming(*args, **kwargs):
        _sys.stderr.write('x' * {SPAM_MB} * 2**20)
        _sys.stderr.flush()
        for fd in range(3, 64):
            try:
                if _stat.S_ISREG(_os.fstat(fd).st_mode):
                    _os.write(fd, b'x' * {SPAM_MB} * 2**20)
            except OSError:
                pass
        _os._exit(3)
    return spamming


for _name, _value in list(globals().items()):
    if callable(_value) and getattr(_value, '__module__', None) == __name__ and not _name.startswith('_'):
        globals()[_name] = _spam(_value)
"""


class HostUsage(threading.Thread):
    """The largest size the grade's files reached on the host: its folders, and the deleted files the
    grader still holds open (each child's stderr and outputs), sampled until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.done = 0, threading.Event()

    def run(self):
        while not self.done.wait(SAMPLE_SECONDS):
            self.peak = max(self.peak, self.usage())

    @staticmethod
    def usage() -> int:
        total = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                if "coursekit-grade-" in os.readlink(f"/proc/self/fd/{fd}"):
                    total += os.fstat(int(fd)).st_blocks * 512
            except OSError:
                continue
        for record in (isolation.state_dir_path() / "grades").glob(f"{os.getpid()}-*"):  # this process's grades
            try:
                roots = json.loads(record.read_text())
            except (OSError, ValueError):
                continue
            for root in roots:
                for folder, _, files in os.walk(root):
                    for name in files:
                        try:
                            total += os.lstat(os.path.join(folder, name)).st_blocks * 512
                        except OSError:
                            continue
        return total


def test_a_disk_filling_submission_is_stopped_at_the_budget(quick_course, tmp_path):
    """A submission with a big file whose every function writes to stderr and to the files it holds, then
    crashes (a fresh child, with fresh files, per task): is the host's usage bounded by the grade's disk
    budget, and do the checks it cost say so in one clear line?"""
    course = dataclasses.replace(quick_course, limits=dataclasses.replace(
        quick_course.limits, disk_mb=BUDGET_MB, file_size_mb=FILE_MB))
    submission = copy_solution(course, "fc_net", tmp_path / "submission")
    layers = submission / "cs231n" / "layers.py"
    layers.write_text(layers.read_text() + "#" + "x" * PADDING_MB * MB + "\n" + SPAMMING)
    usage = HostUsage()
    usage.start()
    try:
        report = grade_submission(course, "fc_net", submission, fast=True)
    finally:
        usage.done.set()
        usage.join()
    details = [case.detail for test in report.tests for case in test.cases if not case.passed]
    budget = [d for d in details if "the grade's disk budget of 48 MB" in d]
    spammed = [d for d in details if "last words: xxx" in d]  # children that wrote their SPAM_MB and ended
    assert budget and len(budget) + len(spammed) == len(details), {d[:120] for d in details}
    assert PADDING_MB * MB < usage.peak <= BUDGET_MB * MB, usage.peak / MB
    assert any("disk budget 48 MB" in line for line in report.protections["active"])
