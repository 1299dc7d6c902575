"""Reading a submission without leaving it (coursekit/grade/sandbox/paths.py)."""
from __future__ import annotations

import os

import pytest

from coursekit.grade.sandbox.paths import LOOP, MAX_LINK_HOPS, OUTSIDE, RefusedError, Tree


@pytest.fixture
def layout(tmp_path):
    """A submission beside a secret: links of every kind, inside and out."""
    secret = tmp_path / "course" / "source" / "cs231n"
    secret.mkdir(parents=True)
    (secret / "layers.py").write_text("SOLUTION = 1\n")
    sub = tmp_path / "sub"
    (sub / "cs231n" / "classifiers").mkdir(parents=True)
    (sub / "mine").mkdir()
    (sub / "mine" / "layers.py").write_text("MINE = 1\n")
    (sub / "cs231n" / "optim.py").write_text("OPTIM = 1\n")
    links = {
        "cs231n/abs_file.py": secret / "layers.py",  # absolute, to a file outside
        "cs231n/rel_file.py": "../../course/source/cs231n/layers.py",  # relative, .. out of the submission
        "abs_folder": secret,  # absolute, to a folder outside
        "cs231n/classifiers/rel_folder": "../../../course/source/cs231n",  # relative, to a folder outside
        "cs231n/layers.py": "../mine/layers.py",  # relative, stays inside
        "cs231n/alias.py": str(sub / "cs231n" / "optim.py"),  # absolute, stays inside
        "cs231n/classifiers/up": "..",  # a folder on its own path
        "loop_a": "loop_b", "loop_b": "loop_a",
    }
    for name, target in links.items():
        os.symlink(target, sub / name)
    return sub


def test_links_that_leave_are_refused_and_links_inside_are_followed(layout):
    """Are absolute and relative links (files and folders) that leave refused, and links inside followed?"""
    with Tree(layout) as tree:
        entries = {entry.path: entry.refused for entry in tree.walk()}
        assert tree.read("cs231n/layers.py", 100) == b"MINE = 1\n"
        assert tree.read("cs231n/alias.py", 100) == b"OPTIM = 1\n"
        for path in ("cs231n/abs_file.py", "cs231n/rel_file.py", "abs_folder/layers.py",
                     "cs231n/classifiers/rel_folder/layers.py"):
            with pytest.raises(RefusedError, match="outside your submission"):
                tree.read(path, 100)
    for path in ("cs231n/abs_file.py", "cs231n/rel_file.py", "abs_folder", "cs231n/classifiers/rel_folder"):
        assert entries[path].why == OUTSIDE, path
    assert entries["loop_a"].why == entries["loop_b"].why == LOOP
    assert entries["cs231n/layers.py"] is None and entries["cs231n/alias.py"] is None
    assert not any("SOLUTION" in path or path.startswith("cs231n/classifiers/up/") for path in entries)


def test_a_file_swapped_for_a_link_after_the_walk_is_not_read(layout, tmp_path):
    """Is a regular file replaced by a link to the course between the walk and the read refused?"""
    with Tree(layout) as tree:
        assert "cs231n/optim.py" in {entry.path for entry in tree.walk()}
        (layout / "cs231n" / "optim.py").unlink()
        os.symlink(tmp_path / "course" / "source" / "cs231n" / "layers.py", layout / "cs231n" / "optim.py")
        with pytest.raises(RefusedError):
            tree.read("cs231n/optim.py", 100)


def test_a_folder_swapped_for_a_link_is_not_entered(layout, tmp_path):
    """Is a folder of the submission, replaced by a link to the course, refused on the next read?"""
    with Tree(layout) as tree:
        os.rename(layout / "mine", layout / "mine-old")
        os.symlink(tmp_path / "course" / "source" / "cs231n", layout / "mine")
        with pytest.raises(RefusedError):
            tree.read("cs231n/layers.py", 100)  # cs231n/layers.py -> ../mine/layers.py -> the course


def test_long_chains_sizes_and_special_files(tmp_path):
    """Are a chain of too many links, a file over the size limit and a fifo refused, each with its reason?"""
    (tmp_path / "real.py").write_text("x" * 50)
    previous = "real.py"
    for n in range(MAX_LINK_HOPS + 1):
        os.symlink(previous, tmp_path / f"hop{n}")
        previous = f"hop{n}"
    os.mkfifo(tmp_path / "pipe.py")
    with Tree(tmp_path) as tree:
        assert tree.read(f"hop{MAX_LINK_HOPS - 1}", 100) == b"x" * 50
        with pytest.raises(RefusedError, match="loops"):
            tree.read(f"hop{MAX_LINK_HOPS}", 100)
        with pytest.raises(ValueError, match="larger than"):
            tree.read("real.py", 10)
        assert "larger than" in tree.take("real.py", 10).why
        with pytest.raises(RefusedError, match="not a regular file"):
            tree.read("pipe.py", 100)


def test_the_walk_is_bounded(tmp_path):
    """Does the walk stop at its entry and depth limits?"""
    deep = tmp_path
    for level in range(30):
        deep = deep / f"d{level}"
        deep.mkdir()
        (deep / "x.py").write_text("")
    with Tree(tmp_path) as tree:
        assert len(list(tree.walk(max_depth=5))) == 4  # x.py of d0 .. d3
        assert len(list(tree.walk(max_entries=7))) == 3
