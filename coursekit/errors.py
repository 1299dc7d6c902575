"""Typed, located errors for the kit.

Every error the kit raises on purpose derives from :class:`CoursekitError`.  The CLI
turns them into one clean paragraph on stderr and a non-zero exit code; anything else
is a bug in the kit and keeps its traceback.
"""
from __future__ import annotations

# Exit codes of the command line (documented in `coursekit --help` and the README).
EXIT_OK = 0  # done; for `check` and `build --check`: nothing wrong was found
EXIT_PROBLEM = 1  # a check found a problem (a mistake slipped through, stale tracks, a class grade with errors)
EXIT_USAGE = 2  # a wrong command line or course.toml
EXIT_DATASET = 3  # CIFAR-10 is missing, incomplete or corrupt
EXIT_DOWNLOAD = 4  # the dataset could not be downloaded or verified
EXIT_BUILD = 5  # source/ cannot be turned into release/ and solutions/
EXIT_GRADER = 6  # the grader itself cannot run (not a student's failure)
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_CODES = ((EXIT_OK, "success"), (EXIT_PROBLEM, "a check found a problem"),
              (EXIT_USAGE, "usage error: command line or course.toml"),
              (EXIT_DATASET, "CIFAR-10 missing or corrupt"), (EXIT_DOWNLOAD, "download failed"),
              (EXIT_BUILD, "build error in source/"), (EXIT_GRADER, "the grader cannot run"),
              (EXIT_INTERRUPTED, "interrupted"))


class CoursekitError(Exception):
    """Base class: ``str(err)`` is a complete message that says what to do next."""

    exit_code = EXIT_PROBLEM


class UsageError(CoursekitError):
    """The command line asks for something the kit cannot do (an unknown file format, ...)."""

    exit_code = EXIT_USAGE


class ConfigError(CoursekitError):
    """``course.toml`` is missing, malformed, or has an unknown key or a wrong type."""

    exit_code = EXIT_USAGE


class DatasetError(CoursekitError):
    """The CIFAR-10 folder is missing, incomplete or corrupt."""

    exit_code = EXIT_DATASET


class DownloadError(CoursekitError):
    """The dataset could not be downloaded or verified."""

    exit_code = EXIT_DOWNLOAD


class BuildError(CoursekitError):
    """The annotated source cannot be turned into the release and solution tracks."""

    exit_code = EXIT_BUILD


class GradingError(CoursekitError):
    """The grader itself cannot run (not a student failure: those are check results)."""

    exit_code = EXIT_GRADER


class IsolationError(GradingError):
    """Student code cannot be isolated as asked (no bubblewrap, no user namespaces...): nothing is run."""


class WorkerKitError(GradingError):
    """A Dask machine runs other kit code, or another Python or numpy, than the client: it grades nobody."""
