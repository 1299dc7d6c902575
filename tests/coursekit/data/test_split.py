"""The kit's own CIFAR-10 split (for grading workers, which have no source/) against the course's."""
from __future__ import annotations

import numpy as np
import pytest

from coursekit.data.split import LazySplit, load_split


@pytest.mark.dataset
def test_the_kit_split_is_the_course_split_bit_for_bit(cifar10_dir, cifar10_data):
    """Does load_split give exactly the arrays of source/'s get_CIFAR10_data (dtype, shape, every bit)?"""
    ours = load_split(cifar10_dir)
    assert sorted(ours) == sorted(cifar10_data)
    for key, expected in cifar10_data.items():
        assert ours[key].dtype == expected.dtype and ours[key].shape == expected.shape, key
        assert np.array_equal(ours[key], expected), key


def test_a_lazy_split_loads_once_and_only_when_read():
    """Does LazySplit call its loader on the first read only, and tell the training size without loading?"""
    calls = []
    split = LazySplit(lambda: calls.append(1) or {"y_train": np.arange(3)})
    assert split.train_images == 49_000 and not split.loaded and calls == []
    assert list(split["y_train"]) == [0, 1, 2] and list(split["y_train"]) == [0, 1, 2]
    assert calls == [1] and split.loaded
