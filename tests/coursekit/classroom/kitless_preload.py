"""Preloaded into a test Dask worker (``dask worker --preload``): that worker cannot import coursekit,
as on a machine where it is missing or where PyPI's unrelated ``coursekit`` was installed instead."""
import sys


class _NoKit:
    """A finder that refuses the kit, ahead of every other finder."""

    def find_spec(self, name, path=None, target=None):
        if name == "coursekit" or name.startswith("coursekit."):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)", name=name)
        return None


sys.meta_path.insert(0, _NoKit())
