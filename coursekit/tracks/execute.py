"""Run the source notebooks against the solution, and store them executed.

Each assignment's solution folder (solution modules + source notebooks) is assembled in a
temporary folder; every notebook runs there with nbclient (kernel ``python3``, working
directory = that folder).  Only when all of them ran cleanly are the executed notebooks
written back to ``source/<assignment>/``, so that the next build copies their outputs
into ``solutions/``.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from ..config import Course
from ..errors import BuildError
from .modules import module_tracks
from .notebooks import notebook_bytes, read_source_notebook
from .generate import select_assignments

KERNEL_NAME = "python3"
DEFAULT_TIMEOUT = 600  # seconds per cell


def execute_notebooks(course: Course, assignment_ids: Sequence[str] | None = None, *,
                      env: Mapping[str, str] | None = None,
                      timeout: int = DEFAULT_TIMEOUT) -> list[Path]:
    """Execute the notebooks of the assignments and write them back; returns the paths written.

    ``env`` is added to this process's environment for the kernel.
    """
    kernel_env = {**os.environ, **(env or {})}
    executed: dict[Path, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="coursekit-execute-") as tmp:
        for assignment_id in select_assignments(course, assignment_ids):
            assignment = course.assignment(assignment_id)
            folder = Path(tmp, assignment_id)
            _, solution = module_tracks(course, assignment)
            for relpath, data in solution.items():
                (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
                (folder / relpath).write_bytes(data)
            folder.mkdir(parents=True, exist_ok=True)
            for name in assignment.notebooks:
                nb = read_source_notebook(course, assignment, name)
                _run(nb, folder, f"source/{assignment_id}/{name}", kernel_env, timeout)
                executed[course.source_dir / assignment_id / name] = notebook_bytes(nb)
    for path, data in executed.items():
        partial = path.with_name(f".{path.name}.executing")
        partial.write_bytes(data)
        os.replace(partial, path)
    return list(executed)


def _run(nb, folder: Path, where: str, env: Mapping[str, str], timeout: int) -> None:
    """Execute ``nb`` in place, in ``folder``; a failing cell is a BuildError naming it."""
    current = {"index": None}

    def on_cell_start(cell, cell_index):
        current["index"] = cell_index

    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL_NAME,
                            resources={"metadata": {"path": str(folder)}},
                            record_timing=False, on_cell_start=on_cell_start)
    try:
        client.execute(env=dict(env))
    except CellExecutionError as err:
        raise BuildError(f"{where}, cell index {current['index']}: raised {err.ename}: "
                         f"{err.evalue}. Fix the solution (or the cell) and run "
                         "`coursekit build --execute` again.") from None
    except (CellTimeoutError, DeadKernelError) as err:
        raise BuildError(f"{where}, cell index {current['index']}: {err}. Make the cell "
                         "faster, or raise the timeout.") from None
