"""Checking the CIFAR-10 folder (the official python-batch format) and md5 sums.

A folder is valid when it holds the seven files of :data:`CIFAR10_FILES`.  The shallow check
(the default, used before every training run) only looks at the files' sizes; the deep check
unpickles every batch and checks the shape of its arrays.  The unpacked files are never
compared with md5 sums: only the tarball is, because rebuilt copies of the dataset hold the
same arrays in files whose bytes differ.
"""
from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np

from ..errors import DatasetError, DownloadError

DATA_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"
CIFAR10_FILES = (*DATA_BATCHES, TEST_BATCH, META_FILE)

IMAGES_PER_BATCH = 10_000
PIXELS_PER_IMAGE = 3 * 32 * 32  # 3072: the red, green and blue planes of a 32x32 image
NUM_CLASSES = 10
# Each batch of the official format is about 30.9 MB; a smaller file was cut short.
MIN_BATCH_BYTES = 30_000_000

HOW_TO_GET_DATA = (
    "Get the dataset with `coursekit data` (or `bash datasets/get_datasets.sh`), or set "
    "CIFAR10_DIR to a folder that holds data_batch_1 ... data_batch_5, test_batch and batches.meta."
)
MD5_CHUNK_BYTES = 1 << 20


def check_cifar10_dir(path: Path, *, deep: bool = False) -> None:
    """Raise a DatasetError naming the folder or file, and the fix, unless ``path`` is valid."""
    problem = cifar10_problem(path, deep=deep)
    if problem is not None:
        raise DatasetError(f"{problem} {HOW_TO_GET_DATA}")


def cifar10_problem(path: Path, *, deep: bool = False) -> str | None:
    """The first thing wrong with the CIFAR-10 folder ``path`` (one sentence), or None."""
    path = Path(path)
    if not path.exists():
        return f"The CIFAR-10 folder {path} does not exist."
    if not path.is_dir():
        return f"The CIFAR-10 folder {path} is a file, not a folder."
    missing = [name for name in CIFAR10_FILES if not (path / name).is_file()]
    if missing:
        return f"The CIFAR-10 folder {path} is missing {', '.join(missing)}."
    for name in (*DATA_BATCHES, TEST_BATCH):
        size = (path / name).stat().st_size
        if size < MIN_BATCH_BYTES:
            return (f"The CIFAR-10 batch {path / name} is truncated ({size:,} bytes, "
                    f"expected at least {MIN_BATCH_BYTES:,}).")
    if (path / META_FILE).stat().st_size == 0:
        return f"The CIFAR-10 file {path / META_FILE} is empty."
    if deep:
        for name in (*DATA_BATCHES, TEST_BATCH):
            problem = _batch_problem(path / name)
            if problem is not None:
                return problem
        return _meta_problem(path / META_FILE)
    return None


def _batch_problem(file: Path) -> str | None:
    """What is wrong with one unpickled batch: its ``data`` and ``labels``, or None."""
    batch = _load(file)
    if isinstance(batch, str):
        return batch
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        return f"The CIFAR-10 batch {file} is corrupt: it holds no 'data' and 'labels'."
    try:
        data = np.asarray(batch["data"])  # (10000, 3072) in the official format
        labels = np.asarray(batch["labels"])  # (10000,)
    except (ValueError, TypeError) as err:  # e.g. a ragged list
        return f"The CIFAR-10 batch {file} is corrupt: its data or labels are not arrays ({err})."
    if data.shape != (IMAGES_PER_BATCH, PIXELS_PER_IMAGE) or not _fits_uint8(data):
        return (f"The CIFAR-10 batch {file} is corrupt: its data is a {data.dtype} array of shape "
                f"{data.shape}, expected uint8 of shape ({IMAGES_PER_BATCH}, {PIXELS_PER_IMAGE}).")
    if labels.shape != (IMAGES_PER_BATCH,):
        return (f"The CIFAR-10 batch {file} is corrupt: it has {labels.size} labels, "
                f"expected {IMAGES_PER_BATCH}.")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= NUM_CLASSES:
        return f"The CIFAR-10 batch {file} is corrupt: its labels are not all in 0 ... {NUM_CLASSES - 1}."
    return None


def _meta_problem(file: Path) -> str | None:
    """What is wrong with ``batches.meta`` (it must name the 10 classes), or None."""
    meta = _load(file)
    if isinstance(meta, str):
        return meta
    names = meta.get("label_names") if isinstance(meta, dict) else None
    if not isinstance(names, (list, tuple)) or len(names) != NUM_CLASSES:
        return f"The CIFAR-10 file {file} is corrupt: it does not name the {NUM_CLASSES} classes."
    return None


def _fits_uint8(array: np.ndarray) -> bool:
    """Is ``array`` uint8, or integers that all fit in 0 ... 255?"""
    if array.dtype == np.uint8:
        return True
    return bool(np.issubdtype(array.dtype, np.integer) and array.size
                and array.min() >= 0 and array.max() <= 255)


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds numpy arrays and plain Python values, and nothing else.

    A batch file could come from anywhere (``coursekit data --tarball``), and unpickling may
    call any function the file names.  CIFAR-10 only needs these (``_codecs.encode`` turns
    the text in pickles of protocol 2 back into bytes).
    """

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
               *((module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray")
                 for name in ("_reconstruct", "scalar"))}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}")
        return super().find_class(module, name)


def _load(file: Path):
    """Unpickle a batch written by Python 2, or return one sentence saying why it can't be."""
    try:
        with open(file, "rb") as f:
            return _ArraysOnly(f, encoding="latin1").load()
    except OSError as err:
        return f"The CIFAR-10 file {file} cannot be read ({err})."
    except Exception as err:  # garbage bytes can make unpickling fail in many ways
        return (f"The CIFAR-10 file {file} is truncated or corrupt: it cannot be unpickled "
                f"({type(err).__name__}: {err}).")


def verify_md5(path: Path, expected: str) -> str:
    """Return the md5 of ``path``; raise a DownloadError naming both sums if it is not ``expected``."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(MD5_CHUNK_BYTES):
            digest.update(chunk)
    actual = digest.hexdigest()
    if actual != expected.strip().lower():
        raise DownloadError(
            f"{path} has md5 {actual}, but {expected} was expected: the file is incomplete, "
            f"corrupt, or not the official CIFAR-10 tarball."
        )
    return actual
