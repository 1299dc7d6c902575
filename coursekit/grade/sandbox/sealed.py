"""Large inputs for a grading child, in sealed memory instead of the run folder.

The training task's images (590 MB for fc_net) went to the child through the run folder's
``inputs.npz``: written to disk by the parent, then read back whole by the child, seconds
each.  :func:`seal` copies the large arrays once into an anonymous memory file (``memfd``)
and seals it against any write, resize or new seal; the child gets its descriptor and maps
it copy-on-write (``harness.map_sealed``): no disk, no read, and what the child changes in its
mapping (a Solver that shuffles its data in place) stays its own.  The seals hold for every
process, the child's root in its namespace included, so the arrays the parent hands out are
the arrays every child sees.
"""
from __future__ import annotations

import fcntl
import os

import numpy as np

SEAL_BYTES = 8 * 2**20  # an input at least this large goes to the child sealed, not in inputs.npz
ALIGN = 4096  # each array starts on a page
SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
CHUNK = 2**26  # bytes per write


def large(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays of ``arrays`` that go to the child sealed."""
    return {key: value for key, value in arrays.items() if value.nbytes >= SEAL_BYTES}


def seal(arrays: dict[str, np.ndarray]) -> tuple[int, dict[str, list]]:
    """A sealed memfd holding ``arrays`` (C order), and where each is: name -> [offset, shape, dtype]."""
    layout, size = {}, 0
    for key, value in arrays.items():
        layout[key] = [size, list(value.shape), value.dtype.str]
        size += -(-value.nbytes // ALIGN) * ALIGN
    fd = os.memfd_create("coursekit-inputs", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, size)
        for key, value in arrays.items():
            data = memoryview(np.ascontiguousarray(value)).cast("B")
            offset, done = layout[key][0], 0
            while done < len(data):
                done += os.pwrite(fd, data[done:done + CHUNK], offset + done)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd, layout
