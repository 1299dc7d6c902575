"""What running a track's notebooks writes into it (saved models, the downloaded dataset): never
committed, never a difference from a fresh build, never in the demo's sample submission."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from coursekit.config import load_config
from coursekit.tracks.generate import render_tracks
from coursekit.tracks.trees import OUTPUTS, diff_trees, ignore_outputs, read_tree

ROOT = Path(__file__).resolve().parents[3]
SAVED = {"two_layer_net": "best_two_layer_net.npy", "fc_net": "best_fc_net.npy"}  # what the notebooks save


def outputs_of(folder: Path, assignment: str) -> list[Path]:
    """A file at (or inside) each OUTPUTS path of an assignment folder, as the notebooks and
    get_datasets.sh leave them."""
    return [folder / "cs231n/saved" / SAVED[assignment], folder / "cs231n/datasets/cifar-10-batches-py/data_batch_1",
            folder / "cs231n/datasets/cifar-10-python.tar.gz"]


def _git(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)


@pytest.mark.skipif(_git("rev-parse", "--git-dir").returncode != 0, reason="not a git checkout")
def test_outputs_in_the_tracks_are_git_ignored_and_none_is_committed():
    """Is every notebook output in release/<id>/ and solutions/<id>/ git-ignored, and is none committed?"""
    paths = [str(p.relative_to(ROOT)) for track in ("release", "solutions") for assignment in SAVED
             for p in outputs_of(ROOT / track / assignment, assignment)]
    ignored = _git("check-ignore", "--no-index", *paths).stdout.split()
    assert sorted(ignored) == sorted(paths)
    tracked = _git("ls-files", "release", "solutions").stdout.split()
    assert not [p for p in tracked if any(f"/{out}" in p for out in OUTPUTS)]


@pytest.fixture(scope="module")
def course():
    return load_config(ROOT / "course.toml")


def test_the_drift_check_does_not_see_outputs(course, tmp_path):
    """With a saved model and a downloaded dataset in both tracks, does the drift check (`coursekit build
    --check` reads the tracks with read_tree) still find them equal to a fresh build, and still see a stray
    file beside them?"""
    fresh = {path: data for path, data in render_tracks(course, ["fc_net"]).items()
             if path.startswith(("release/", "solutions/"))}
    for path, data in fresh.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    for track in ("release", "solutions"):
        for path in outputs_of(tmp_path / track / "fc_net", "fc_net"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\x93NUMPY not generated")
    assert diff_trees(read_tree(tmp_path, ["release/fc_net", "solutions/fc_net"]), fresh) == []
    (tmp_path / "release/fc_net/cs231n/notes.py").write_text("x = 1\n")
    lines = diff_trees(read_tree(tmp_path, ["release/fc_net", "solutions/fc_net"]), fresh)
    assert lines[1:] and lines[1] == "  not generated: release/fc_net/cs231n/notes.py"


def test_the_demos_sample_submission_leaves_outputs_out(tmp_path):
    """Does the copy the demo grades (copytree with ignore_outputs) leave a stray saved model and the dataset
    out, and keep every module?"""
    folder = tmp_path / "solutions/fc_net"
    shutil.copytree(ROOT / "solutions/fc_net/cs231n", folder / "cs231n", ignore=ignore_outputs)
    for path in outputs_of(folder, "fc_net"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not graded")
    shutil.copytree(folder, tmp_path / "submission", ignore=ignore_outputs)
    copied = {p.relative_to(tmp_path / "submission").as_posix() for p in (tmp_path / "submission").rglob("*")
              if p.is_file()}
    assert "cs231n/layers.py" in copied and "cs231n/datasets/get_datasets.sh" in copied
    assert not [p for p in copied if "saved" in p or "cifar-10" in p], copied
