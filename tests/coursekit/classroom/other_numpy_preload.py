"""Preloaded into a test Dask worker (``dask worker --preload``): that worker reports another numpy
version, as a machine set up without the course's constraints.txt would."""
import importlib.metadata

_version = importlib.metadata.version


def _other_numpy(name):
    return "0.0.0+other" if name == "numpy" else _version(name)


importlib.metadata.version = _other_numpy
