"""Checking the CIFAR-10 folder: missing, incomplete, truncated and corrupt datasets."""
from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from coursekit.data import dataset
from coursekit.data.dataset import CIFAR10_FILES, check_cifar10_dir, cifar10_problem, verify_md5
from coursekit.errors import DatasetError, DownloadError

SHARED_CIFAR10 = Path(os.environ.get("CIFAR10_DIR", "/work/shared/datasets/cifar-10-batches-py"))
FAKE_IMAGES = 10  # images per fake batch: small enough to write in a millisecond
FAKE_MIN_BYTES = 1_000  # a fake batch is about 31 kB
HOW_TO_FIX = ("coursekit data", "get_datasets.sh", "CIFAR10_DIR")


def fake_batch(images: int = FAKE_IMAGES, seed: int = 0) -> dict:
    """A batch in the official format, with ``images`` random images."""
    rng = np.random.default_rng(seed)
    return {
        "batch_label": "fake batch",
        "labels": [int(label) for label in rng.integers(0, 10, images)],
        "data": rng.integers(0, 256, (images, 3072), dtype=np.uint8),  # (N, 3072)
        "filenames": [f"fake_{i}.png" for i in range(images)],
    }


def write_fake_cifar(folder: Path) -> Path:
    """Write the seven files of a small CIFAR-10 folder and return it."""
    folder.mkdir(parents=True)
    for seed, name in enumerate(CIFAR10_FILES[:-1]):
        (folder / name).write_bytes(pickle.dumps(fake_batch(seed=seed), protocol=2))
    meta = {"num_cases_per_batch": FAKE_IMAGES, "num_vis": 3072,
            "label_names": ["airplane", "automobile", "bird", "cat", "deer",
                            "dog", "frog", "horse", "ship", "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


@pytest.fixture
def small(monkeypatch):
    """Make the checks expect the small fake batches instead of the official 30.9 MB ones."""
    monkeypatch.setattr(dataset, "IMAGES_PER_BATCH", FAKE_IMAGES)
    monkeypatch.setattr(dataset, "MIN_BATCH_BYTES", FAKE_MIN_BYTES)


@pytest.fixture
def fake(tmp_path, small) -> Path:
    return write_fake_cifar(tmp_path / "cifar-10-batches-py")


def problem_message(path: Path, *, deep: bool) -> str:
    with pytest.raises(DatasetError) as err:
        check_cifar10_dir(path, deep=deep)
    message = str(err.value)
    for fix in HOW_TO_FIX:
        assert fix in message, f"the message does not mention {fix}: {message}"
    return message


@pytest.mark.parametrize("deep", [False, True])
def test_valid_fake_folder_passes(fake, deep):
    """Does a complete folder pass both the shallow and the deep check?"""
    check_cifar10_dir(fake, deep=deep)
    assert cifar10_problem(fake, deep=deep) is None


def test_missing_folder_is_named(tmp_path):
    """Is a missing folder reported with its path and how to get the data?"""
    message = problem_message(tmp_path / "nowhere", deep=False)
    assert str(tmp_path / "nowhere") in message and "does not exist" in message


def test_file_instead_of_folder_is_named(tmp_path):
    """Is a file where the folder should be reported as such?"""
    (tmp_path / "cifar").write_text("not a folder")
    message = problem_message(tmp_path / "cifar", deep=False)
    assert str(tmp_path / "cifar") in message and "is a file" in message


def test_missing_files_are_listed(fake):
    """Are all the missing files listed, by name?"""
    (fake / "data_batch_3").unlink()
    (fake / "batches.meta").unlink()
    message = problem_message(fake, deep=False)
    assert str(fake) in message and "data_batch_3, batches.meta" in message
    assert "data_batch_1," not in message


def test_short_batch_is_truncated_in_shallow_check(fake):
    """Does the shallow check report a batch smaller than a whole one as truncated?"""
    batch = fake / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:FAKE_MIN_BYTES - 1])
    message = problem_message(fake, deep=False)
    assert str(batch) in message and "truncated" in message


