"""Downloading, verifying and safely unpacking the CIFAR-10 tarball.

The download is a pipeline of small steps, each of which can fail with one clear
:class:`~coursekit.errors.DownloadError`:

1. ``_fetch``: stream the tarball into ``<dest>.tar.gz.part``, resuming with an HTTP
   ``Range`` request after a cut connection, and retrying with backoff;
2. ``verify_md5``: compare the tarball with the official md5 sum;
3. ``_unpack``: check every member, extract into a temporary sibling of ``dest``, check the
   result, then rename it into place, so that ``dest`` is either complete or untouched.

Only the standard library and tqdm are used, and nothing touches the network at import time.
"""
from __future__ import annotations

import http.client
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath

from tqdm import tqdm

from . import dataset
from .dataset import verify_md5
from ..errors import DownloadError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CHUNK_BYTES = 1 << 16
USER_AGENT = "coursekit (CIFAR-10 download)"
# Files the official tarball ships beside the batches; a folder holding only these may be replaced.
EXTRA_FILES = ("readme.html",)
MANUAL_STEPS = (
    "To get the data by hand, download {url} on a machine that is online, copy the file here, "
    "then run `coursekit data --tarball PATH` to verify and unpack it."
)


class _Retry(Exception):
    """One attempt failed in a way that another attempt may fix (cut connection, HTTP 5xx)."""

    def __init__(self, reason: str, *, connected: bool = True):
        super().__init__(reason)
        self.connected = connected  # False: no server answered at all (offline?)


def download_cifar10(dest: Path, url: str = CIFAR10_URL, md5: str = CIFAR10_MD5, *,
                     progress: bool = True, retries: int = 3, timeout: float = 30.0,
                     backoff: float = 1.0, force: bool = False) -> Path:
    """Download, verify and unpack CIFAR-10 into ``dest`` (the ``cifar-10-batches-py`` folder).

    Does nothing when ``dest`` already holds the dataset, unless ``force``.  A download cut
    short is kept in ``<dest>.tar.gz.part`` and resumed by the next attempt or the next run.
    Returns the dataset folder.
    """
    dest = Path(dest).expanduser().resolve()
    if not force and dataset.cifar10_problem(dest) is None:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".tar.gz.part")
    _fetch(url, part, progress=progress, retries=retries, timeout=timeout, backoff=backoff)
    try:
        verify_md5(part, md5)
    except DownloadError as err:
        part.unlink()
        raise DownloadError(
            f"The download of {url} is corrupt: {err} The file was deleted. Run `coursekit data` "
            f"again to download it afresh; if this repeats, check --url and --md5. "
            + MANUAL_STEPS.format(url=url)
        ) from None
    try:
        _unpack(part, dest)
    finally:
        part.unlink()
    return dest


def install_tarball(tarball: Path, dest: Path, md5: str | None) -> Path:
    """Verify (when ``md5`` is given) and unpack a tarball that is already on disk into ``dest``."""
    tarball, dest = Path(tarball).expanduser(), Path(dest).expanduser().resolve()
    if not tarball.is_file():
        raise DownloadError(
            f"The tarball {tarball} does not exist or is not a file. Check the path given to "
            f"--tarball; the official file is cifar-10-python.tar.gz from {CIFAR10_URL}."
        )
    if md5:
        try:
            verify_md5(tarball, md5)
        except DownloadError as err:
            raise DownloadError(
                f"{err} Download it again from {CIFAR10_URL}, or pass --md5 with the right sum."
            ) from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    _unpack(tarball, dest)
    return dest


# --- 1. fetch ----------------------------------------------------------------------------

def _fetch(url: str, part: Path, *, progress: bool, retries: int, timeout: float,
           backoff: float) -> None:
    """Stream ``url`` into ``part`` (resuming what is there), with up to ``retries`` retries."""
    retries = max(retries, 0)
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, part, progress=progress, timeout=timeout)
            return
        except _Retry as err:
            if attempt == retries:
                raise _give_up(url, part, err, attempts=retries + 1) from None
            time.sleep(backoff * 2 ** attempt)


def _fetch_once(url: str, part: Path, *, progress: bool, timeout: float) -> None:
    """One HTTP request: append to ``part`` from where it ends, or start over on a 200."""
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and start:
            _range_not_satisfiable(err, part, start)
            return
        if err.code >= 500 or err.code in (408, 429):
            raise _Retry(f"HTTP {err.code} {err.reason}") from None
        raise DownloadError(
            f"The server at {url} answered HTTP {err.code} {err.reason}. Check the URL (--url, or "
            f"data.url in course.toml). " + MANUAL_STEPS.format(url=url)
        ) from None
    except (OSError, http.client.HTTPException) as err:  # URLError is an OSError
        reason = getattr(err, "reason", err)
        raise _Retry(f"{type(reason).__name__}: {reason}", connected=False) from None
    with response:
        if response.status == 206:
            if _content_range_start(response) != start:
                part.unlink(missing_ok=True)
                raise _Retry(f"the server resumed at the wrong byte (not {start:,})")
            mode, done = "ab", start
        else:  # 200: the server ignored the Range header (or there was none), so start over
            mode, done = "wb", 0
        length = response.headers.get("Content-Length")
        total = done + int(length) if length and length.isdigit() else None
        try:
            with open(part, mode) as f, tqdm(total=total, initial=done, unit="B", unit_scale=True,
                                             unit_divisor=1024, desc="CIFAR-10",
                                             disable=None if progress else True) as bar:
                done += _copy(response, f, bar)
        except OSError as err:  # _copy turned the network's errors into _Retry: this is the disk
            raise DownloadError(
                f"Could not write {part} ({err}). Check the free space and the permissions of "
                f"{part.parent}, then run `coursekit data` again."
            ) from None
    if total is not None and done < total:
        raise _Retry(f"the connection was cut after {done:,} of {total:,} bytes")


