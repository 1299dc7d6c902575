"""data_utils: CIFAR-10 loading, splits and the errors a student sees."""
import pickle

import numpy as np
import pytest

from cs231n import data_utils


def write_fake_cifar(folder, images_per_batch=20, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {"data": rng.integers(0, 256, size=(images_per_batch, 3072), dtype=np.uint8),
                 "labels": list(rng.integers(0, 10, size=images_per_batch)),
                 "batch_label": name, "filenames": [f"{i}.png" for i in range(images_per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))
    return folder


def test_load_cifar10_shapes_and_layout(tmp_path):
    """Does load_CIFAR10 return CS231n's (N, 32, 32, 3) images with the channels in order?"""
    root = write_fake_cifar(tmp_path / "c")
    Xtr, ytr, Xte, yte = data_utils.load_CIFAR10(str(root))
    assert Xtr.shape == (100, 32, 32, 3) and ytr.shape == (100,)
    assert Xte.shape == (20, 32, 32, 3) and yte.shape == (20,)
    raw = pickle.loads((root / "data_batch_1").read_bytes())["data"][0]
    assert Xtr[0, 0, 0, 0] == raw[0] and Xtr[0, 0, 0, 1] == raw[1024] and Xtr[0, 0, 1, 0] == raw[1]


def test_get_cifar10_data_split_and_mean(tmp_path):
    """Are the splits taken in CS231n's order, float32, channels first, mean subtracted?"""
    root = write_fake_cifar(tmp_path / "c")
    d = data_utils.get_CIFAR10_data(60, 10, 5, cifar10_dir=str(root))
    assert d["X_train"].shape == (60, 3, 32, 32) and d["X_train"].dtype == np.float32
    assert d["X_val"].shape == (10, 3, 32, 32) and d["X_test"].shape == (5, 3, 32, 32)
    np.testing.assert_allclose(d["X_train"].mean(axis=0), 0, atol=1e-3)
    Xtr, ytr, _, _ = data_utils.load_CIFAR10(str(root))
    assert np.array_equal(d["y_val"], ytr[60:70])
    mean = Xtr[:60].mean(axis=0).transpose(2, 0, 1)
    np.testing.assert_allclose(d["X_val"], Xtr[60:70].transpose(0, 3, 1, 2) - mean, atol=1e-3)


def test_env_var_locates_the_data(tmp_path, monkeypatch):
    """Does get_CIFAR10_data find the data through CIFAR10_DIR?"""
    root = write_fake_cifar(tmp_path / "c")
    monkeypatch.setenv("CIFAR10_DIR", str(root))
    assert data_utils.get_CIFAR10_data(50, 10, 10)["X_train"].shape[0] == 50


def test_missing_folder_message(tmp_path):
    """Does a wrong folder give one message naming it and saying how to get the data?"""
    with pytest.raises(FileNotFoundError) as err:
        data_utils.load_CIFAR10(str(tmp_path / "nowhere"))
    message = str(err.value)
    assert str(tmp_path / "nowhere") in message and "get_datasets.sh" in message and "CIFAR10_DIR" in message


def test_truncated_batch_message(tmp_path):
    """Does a truncated batch file name the file and say to download again?"""
    root = write_fake_cifar(tmp_path / "c")
    batch = root / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:500])
    with pytest.raises(ValueError) as err:
        data_utils.load_CIFAR10(str(root))
    assert "data_batch_3" in str(err.value) and "truncated or corrupt" in str(err.value)


def test_too_large_split_is_refused(tmp_path):
    """Does asking for more images than exist give a clear error?"""
    root = write_fake_cifar(tmp_path / "c")
    with pytest.raises(ValueError, match="holds 100"):
        data_utils.get_CIFAR10_data(95, 10, 5, cifar10_dir=str(root))
