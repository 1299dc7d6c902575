"""Reading ``.npz`` data that a submission made: every byte is hostile until checked.

:func:`read_npz` opens the zip itself and, for each member, reads the ``.npy`` header
(``numpy.lib.format``) before anything is inflated or allocated: compressed members (zip
bombs), non-numeric dtypes (objects need pickle), and shapes over :data:`MAX_MEMBER_ITEMS`
per member or :data:`MAX_TOTAL_BYTES` in all are refused with a :class:`UntrustedDataError`
that says which member and why.  Only then is each array read, from the stored bytes.
:func:`npz_layout` checks the same and reads nothing more: it says where each array's data
is in a file the parent keeps open (:class:`StoredArray`), to be read in blocks.
"""
from __future__ import annotations

import io
import math
import os
import zipfile
from dataclasses import dataclass

import numpy as np
from numpy.lib import format as npy_format

MAX_MEMBERS = 10_000
MAX_MEMBER_ITEMS = 50_000_000  # elements of one array
MAX_TOTAL_BYTES = 400_000_000  # over all arrays of one file
MAX_NDIM = 8
NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float


class UntrustedDataError(ValueError):
    """A file from a submission that the grader will not load; the message says why."""


def read_npz(source, *, kinds: str = NUMERIC_KINDS, max_total_bytes: int = MAX_TOTAL_BYTES,
             max_member_items: int = MAX_MEMBER_ITEMS) -> dict[str, np.ndarray]:
    """The arrays of an .npz (a path, a binary file or bytes), checked before they are inflated.

    ``kinds``: the dtype kinds accepted (``"U"`` added for saved models' string fields).
    """
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        with zipfile.ZipFile(source) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise UntrustedDataError(f"{len(infos)} arrays in one file (at most {MAX_MEMBERS})")
            headers, total = [], 0
            for info in infos:
                shape, dtype = _member_header(archive, info, kinds, max_member_items)
                total += math.prod(shape) * dtype.itemsize
                if total > max_total_bytes:
                    raise UntrustedDataError(f"the arrays hold more than {max_total_bytes / 1e6:.0f} MB")
                headers.append((info, shape, dtype))
            return {_key(info.filename): _member_array(archive, info, shape, dtype)
                    for info, shape, dtype in headers}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError) as err:
        raise UntrustedDataError(f"not a valid .npz file ({type(err).__name__}: {err})") from None


def _key(filename: str) -> str:
    return filename[:-4] if filename.endswith(".npy") else filename


def _member_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, kinds: str,
                   max_items: int) -> tuple[tuple[int, ...], np.dtype]:
    name = _key(info.filename)
    if info.compress_type != zipfile.ZIP_STORED:
        raise UntrustedDataError(f"array {name!r} is compressed; save with np.savez, not savez_compressed")
    if info.is_dir() or info.flag_bits & 0x1:
        raise UntrustedDataError(f"member {name!r} is not a plain array")
    with archive.open(info) as member:
        try:
            version = npy_format.read_magic(member)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, fortran, dtype = npy_format.read_array_header_2_0(member)
            else:
                raise UntrustedDataError(f"array {name!r} has .npy format version {version}")
        except ValueError as err:
            raise UntrustedDataError(f"array {name!r} has an invalid header ({err})") from None
    if dtype.kind not in kinds or dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise UntrustedDataError(f"array {name!r} has dtype {dtype}, not plain numbers")
    if len(shape) > MAX_NDIM or any(not isinstance(n, int) or n < 0 for n in shape):
        raise UntrustedDataError(f"array {name!r} has shape {shape}")
    if math.prod(shape) > max_items:
        raise UntrustedDataError(f"array {name!r} has shape {shape}: more than {max_items} elements")
    expected = math.prod(shape) * dtype.itemsize
    if info.file_size > expected + 2**16:  # header plus data, nothing hidden after it
        raise UntrustedDataError(f"member {name!r} is larger than its array")
    return tuple(shape), dtype


