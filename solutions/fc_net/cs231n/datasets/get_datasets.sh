#!/usr/bin/env bash
# Download CIFAR-10 (python version) next to this script, as in the CS231n starter code.
# Run it from your assignment folder:   bash cs231n/datasets/get_datasets.sh
# The notebooks then find it at cs231n/datasets/cifar-10-batches-py (or set CIFAR10_DIR).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
md5="c58f30108f718f92721af3b95e74349a"
tarball="cifar-10-python.tar.gz"
if [ -f cifar-10-batches-py/test_batch ]; then
    echo "CIFAR-10 is already in $(pwd)/cifar-10-batches-py"
    exit 0
fi
if command -v curl > /dev/null; then
    curl -fL --retry 3 -C - -o "$tarball" "$url"
else
    wget -c -O "$tarball" "$url"
fi
echo "$md5  $tarball" | md5sum -c - || { echo "The download is corrupt: delete $tarball and run this script again." >&2; exit 1; }
tar -xzf "$tarball"
rm "$tarball"
echo "CIFAR-10 is ready in $(pwd)/cifar-10-batches-py"
