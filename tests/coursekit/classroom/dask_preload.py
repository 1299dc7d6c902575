"""Preloaded into the test cluster's Dask workers (``dask worker --preload``): a grade whose staged
files hold KILL_MARKER kills the worker process that runs it, with SIGKILL, before grading.

It stands in for a submission that takes its worker down (the sandbox keeps real student code
from doing that): the grade is rerun on another worker, which dies too, and the client must
write an error row for that student and grade the others.
"""
import os
import signal

from coursekit.classroom import cluster

KILL_MARKER = b"# coursekit-test: this grade kills its Dask worker"
_run_job = getattr(cluster.run_job, "__wrapped__", cluster.run_job)  # Dask may load a preload twice


def run_job(job, kit):
    if any(KILL_MARKER in data for _, data in job.files):
        os.kill(os.getpid(), signal.SIGKILL)
    return _run_job(job, kit)


run_job.__wrapped__ = _run_job
cluster.run_job = run_job  # the client sends the function by name: workers look it up here
