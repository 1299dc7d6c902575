"""The course's CIFAR-10 split, read by the kit alone: for grading workers, which have no ``source/``.

A Dask worker has the kit (the course's wheel: README, "Installing the kit on the workers") and its
own copy of the dataset, but not the course's ``source/cs231n/data_utils.py``.  :func:`load_split`
builds the same arrays as its ``get_CIFAR10_data()`` (49,000 / 1,000 / 1,000 images, float32,
channels first, the mean training image subtracted), bit for bit: ``tests/coursekit/data/test_split.py`` compares them.
Batches are unpickled with the dataset checker's restricted unpickler (arrays only).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np

from ..errors import DatasetError
from .dataset import DATA_BATCHES, HOW_TO_GET_DATA, TEST_BATCH, _load, check_cifar10_dir

TRAIN_IMAGES, VAL_IMAGES, TEST_IMAGES = 49_000, 1_000, 1_000
IMAGE_SHAPE = (3, 32, 32)  # channels first, as the batches store the pixel planes
SPLIT_KEYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")
# The 9,000 test images after the course's 1,000: in no split a student or a grading child gets.
# The grader scores its own training run on them (coursekit/grade/checks/accuracy.py).
HELDOUT_KEYS = ("X_heldout", "y_heldout")


def load_split(folder: Path, dtype=np.float32, heldout: bool = False) -> dict[str, np.ndarray]:
    """The 49,000 / 1,000 / 1,000 split of the CIFAR-10 folder, mean image subtracted.

    ``heldout``: also ``X_heldout`` / ``y_heldout``, the rest of the test batch (9,000 images),
    with the same mean image subtracted.
    """
    check_cifar10_dir(Path(folder))
    batches = [_read_batch(Path(folder) / name) for name in DATA_BATCHES]
    Xtr, Ytr = np.concatenate([X for X, _ in batches]), np.concatenate([y for _, y in batches])
    Xte, Yte = _read_batch(Path(folder) / TEST_BATCH)
    val = slice(TRAIN_IMAGES, TRAIN_IMAGES + VAL_IMAGES)
    data = {"X_train": Xtr[:TRAIN_IMAGES].astype(dtype), "y_train": Ytr[:TRAIN_IMAGES],
            "X_val": Xtr[val].astype(dtype), "y_val": Ytr[val],
            "X_test": Xte[:TEST_IMAGES].astype(dtype), "y_test": Yte[:TEST_IMAGES]}
    if heldout:
        data.update(X_heldout=Xte[TEST_IMAGES:].astype(dtype), y_heldout=Yte[TEST_IMAGES:])
    mean_image = data["X_train"].mean(axis=0)  # (3, 32, 32)
    for split in ("X_train", "X_val", "X_test", *(("X_heldout",) if heldout else ())):
        data[split] -= mean_image
    return data


def _read_batch(file: Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images of shape (10000, 3, 32, 32), int64 labels of shape (10000,)) of one batch file."""
    batch = _load(file)
    if isinstance(batch, str):
        raise DatasetError(f"{batch} {HOW_TO_GET_DATA}")
    try:
        return (np.asarray(batch["data"], dtype=np.uint8).reshape(-1, *IMAGE_SHAPE),
                np.asarray(batch["labels"], dtype=np.int64))
    except (KeyError, TypeError, ValueError) as err:
        raise DatasetError(f"The CIFAR-10 batch {file} is corrupt ({err}). {HOW_TO_GET_DATA}") from None


class LazySplit(Mapping):
    """The split as a mapping that calls ``load`` on first use only, then keeps the arrays.

    ``train_images`` answers how many training images there are without loading them, so
    that a grade can describe its training task before (or without) reading the dataset.
    """

    train_images = TRAIN_IMAGES

    def __init__(self, load: Callable[[], Mapping[str, np.ndarray]]):
        self._load, self._data = load, None

    def _arrays(self) -> Mapping[str, np.ndarray]:
        if self._data is None:
            self._data = self._load()
        return self._data

    def __getitem__(self, key: str) -> np.ndarray:
        return self._arrays()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(SPLIT_KEYS)

    def __len__(self) -> int:
        return len(SPLIT_KEYS)

    @property
    def loaded(self) -> bool:
        return self._data is not None