def _copy(response, f, bar) -> int:
    """Copy the response body into ``f``; return the number of bytes written."""
    written = 0
    while True:
        try:
            chunk = response.read(CHUNK_BYTES)
        except (OSError, http.client.HTTPException) as err:  # reset, timeout, IncompleteRead
            raise _Retry(f"the connection was cut ({type(err).__name__}: {err})") from None
        if not chunk:
            return written
        f.write(chunk)
        written += len(chunk)
        bar.update(len(chunk))


def _content_range_start(response) -> int | None:
    """The first byte of a 206 answer, from ``Content-Range: bytes START-END/TOTAL``."""
    value = response.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _range_not_satisfiable(err: urllib.error.HTTPError, part: Path, start: int) -> None:
    """HTTP 416: ``part`` is complete when the server's size is its size; else start over."""
    total = err.headers.get("Content-Range", "").rpartition("/")[2]
    if total.isdigit() and int(total) == start:
        return  # an earlier run already fetched every byte; the md5 check decides
    part.unlink()
    raise _Retry(f"the server refused to resume at byte {start:,} (HTTP 416)")


def _give_up(url: str, part: Path, err: _Retry, *, attempts: int) -> DownloadError:
    """The error for a download that failed ``attempts`` times."""
    tries = f"{attempts} attempt" + ("" if attempts == 1 else "s")
    if not err.connected:
        return DownloadError(
            f"Could not connect to {url} ({err}) after {tries}. This machine seems "
            f"to be offline, or the server is unreachable from here (a firewall or proxy?). "
            + MANUAL_STEPS.format(url=url)
        )
    kept = (f" The {part.stat().st_size:,} bytes received so far are kept in {part}; run "
            f"`coursekit data` again to resume." if part.exists() else "")
    return DownloadError(
        f"The download of {url} failed after {tries} (last: {err}).{kept} "
        f"If it keeps failing, try --retries with a larger number. " + MANUAL_STEPS.format(url=url)
    )


# --- 3. unpack -----------------------------------------------------------------------------

def _unpack(tarball: Path, dest: Path) -> None:
    """Extract ``tarball`` next to ``dest``, check the dataset, then rename it into place."""
    _check_replaceable(dest)
    workdir = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        _extract(tarball, workdir)
        folder = _dataset_folder(workdir)
        problem = dataset.cifar10_problem(folder, deep=True)
        if problem is not None:
            raise DownloadError(
                f"The tarball {tarball} does not hold a valid CIFAR-10 folder: {problem} Download "
                f"the official tarball from {CIFAR10_URL} and try again."
            )
        _replace(dest, folder)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _check_replaceable(dest: Path) -> None:
    """Refuse to overwrite a folder that holds anything other than CIFAR-10's own files."""
    if dest.is_dir():
        others = sorted(p.name for p in dest.iterdir()
                        if p.name not in dataset.CIFAR10_FILES + EXTRA_FILES)
        if others:
            raise DownloadError(
                f"The folder {dest} holds files that are not CIFAR-10's ({', '.join(others[:5])}), "
                f"so it will not be replaced. Move them away, or choose another folder with --dest."
            )
    elif dest.exists():
        raise DownloadError(f"{dest} is a file, not a folder. Move it away, or choose another --dest.")


def _extract(tarball: Path, into: Path) -> None:
    """Extract every member of ``tarball`` into ``into``, after checking each one is safe."""
    try:
        with tarfile.open(tarball, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, tarball)
            if hasattr(tarfile, "data_filter"):  # Python 3.11.4+: a second line of defence
                tar.extractall(into, members=members, filter="data")
            else:  # pragma: no cover
                tar.extractall(into, members=members)
    except (tarfile.TarError, EOFError, zlib.error) as err:  # includes the data filter's errors
        raise DownloadError(
            f"The tarball {tarball} cannot be unpacked ({type(err).__name__}: {err}); nothing was "
            f"installed. It is incomplete or unsafe: download it again from {CIFAR10_URL}."
        ) from None
    except OSError as err:
        raise DownloadError(
            f"Could not unpack {tarball} into {into} ({err}). Check the free space and the "
            f"permissions of {into.parent}, then try again."
        ) from None


def _check_member(member: tarfile.TarInfo, tarball: Path) -> None:
    """Raise a DownloadError naming ``member`` unless it is a plain file or folder inside."""
    path, windows = PurePosixPath(member.name), PureWindowsPath(member.name)
    if path.is_absolute() or windows.drive or windows.root:
        why = "has an absolute path"
    elif ".." in path.parts or ".." in windows.parts:
        why = "climbs out of the folder with '..'"
    elif member.issym() or member.islnk():
        why = f"is a link (to {member.linkname!r})"
    elif not (member.isfile() or member.isdir()):
        why = "is a device, pipe or other special file"
    else:
        return
    raise DownloadError(
        f"The tarball {tarball} is unsafe: its member {member.name!r} {why}, and CIFAR-10 holds "
        f"only plain files. Nothing was installed. Download the official tarball from {CIFAR10_URL}."
    )


def _dataset_folder(workdir: Path) -> Path:
    """Where the batches are: ``workdir/cifar-10-batches-py`` (the official layout) or ``workdir``."""
    entries = list(workdir.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return workdir


def _replace(dest: Path, folder: Path) -> None:
    """Rename ``folder`` to ``dest``; an old ``dest`` is moved aside first and then removed."""
    if not dest.exists():
        folder.rename(dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
    old.rmdir()
    dest.rename(old)
    try:
        folder.rename(dest)
    except OSError:
        old.rename(dest)
        raise
    shutil.rmtree(old)
