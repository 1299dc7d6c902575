#!/usr/bin/env bash
# Download CIFAR-10 into this folder, as in the CS231n starter code:
#
#     cd datasets && ./get_datasets.sh
#
# A thin wrapper over `coursekit data` (progress bar, resume, md5 check, safe unpack).
# Extra arguments are passed on, e.g. `./get_datasets.sh --tarball ~/cifar-10-python.tar.gz`.
# Set PYTHON to choose the interpreter (default: python).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# course.toml sits one folder up; this lets the script run from any working directory.
export COURSEKIT_ROOT="${COURSEKIT_ROOT:-$(dirname "$here")}"
exec "${PYTHON:-python}" -m coursekit data --dest "$here/cifar-10-batches-py" "$@"
