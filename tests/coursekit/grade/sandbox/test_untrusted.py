"""Hostile .npz files from a submission: refused from their headers, before anything is inflated."""
import io
import struct
import zipfile

import numpy as np
import pytest

from coursekit.grade import models
from coursekit.grade.pipeline import _guarded_score
from coursekit.grade.sandbox.untrusted import MAX_MEMBER_ITEMS, UntrustedDataError, read_npz

INPUT_DIM, NUM_CLASSES = 3 * 32 * 32, 10
BOMB_ITEMS = 10**8  # 800 MB of float64 zeros: a few hundred KB once deflated


def npz_bytes(compress=False, **arrays) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def npy_header(shape, descr="<f8") -> bytes:
    """A version 1.0 .npy header that claims ``shape`` (no data follows)."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def zip_of(members: dict[str, bytes], method=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def test_plain_arrays_are_read_back_exactly():
    """Are plain numeric arrays of any layout read back equal (a correct file is not refused)?"""
    arrays = {"a": np.arange(12.0).reshape(3, 4), "b": np.asfortranarray(np.ones((2, 5), np.float32)),
              "c": np.array(3, np.int64), "d": np.zeros((0, 4))}
    got = read_npz(npz_bytes(**arrays))
    assert sorted(got) == sorted(arrays)
    for key, value in arrays.items():
        assert got[key].dtype == value.dtype and np.array_equal(got[key], value)


def test_a_zip_bomb_is_refused_without_inflating():
    """Is a compressed member (800 MB of zeros in a small file) refused as compressed?"""
    bomb = npz_bytes(compress=True, big=np.zeros(BOMB_ITEMS // 100))  # the same shape of attack, smaller
    assert len(bomb) < 100_000
    with pytest.raises(UntrustedDataError, match="compressed"):
        read_npz(bomb)


def test_a_header_claiming_a_huge_shape_is_refused():
    """Is a 100-byte member whose header claims 10**12 elements refused (no MemoryError)?"""
    with pytest.raises(UntrustedDataError, match="more than"):
        read_npz(zip_of({"x.npy": npy_header((10**6, 10**6))}))


def test_a_header_that_lies_about_its_data_is_refused():
    """Is a member that claims more data than it holds refused as truncated?"""
    with pytest.raises(UntrustedDataError, match="truncated"):
        read_npz(zip_of({"x.npy": npy_header((1000,))}))


@pytest.mark.parametrize("descr", ["|O", "<U10", [("a", "<f8")]])
def test_non_numeric_dtypes_are_refused(descr):
    """Are object, string and structured dtypes refused from the header alone?"""
    with pytest.raises(UntrustedDataError, match="not plain numbers"):
        read_npz(zip_of({"x.npy": npy_header((2,), descr) + b"\0" * 1024}))


def test_total_size_is_capped_over_all_members():
    """Is a file whose arrays are each allowed but together too large refused?"""
    data = npz_bytes(a=np.zeros(1000), b=np.zeros(1000))
    with pytest.raises(UntrustedDataError, match="more than"):
        read_npz(data, max_total_bytes=10_000)
    assert MAX_MEMBER_ITEMS > 1000


def test_garbage_is_refused_cleanly():
    """Are bytes that are not a zip refused with an UntrustedDataError, not a crash?"""
    with pytest.raises(UntrustedDataError):
        read_npz(b"PK\x03\x04 not really a zip")


def save_fc(path, hidden_dims):
    np.savez(path, arch=np.array("fc_net"), normalization=np.array("none"), hidden_dims=np.array(hidden_dims))


def test_saved_model_with_a_million_hidden_layers_is_refused_at_once(tmp_path):
    """Is a best_fc_net.npz whose hidden_dims has 10**6 entries refused before any shape is built?"""
    path = tmp_path / "best_fc_net.npz"
    save_fc(path, np.ones(10**6, np.int64))
    arrays = models.load_npz(path)
    with pytest.raises(models.ModelError, match="at most"):
        models.validate_fc(arrays, path.name, INPUT_DIM, NUM_CLASSES)


def test_saved_model_compressed_is_refused(tmp_path):
    """Is a saved model written with savez_compressed refused with what to do instead?"""
    path = tmp_path / "best_fc_net.npz"
    np.savez_compressed(path, arch=np.array("fc_net"))
    with pytest.raises(models.ModelError, match="savez"):
        models.load_npz(path)


def test_a_crash_in_the_saved_model_check_costs_that_check_only(tmp_path, monkeypatch):
    """If scoring the saved model raises anything (MemoryError), is it a failed case, not a crashed grade?"""
    from coursekit.grade.checks import accuracy

    def explode(*args, **kwargs):
        raise MemoryError("no room")

    monkeypatch.setattr(accuracy, "score_saved_model", explode)
    score = _guarded_score("fc_net", None, {})
    check, results = accuracy.saved_model_check("fc_net", score, {"val_accuracy": 0.5, "review_above": 0.9})
    assert check.name == "saved_model" and not any(r.passed for r in results[1:])
    assert all("MemoryError" in r.detail for r in results[1:])


def file_with(data: bytes, before: bytes = b"x" * 100):
    """A file holding ``data`` after some other bytes, as a child's output file holds one task's .npz."""
    import tempfile

    f = tempfile.TemporaryFile()
    f.write(before + data)
    f.flush()
    return f


def test_stored_arrays_are_read_in_blocks_exactly():
    """Does npz_layout find each array in a file and read back any block of rows, nothing read before?"""
    from coursekit.grade.sandbox.untrusted import npz_layout

    arrays = {"W": np.arange(60.0).reshape(12, 5), "b": np.ones(5, np.float32), "s": np.frombuffer(b"fc", np.uint8)}
    data = npz_bytes(**arrays)
    with file_with(data) as f:
        stored = npz_layout(f.fileno(), 100, len(data))
        assert {k: (v.shape, v.dtype) for k, v in stored.items()} == {k: (v.shape, v.dtype) for k, v in arrays.items()}
        assert np.array_equal(stored["W"].rows(3, 7), arrays["W"][3:7])
        assert all(np.array_equal(stored[k].read(), v) for k, v in arrays.items())


@pytest.mark.parametrize("bad, words", [
    (lambda: npz_bytes(compress=True, W=np.zeros((4, 4))), "compressed"),
    (lambda: npz_bytes(W=np.asfortranarray(np.zeros((4, 3)))), "Fortran order"),
    (lambda: zip_of({"W.npy": npy_header((1000,))}), "not exactly its array"),
    (lambda: zip_of({"W.npy": npy_header((2,)) + b"\0" * 16 + b"hidden"}), "not exactly its array"),
])
def test_stored_arrays_that_lie_are_refused(bad, words):
    """Is a compressed, Fortran-ordered, truncated or padded member refused from its headers?"""
    from coursekit.grade.sandbox.untrusted import npz_layout

    data = bad()
    with file_with(data) as f:
        with pytest.raises(UntrustedDataError, match=words):
            npz_layout(f.fileno(), 100, len(data))
