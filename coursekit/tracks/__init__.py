"""Build the student (release) and solution tracks from the one annotated source.

- :func:`build_tracks` writes ``release/``, ``solutions/`` and ``nbgrader_config.py``;
- :func:`check_tracks` says how the committed trees differ from a fresh build;
- :func:`execute_notebooks` runs the source notebooks against the solution.

Modules: ``regions`` (markers, pure), ``modules`` and ``notebooks`` (the two kinds of
file), ``nbconfig`` (nbgrader's configuration), ``generate`` (orchestration), ``trees``
and ``execute``.
"""
from .execute import execute_notebooks
from .regions import END_MARKER, START_MARKER, ParsedSource, parse_regions
from .generate import BuildReport, build_tracks, check_tracks

__all__ = ["BuildReport", "END_MARKER", "ParsedSource", "START_MARKER", "build_tracks",
           "check_tracks", "execute_notebooks", "parse_regions"]