def test_truncated_pickle_is_found_by_deep_check_only(fake):
    """Is a batch cut short (but still large) found by the deep check, not the shallow one?"""
    batch = fake / "test_batch"
    batch.write_bytes(batch.read_bytes()[: 20 * FAKE_MIN_BYTES])
    check_cifar10_dir(fake, deep=False)
    message = problem_message(fake, deep=True)
    assert str(batch) in message and "truncated or corrupt" in message


def test_garbage_is_corrupt(fake):
    """Is a batch of random bytes reported as corrupt?"""
    batch = fake / "data_batch_5"
    batch.write_bytes(np.random.default_rng(0).bytes(5 * FAKE_MIN_BYTES))
    message = problem_message(fake, deep=True)
    assert str(batch) in message and "corrupt" in message


def _wrong_shape(batch):
    batch["data"] = batch["data"].reshape(FAKE_IMAGES * 3, 1024)


def _float_pixels(batch):
    batch["data"] = batch["data"].astype(np.float64) + 0.5


def _pixels_out_of_range(batch):
    batch["data"] = batch["data"].astype(np.int64) * 2


def _too_few_labels(batch):
    batch["labels"] = batch["labels"][:-1]


def _label_out_of_range(batch):
    batch["labels"][0] = 10


def _no_labels(batch):
    del batch["labels"]


@pytest.mark.parametrize("damage, words", [
    (_wrong_shape, "shape (30, 1024)"),
    (_float_pixels, "float64"),
    (_pixels_out_of_range, "expected uint8"),
    (_too_few_labels, "9 labels"),
    (_label_out_of_range, "labels are not all in 0 ... 9"),
    (_no_labels, "no 'data' and 'labels'"),
])
def test_wrong_contents_are_described(fake, damage, words):
    """Is a batch with the wrong shape, dtype or labels reported with what is wrong?"""
    batch = fake_batch()
    damage(batch)
    (fake / "data_batch_4").write_bytes(pickle.dumps(batch, protocol=2))
    message = problem_message(fake, deep=True)
    assert str(fake / "data_batch_4") in message and words in message


def test_integer_pixels_that_fit_in_uint8_are_accepted(fake):
    """Are int64 pixels all in 0 ... 255 accepted as uint8-compatible?"""
    batch = fake_batch()
    batch["data"] = batch["data"].astype(np.int64)
    (fake / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    check_cifar10_dir(fake, deep=True)


class _RunsCode:
    """Unpickling this would call os.system."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_that_runs_code_is_rejected_without_running_it(fake, tmp_path):
    """Is a batch that would run code on unpickling rejected, and the code never run?"""
    marker = tmp_path / "ran"
    batch = fake_batch()
    batch["labels"] = _RunsCode(marker)
    (fake / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    message = problem_message(fake, deep=True)
    assert "data_batch_1" in message and "system" in message
    assert not marker.exists()


def test_shared_copy_passes_the_deep_check():
    """Does the real (rebuilt) CIFAR-10 copy pass the deep check, md5 sums aside?"""
    if not (SHARED_CIFAR10 / "data_batch_1").exists():
        pytest.skip(f"no CIFAR-10 at {SHARED_CIFAR10}; set CIFAR10_DIR to run this test")
    check_cifar10_dir(SHARED_CIFAR10, deep=True)


def test_verify_md5_returns_the_sum(tmp_path):
    """Does verify_md5 return the md5 of a file that matches, in any letter case?"""
    file = tmp_path / "f.bin"
    file.write_bytes(b"x" * 3_000_000)
    expected = hashlib.md5(file.read_bytes()).hexdigest()
    assert verify_md5(file, expected.upper()) == expected


def test_verify_md5_mismatch_names_both_sums(tmp_path):
    """Does an md5 mismatch name the file, the expected and the actual sum?"""
    file = tmp_path / "f.bin"
    file.write_bytes(b"hello")
    with pytest.raises(DownloadError) as err:
        verify_md5(file, "0" * 32)
    message = str(err.value)
    assert str(file) in message and "0" * 32 in message
    assert hashlib.md5(b"hello").hexdigest() in message
