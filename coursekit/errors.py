"""Typed, located errors for the kit.

Every error the kit raises on purpose derives from :class:`CoursekitError`.  The CLI
turns them into one clean paragraph on stderr and a non-zero exit code; anything else
is a bug in the kit and keeps its traceback.
"""
from __future__ import annotations


class CoursekitError(Exception):
    """Base class: ``str(err)`` is a complete message that says what to do next."""

    exit_code = 1


class UsageError(CoursekitError):
    """The command line asks for something the kit cannot do (an unknown file format, ...)."""

    exit_code = 2


class ConfigError(CoursekitError):
    """``course.toml`` is missing, malformed, or has an unknown key or a wrong type."""

    exit_code = 2


class DatasetError(CoursekitError):
    """The CIFAR-10 folder is missing, incomplete or corrupt."""

    exit_code = 3


class DownloadError(CoursekitError):
    """The dataset could not be downloaded or verified."""

    exit_code = 4


class BuildError(CoursekitError):
    """The annotated source cannot be turned into the release and solution tracks."""

    exit_code = 5


class GradingError(CoursekitError):
    """The grader itself cannot run (not a student failure: those are check results)."""

    exit_code = 6
