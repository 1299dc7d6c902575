"""The public build's references, computed once and kept: never one of other code or other inputs."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from coursekit.grade.checks import base, reference_cache
from coursekit.grade.checks.reference_cache import call_key, public_references, read_file, source_digest, write_file

from ..conftest import ROOT

SPEC = {"target": "cs231n.layers:affine_forward", "args": [{"a": "x"}, {"a": "w"}, {"a": "b"}],
        "returns": ["out", None]}


def inputs(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((2, 3)), "w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}


@pytest.fixture
def fresh(monkeypatch):
    """A process that has computed, read and imported nothing yet (as far as the cache knows)."""
    monkeypatch.setattr(reference_cache, "_MEMORY", {})
    monkeypatch.setattr(reference_cache, "_ON_DISK", {})
    monkeypatch.setattr(reference_cache, "_IMPORTED_FROM", {})


@pytest.fixture
def source(tmp_path):
    """A copy of the solution's source folder (its bytes name the cache)."""
    shutil.copytree(ROOT / "source" / "cs231n", tmp_path / "source" / "cs231n",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "source"


def test_a_public_reference_is_computed_once_and_read_only(fresh, source):
    """In the public build, is each reference computed once, served read-only, and right?"""
    with public_references(source, "t", None) as cache:
        first = base.reference("call", SPEC, inputs())
        again = base.reference("call", SPEC, inputs())
        other = base.reference("call", SPEC, inputs(1))
    assert cache.computed == 2
    expected = base._compute_reference("call", SPEC, inputs())
    assert np.array_equal(first["out"], expected["out"]) and np.array_equal(again["out"], expected["out"])
    assert not again["out"].flags.writeable
    assert not np.array_equal(other["out"], first["out"])


def test_hidden_references_are_never_cached(fresh, source):
    """Does the hidden build compute every reference afresh (its inputs are new in every grade)?"""
    with public_references(source, "t", None) as cache, base.building(5, hidden=True):
        base.reference("call", SPEC, inputs())
        result = base.reference("call", SPEC, inputs())
    assert cache.computed == 0 and result["out"].flags.writeable


def test_the_key_names_the_source_bytes_and_the_inputs(source):
    """Does a changed byte of the solution, another seed's inputs, dtype or spec give another key?"""
    salt = source_digest(source)
    layers = source / "cs231n" / "layers.py"
    layers.write_bytes(layers.read_bytes() + b"\n# edited\n")
    assert source_digest(source) != salt
    key = call_key(salt, "call", SPEC, inputs())
    assert key == call_key(salt, "call", SPEC, inputs())
    others = [call_key(source_digest(source), "call", SPEC, inputs()), call_key(salt, "call", SPEC, inputs(1)),
              call_key(salt, "call", SPEC, {k: v.astype(np.float32) for k, v in inputs().items()}),
              call_key(salt, "call", {**SPEC, "returns": "out"}, inputs()), call_key(salt, "grid", SPEC, inputs())]
    assert key not in others and len(set(others)) == len(others)


def test_a_file_of_other_code_or_a_damaged_one_is_never_read(tmp_path):
    """Is a cache file read only under the salt it was written with, and ignored when damaged?"""
    path = tmp_path / "refs.bin"
    entries = {"k1": {"out": np.arange(6.0).reshape(2, 3), "n": np.array(3.0)}, "k2": {"v": np.zeros(0)}}
    write_file(path, "salt-a", entries)
    found = read_file(path, "salt-a")
    assert found.keys() == entries.keys()
    assert all(np.array_equal(found[k][n], v) and found[k][n].shape == v.shape
               for k, arrays in entries.items() for n, v in arrays.items())
    assert read_file(path, "salt-b") == {}
    path.write_bytes(path.read_bytes()[:40])
    assert read_file(path, "salt-a") == {}
    assert read_file(tmp_path / "missing.bin", "salt-a") == {}


def test_a_file_is_written_only_for_the_bytes_the_solution_was_imported_from(fresh, source, tmp_path, monkeypatch):
    """Is the cache written only by a process that imported the solution from the bytes it names,
    read by the next process, and left for new bytes when the solution changes?"""
    folder = tmp_path / "cache"
    with public_references(source, "t", folder):
        base.reference("call", SPEC, inputs())
    assert not list(folder.glob("*.bin"))  # this process imported cs231n before the cache knew its bytes
    reference_cache._IMPORTED_FROM[source.resolve()] = source_digest(source)
    with public_references(source, "t", folder):
        base.reference("call", SPEC, inputs())
    assert len(list(folder.glob("*.bin"))) == 1
    monkeypatch.setattr(reference_cache, "_MEMORY", {})  # the next process
    monkeypatch.setattr(reference_cache, "_ON_DISK", {})
    with public_references(source, "t", folder) as cache:
        served = base.reference("call", SPEC, inputs())
    assert cache.computed == 0
    assert np.array_equal(served["out"], base._compute_reference("call", SPEC, inputs())["out"])
    layers = source / "cs231n" / "layers.py"
    layers.write_bytes(layers.read_bytes() + b"\n# edited\n")
    with public_references(source, "t", folder) as cache:
        base.reference("call", SPEC, inputs())
    assert cache.computed == 1  # new bytes: computed again (and not written: imported from the old ones)