def _member_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo, shape, dtype) -> np.ndarray:
    with archive.open(info) as member:
        version = npy_format.read_magic(member)
        if version == (1, 0):
            _, fortran, _ = npy_format.read_array_header_1_0(member)
        else:
            _, fortran, _ = npy_format.read_array_header_2_0(member)
        size = math.prod(shape) * dtype.itemsize
        data = member.read(size)
    if len(data) != size:
        raise UntrustedDataError(f"array {_key(info.filename)!r} is truncated")
    array = np.frombuffer(data, dtype=dtype).copy()
    return array.reshape(shape, order="F" if fortran else "C")


# --- arrays left where the child wrote them ------------------------------------------------

@dataclass(frozen=True)
class StoredArray:
    """An array inside a file the parent holds open, read only when and where it is needed.

    The saved model's weights stay in the child's output file: the parent reads them a block
    of rows at a time (:meth:`rows`), so a model at the caps never sits whole in its memory.
    """

    fd: int
    offset: int  # of the data, in the file
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of the first axis (C order), a fresh array."""
        row = math.prod(self.shape[1:]) * self.dtype.itemsize
        size = (stop - start) * row
        data = os.pread(self.fd, size, self.offset + start * row)
        if len(data) != size:
            raise UntrustedDataError("an array of the child's output is truncated")
        return np.frombuffer(data, dtype=self.dtype).reshape((stop - start, *self.shape[1:])).copy()

    def read(self) -> np.ndarray:
        """The whole array, a fresh one."""
        if not self.shape:
            return np.frombuffer(os.pread(self.fd, self.dtype.itemsize, self.offset), self.dtype).reshape(()).copy()
        return self.rows(0, self.shape[0])


def npz_layout(fd: int, offset: int, length: int, *, kinds: str = NUMERIC_KINDS,
               max_total_bytes: int = MAX_TOTAL_BYTES) -> dict[str, StoredArray]:
    """Where each array of the .npz at ``offset`` (``length`` bytes) of ``fd`` is: headers checked
    as :func:`read_npz` does, nothing read of the data.  Members must be stored, C-ordered, and
    exactly their header and data."""
    window = _Window(fd, offset, length)
    try:
        with zipfile.ZipFile(window) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise UntrustedDataError(f"{len(infos)} arrays in one file (at most {MAX_MEMBERS})")
            found, total = {}, 0
            for info in infos:
                shape, dtype = _member_header(archive, info, kinds, MAX_MEMBER_ITEMS)
                total += math.prod(shape) * dtype.itemsize
                if total > max_total_bytes:
                    raise UntrustedDataError(f"the arrays hold more than {max_total_bytes / 1e6:.0f} MB")
                found[_key(info.filename)] = StoredArray(fd, offset + _data_start(window, info, shape, dtype),
                                                         shape, dtype)
            return found
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError, ValueError) as err:
        if isinstance(err, UntrustedDataError):
            raise
        raise UntrustedDataError(f"not a valid .npz file ({type(err).__name__}: {err})") from None


def _data_start(window: "_Window", info: zipfile.ZipInfo, shape, dtype) -> int:
    """Offset in the window of a stored member's array data (after its zip and .npy headers)."""
    window.seek(info.header_offset)
    local = window.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise UntrustedDataError(f"member {_key(info.filename)!r} has no valid zip header")
    start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
    window.seek(start)
    version = npy_format.read_magic(window)
    read = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
    _, fortran, _ = read(window)
    data = window.tell()
    if fortran and len(shape) > 1:
        raise UntrustedDataError(f"array {_key(info.filename)!r} is in Fortran order")
    if info.compress_size != info.file_size or data - start + math.prod(shape) * dtype.itemsize != info.file_size \
            or start + info.file_size > window.length:
        raise UntrustedDataError(f"member {_key(info.filename)!r} is not exactly its array")
    return data


class _Window(io.RawIOBase):
    """``length`` bytes of ``fd`` from ``offset``, as a seekable read-only file (pread, no shared position)."""

    def __init__(self, fd: int, offset: int, length: int):
        super().__init__()
        self.fd, self.offset, self.length, self.position = fd, offset, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, position: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.position, 2: self.length}[whence]
        self.position = max(0, base + position)
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        size = max(0, min(len(buffer), self.length - self.position))
        data = os.pread(self.fd, size, self.offset + self.position) if size else b""
        buffer[:len(data)] = data
        self.position += len(data)
        return len(data)
