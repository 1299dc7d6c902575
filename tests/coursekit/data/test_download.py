"""Downloading CIFAR-10 from a real HTTP server on 127.0.0.1: resume, retries, md5, safe unpack.

Nothing here touches the internet.  A threaded ``http.server`` serves a small tarball that
the tests build themselves, and misbehaves on purpose when a test asks it to (cuts the
connection, ignores ``Range``, answers 404 or 500).
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from coursekit.data import dataset
from coursekit.data.dataset import CIFAR10_FILES, check_cifar10_dir
from coursekit.data.download import download_cifar10, install_tarball
from coursekit.errors import DownloadError

ROOT = Path(__file__).resolve().parents[3]
TARBALL_NAME = "cifar-10-python.tar.gz"
FAKE_IMAGES = 10  # images per fake batch: the tarball is about 200 kB
FAKE_MIN_BYTES = 1_000
FAST = dict(progress=False, retries=2, timeout=5.0, backoff=0.01)  # keyword arguments for tests


# --- building tarballs ------------------------------------------------------------------

def fake_batch_bytes(images: int, seed: int) -> bytes:
    """One pickled batch in the official format (random pixels, or zeros for big batches)."""
    rng = np.random.default_rng(seed)
    data = (rng.integers(0, 256, (images, 3072), dtype=np.uint8) if images <= 1000
            else np.zeros((images, 3072), dtype=np.uint8))  # (N, 3072); zeros compress well
    batch = {"batch_label": f"fake batch {seed}", "data": data,
             "labels": [i % 10 for i in range(images)],
             "filenames": [f"fake_{i}.png" for i in range(images)]}
    return pickle.dumps(batch, protocol=2 if images <= 1000 else 4)  # 4 is faster for big arrays


def cifar_members(images: int = FAKE_IMAGES, folder: str = "cifar-10-batches-py/") -> dict:
    """The files of a CIFAR-10 tarball, by member name."""
    members = {f"{folder}{name}": fake_batch_bytes(images, seed)
               for seed, name in enumerate(CIFAR10_FILES[:-1])}
    meta = {"num_cases_per_batch": images, "num_vis": 3072,
            "label_names": ["airplane", "automobile", "bird", "cat", "deer",
                            "dog", "frog", "horse", "ship", "truck"]}
    members[f"{folder}batches.meta"] = pickle.dumps(meta, protocol=2)
    members[f"{folder}readme.html"] = b"<p>fake CIFAR-10</p>"
    return members


def make_tarball(members: dict, extra: list[tarfile.TarInfo] = ()) -> bytes:
    """A .tar.gz holding ``members`` (name: bytes) and the special ``extra`` members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"evil") if info.isfile() else None)
    return buffer.getvalue()


