"""python -m bench: see bench/__init__.py.

The BLAS thread count must be set before numpy is first imported, so ``--threads`` is read
here, ahead of everything else.
"""
import os
import sys

from .common import THREAD_VARIABLES, threads_from_argv

threads = threads_from_argv(sys.argv[1:])
for variable in THREAD_VARIABLES:
    os.environ[variable] = str(threads)

from .suite import main  # noqa: E402  (after the thread variables)

sys.exit(main())