def md5_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def entries(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.fixture(autouse=True)
def small(monkeypatch):
    """Make the checks expect the small fake batches instead of the official 30.9 MB ones."""
    monkeypatch.setattr(dataset, "IMAGES_PER_BATCH", FAKE_IMAGES)
    monkeypatch.setattr(dataset, "MIN_BATCH_BYTES", FAKE_MIN_BYTES)


@pytest.fixture(scope="module")
def payload() -> bytes:
    return make_tarball(cifar_members())


# --- the local server -------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        server.requests.append({"path": self.path, "range": self.headers.get("Range")})
        behaviour = server.plan[min(len(server.requests), len(server.plan)) - 1]
        if self.path != f"/{TARBALL_NAME}":
            return self.send_error(404)
        if isinstance(behaviour, int):
            return self.send_error(behaviour)
        body, start = server.payload, 0
        wanted = self.headers.get("Range")
        if wanted and behaviour != "ignore_range":
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        body = body[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if behaviour == "cut":  # half the body, then drop the connection
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class TarballServer(ThreadingHTTPServer):
    """Serves one tarball; ``plan`` says how to answer each request (the last one repeats)."""

    daemon_threads = True

    def __init__(self, payload: bytes):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.payload = payload
        self.plan: list = ["ok"]  # "ok", "cut", "ignore_range", or an HTTP status code
        self.requests: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{TARBALL_NAME}"

    def handle_error(self, request, client_address):
        pass  # a dropped connection is the point of some tests


@pytest.fixture
def server(payload):
    server = TarballServer(payload)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def dest(tmp_path) -> Path:
    return tmp_path / "data" / "cifar-10-batches-py"


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{TARBALL_NAME}"


def assert_says_what_to_do(message: str, url: str):
    assert url in message, f"the message does not name {url}: {message}"
    assert "--tarball" in message, f"the message does not offer --tarball: {message}"


# --- downloads ----------------------------------------------------------------------------

def test_download_verifies_and_unpacks(server, dest, payload):
    """Does a plain download pass the md5 check and leave only the dataset folder?"""
    assert download_cifar10(dest, server.url, md5_of(payload), **FAST) == dest
    check_cifar10_dir(dest, deep=True)
    assert entries(dest.parent) == ["cifar-10-batches-py"]
    assert "readme.html" in entries(dest)
    assert server.requests == [{"path": f"/{TARBALL_NAME}", "range": None}]


def test_md5_mismatch_leaves_nothing(server, dest, payload):
    """Does an md5 mismatch name both sums, delete the download and install nothing?"""
    with pytest.raises(DownloadError) as err:
        download_cifar10(dest, server.url, "0" * 32, **FAST)
    message = str(err.value)
    assert "0" * 32 in message and md5_of(payload) in message
    assert_says_what_to_do(message, server.url)
    assert entries(dest.parent) == []


def test_cut_connection_resumes_with_range(server, dest, payload):
    """Does a cut connection resume with a Range request, giving the right file?"""
    server.plan = ["cut", "ok"]
    download_cifar10(dest, server.url, md5_of(payload), **FAST)
    check_cifar10_dir(dest, deep=True)
    first, second = server.requests
    assert first["range"] is None
    assert second["range"] == f"bytes={len(payload) // 2}-"


def test_server_ignoring_range_restarts_cleanly(server, dest, payload):
    """When the server answers a Range request with 200, does the download start over?"""
    server.plan = ["cut", "ignore_range"]
    download_cifar10(dest, server.url, md5_of(payload), **FAST)
    check_cifar10_dir(dest, deep=True)
    assert server.requests[1]["range"] == f"bytes={len(payload) // 2}-"
    assert entries(dest.parent) == ["cifar-10-batches-py"]


def test_complete_leftover_part_is_used(server, dest, payload):
    """Is a complete .part from an earlier run accepted when the server answers 416?"""
    dest.parent.mkdir(parents=True)
    (dest.parent / "cifar-10-batches-py.tar.gz.part").write_bytes(payload)
    download_cifar10(dest, server.url, md5_of(payload), **FAST)
    check_cifar10_dir(dest, deep=True)
    assert server.requests == [{"path": f"/{TARBALL_NAME}", "range": f"bytes={len(payload)}-"}]
    assert entries(dest.parent) == ["cifar-10-batches-py"]


def test_cut_every_time_gives_up_and_keeps_the_part(server, dest, payload):
    """After the last retry, is the partial file kept and the way to resume explained?"""
    server.plan = ["cut"]
    with pytest.raises(DownloadError) as err:
        download_cifar10(dest, server.url, md5_of(payload), **FAST)
    message = str(err.value)
    assert_says_what_to_do(message, server.url)
    assert "after 3 attempts" in message and "again to resume" in message
    assert len(server.requests) == 3
    assert entries(dest.parent) == ["cifar-10-batches-py.tar.gz.part"]


def test_not_found_fails_at_once(server, dest, payload):
    """Is a 404 reported with the URL and the way out, without pointless retries?"""
    server.plan = [404]
    with pytest.raises(DownloadError) as err:
        download_cifar10(dest, server.url, md5_of(payload), **FAST)
    message = str(err.value)
    assert_says_what_to_do(message, server.url)
    assert "HTTP 404" in message and "--url" in message
    assert len(server.requests) == 1
    assert entries(dest.parent) == []


def test_server_error_is_retried_then_reported(server, dest, payload):
    """Is a 500 retried `retries` times and then reported with the URL and the way out?"""
    server.plan = [500]
    with pytest.raises(DownloadError) as err:
        download_cifar10(dest, server.url, md5_of(payload), **FAST)
    message = str(err.value)
    assert_says_what_to_do(message, server.url)
    assert "HTTP 500" in message and "--retries" in message
    assert len(server.requests) == 1 + FAST["retries"]


def test_server_error_then_success(server, dest, payload):
    """Does one 503 followed by a good answer still give the dataset?"""
    server.plan = [503, "ok"]
    download_cifar10(dest, server.url, md5_of(payload), **FAST)
    check_cifar10_dir(dest, deep=True)


def test_offline_is_one_clear_paragraph(dest):
    """Offline (connection refused), does the error name the URL and suggest --tarball?"""
    url = closed_port_url()
    with pytest.raises(DownloadError) as err:
        download_cifar10(dest, url, **FAST)
    message = str(err.value)
    assert_says_what_to_do(message, url)
    assert "offline" in message and "\n" not in message
    assert not dest.exists()


def test_valid_dataset_is_not_downloaded_again(server, dest, payload):
    """Is a download skipped, without any request, when the folder is already valid?"""
    install_tarball_bytes(payload, dest)
    assert download_cifar10(dest, server.url, "0" * 32, **FAST) == dest
    assert server.requests == []


def test_force_downloads_again(server, dest, payload):
    """Does force=True replace a valid folder with a fresh download?"""
    install_tarball_bytes(payload, dest)
    (dest / "data_batch_1").write_bytes(b"stale" * FAKE_MIN_BYTES)
    download_cifar10(dest, server.url, md5_of(payload), force=True, **FAST)
    check_cifar10_dir(dest, deep=True)
    assert len(server.requests) == 1
    assert entries(dest.parent) == ["cifar-10-batches-py"]


def test_unsafe_download_is_rejected(server, dest):
    """Is an unsafe tarball rejected on the download path too, leaving nothing behind?"""
    evil = tarfile.TarInfo("../evil")
    evil.size = 4
    server.payload = make_tarball(cifar_members(), [evil])
    with pytest.raises(DownloadError) as err:
        download_cifar10(dest, server.url, md5_of(server.payload), **FAST)
    assert "'../evil'" in str(err.value) and "Download the official tarball" in str(err.value)
    assert entries(dest.parent) == []


# --- installing a local tarball ---------------------------------------------------------------

def install_tarball_bytes(data: bytes, dest: Path, md5: str | None = None) -> Path:
    tarball = dest.parent.parent / "local.tar.gz"
    tarball.write_bytes(data)
    return install_tarball(tarball, dest, md5)


def test_install_local_tarball(dest, payload):
    """Does install_tarball verify and unpack a tarball already on disk?"""
    assert install_tarball_bytes(payload, dest, md5_of(payload)) == dest
    check_cifar10_dir(dest, deep=True)
    assert entries(dest.parent) == ["cifar-10-batches-py"]


def test_install_flat_tarball(dest):
    """Is a tarball with the files at its top level (no folder) accepted too?"""
    install_tarball_bytes(make_tarball(cifar_members(folder="")), dest)
    check_cifar10_dir(dest, deep=True)


def test_install_md5_mismatch_keeps_users_file(tmp_path, dest, payload):
    """Does a wrong md5 name both sums and leave the user's own tarball alone?"""
    tarball = tmp_path / "mine.tar.gz"
    tarball.write_bytes(payload)
    with pytest.raises(DownloadError) as err:
        install_tarball(tarball, dest, "0" * 32)
    message = str(err.value)
    assert str(tarball) in message and md5_of(payload) in message and "0" * 32 in message
    assert "Download it again" in message
    assert tarball.exists() and not dest.exists()


def test_install_missing_tarball(tmp_path, dest):
    """Is a --tarball path that does not exist named in the error?"""
    with pytest.raises(DownloadError) as err:
        install_tarball(tmp_path / "nope.tar.gz", dest, None)
    assert str(tmp_path / "nope.tar.gz") in str(err.value) and "--tarball" in str(err.value)


def test_install_truncated_tarball(tmp_path, dest, payload):
    """Is a tarball cut short reported as incomplete, with nothing installed?"""
    tarball = tmp_path / "short.tar.gz"
    tarball.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DownloadError) as err:
        install_tarball(tarball, dest, None)
    assert str(tarball) in str(err.value) and "download it again" in str(err.value)
    assert entries(dest.parent) == []


def test_install_tarball_without_the_dataset(tmp_path, dest):
    """Is a tarball that lacks a batch refused, naming the missing file?"""
    members = cifar_members()
    del members["cifar-10-batches-py/test_batch"]
    tarball = tmp_path / "partial.tar.gz"
    tarball.write_bytes(make_tarball(members))
    with pytest.raises(DownloadError) as err:
        install_tarball(tarball, dest, None)
    message = str(err.value)
    assert str(tarball) in message and "missing test_batch" in message
    assert "Download the official tarball" in message
    assert entries(dest.parent) == []


def test_install_refuses_to_replace_a_foreign_folder(tmp_path, dest, payload):
    """Is a destination holding other files than CIFAR-10's left alone?"""
    dest.mkdir(parents=True)
    (dest / "thesis.tex").write_text("precious")
    with pytest.raises(DownloadError) as err:
        install_tarball_bytes(payload, dest)
    message = str(err.value)
    assert str(dest) in message and "thesis.tex" in message and "--dest" in message
    assert entries(dest) == ["thesis.tex"]


def _member(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    if kind == tarfile.REGTYPE:
        info.size = 4
    if kind == tarfile.CHRTYPE:
        info.devmajor, info.devminor = 1, 3
    return info


@pytest.mark.parametrize("name, kind, linkname, words", [
    ("../evil", tarfile.REGTYPE, "", "'..'"),
    ("cifar-10-batches-py/../../evil", tarfile.REGTYPE, "", "'..'"),
    ("{tmp}/absolute_evil", tarfile.REGTYPE, "", "absolute path"),
    ("cifar-10-batches-py/passwd", tarfile.SYMTYPE, "/etc/passwd", "link"),
    ("cifar-10-batches-py/up", tarfile.SYMTYPE, "../../evil", "link"),
    ("cifar-10-batches-py/hard", tarfile.LNKTYPE, "../evil", "link"),
    ("cifar-10-batches-py/null", tarfile.CHRTYPE, "", "device"),
])
def test_unsafe_member_is_rejected(tmp_path, dest, name, kind, linkname, words):
    """Is a member with '..', an absolute path, a link or a device refused, writing nothing?"""
    name = name.format(tmp=tmp_path)
    tarball = tmp_path / "evil.tar.gz"
    tarball.write_bytes(make_tarball(cifar_members(), [_member(name, kind, linkname)]))
    with pytest.raises(DownloadError) as err:
        install_tarball(tarball, dest, None)
    message = str(err.value)
    assert repr(name) in message and words in message and str(tarball) in message
    assert "Download the official tarball" in message
    assert entries(tmp_path) == ["data", "evil.tar.gz"]
    assert entries(dest.parent) == []


# --- datasets/get_datasets.sh -------------------------------------------------------------------

@pytest.fixture(scope="module")
def full_size_payload() -> bytes:
    """A tarball of full-size batches (10000 images of zeros), which a new process accepts."""
    return make_tarball(cifar_members(images=10_000))


def test_get_datasets_sh_end_to_end(tmp_path, server, full_size_payload, monkeypatch):
    """Does `cd datasets && ./get_datasets.sh --url URL --md5 MD5` install the dataset?"""
    cli = pytest.importorskip("coursekit.cli")
    if not hasattr(cli, "main"):
        pytest.skip("coursekit.cli has no main() yet")
    script = ROOT / "datasets" / "get_datasets.sh"
    assert os.access(script, os.X_OK), f"{script} is not executable"
    datasets = tmp_path / "datasets"  # a copy, so that the repository's datasets/ is untouched
    datasets.mkdir()
    shutil.copy2(script, datasets / "get_datasets.sh")
    server.payload = full_size_payload
    env = {**os.environ, "PYTHON": sys.executable, "COURSEKIT_ROOT": str(ROOT)}
    env.pop("CIFAR10_DIR", None)
    done = subprocess.run(
        ["./get_datasets.sh", "--url", server.url, "--md5", md5_of(full_size_payload), "--quiet"],
        cwd=datasets, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    folder = datasets / "cifar-10-batches-py"
    assert str(folder) in done.stdout
    assert entries(datasets) == ["cifar-10-batches-py", "get_datasets.sh"]
    assert len(server.requests) == 1
    monkeypatch.undo()  # back to the official sizes: these batches are full size
    check_cifar10_dir(folder, deep=True)
