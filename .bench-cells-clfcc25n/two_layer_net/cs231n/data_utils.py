"""Loading CIFAR-10 from the official python-batch format."""
import os
import pickle

import numpy as np

# Where get_CIFAR10_data looks when it is not told: $CIFAR10_DIR, else the CS231n place.
DEFAULT_CIFAR10_DIR = os.path.join(os.path.dirname(__file__), 'datasets', 'cifar-10-batches-py')
IMAGES_PER_BATCH = 10000
IMAGE_SHAPE = (3, 32, 32)  # channels, height, width: the order of the pixel planes on disk
HOW_TO_GET_DATA = (
    "Get the dataset with `bash datasets/get_datasets.sh` (or `coursekit data`), "
    "or point the CIFAR10_DIR environment variable at a folder that holds "
    "data_batch_1 ... data_batch_5, test_batch and batches.meta."
)


def default_cifar10_dir():
    """The dataset folder: $CIFAR10_DIR when it is set, else DEFAULT_CIFAR10_DIR."""
    return os.environ.get('CIFAR10_DIR') or DEFAULT_CIFAR10_DIR


def load_pickle(f):
    """Unpickle a CIFAR-10 batch written by Python 2."""
    return pickle.load(f, encoding='latin1')


def _load_raw_batch(filename):
    """
    Read one batch file without converting its pixels.

    Returns a tuple of:
    - X: uint8 array of shape (10000, 3, 32, 32), channels first (a view of the file's data)
    - y: int64 array of shape (10000,)
    """
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"CIFAR-10 batch file {filename} does not exist. {HOW_TO_GET_DATA}")
    try:
        with open(filename, 'rb') as f:
            datadict = load_pickle(f)
        X = np.asarray(datadict['data'], dtype=np.uint8).reshape(-1, *IMAGE_SHAPE)
        y = np.asarray(datadict['labels'], dtype=np.int64)
    except (EOFError, pickle.UnpicklingError, KeyError, ValueError, TypeError) as err:
        raise ValueError(
            f"CIFAR-10 batch file {filename} is truncated or corrupt ({type(err).__name__}: {err}). "
            f"Delete the folder and download it again. {HOW_TO_GET_DATA}"
        ) from None
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"CIFAR-10 batch file {filename} holds {X.shape[0]} images but "
                         f"{y.shape[0]} labels: it is corrupt. {HOW_TO_GET_DATA}")
    return X, y


def load_CIFAR_batch(filename, dtype=np.float64):
    """Load a single batch of CIFAR-10 as images of shape (N, 32, 32, 3) and labels (N,)."""
    X, y = _load_raw_batch(filename)
    return X.transpose(0, 2, 3, 1).astype(dtype), y


def _load_raw(ROOT):
    """All of CIFAR-10 as uint8, channels first: (50000, 3, 32, 32), (50000,), (10000, ...), (10000,)."""
    if not os.path.isdir(ROOT):
        raise FileNotFoundError(f"CIFAR-10 folder {ROOT} does not exist. {HOW_TO_GET_DATA}")
    batches = [_load_raw_batch(os.path.join(ROOT, 'data_batch_%d' % b)) for b in range(1, 6)]
    Xtr = np.concatenate([X for X, _ in batches])
    Ytr = np.concatenate([y for _, y in batches])
    Xte, Yte = _load_raw_batch(os.path.join(ROOT, 'test_batch'))
    return Xtr, Ytr, Xte, Yte


def load_CIFAR10(ROOT, dtype=np.float64):
    """
    Load all of CIFAR-10 from the folder ROOT.

    Returns a tuple of:
    - Xtr: training images, of shape (50000, 32, 32, 3), of the given dtype
    - Ytr: training labels, of shape (50000,)
    - Xte: test images, of shape (10000, 32, 32, 3)
    - Yte: test labels, of shape (10000,)
    """
    Xtr, Ytr, Xte, Yte = _load_raw(ROOT)
    return (Xtr.transpose(0, 2, 3, 1).astype(dtype), Ytr,
            Xte.transpose(0, 2, 3, 1).astype(dtype), Yte)


def get_CIFAR10_data(num_training=49000, num_validation=1000, num_test=1000,
                     subtract_mean=True, cifar10_dir=None, dtype=np.float32):
    """
    Load CIFAR-10 and split it into train, validation and test sets for the
    classifiers: the validation set is the num_validation images that follow the
    first num_training images, the test set is the first num_test test images, and
    the mean training image is subtracted from all three when subtract_mean is set.

    Each split is converted from uint8 exactly once, so this needs about as much
    memory as its result.

    Returns a dictionary with:
    - X_train: (num_training, 3, 32, 32), y_train: (num_training,)
    - X_val: (num_validation, 3, 32, 32), y_val: (num_validation,)
    - X_test: (num_test, 3, 32, 32), y_test: (num_test,)
    """
    root = cifar10_dir or default_cifar10_dir()
    Xtr, Ytr, Xte, Yte = _load_raw(root)
    if num_training + num_validation > Xtr.shape[0] or num_test > Xte.shape[0]:
        raise ValueError(
            f"Asked for {num_training} training + {num_validation} validation images and "
            f"{num_test} test images, but {root} holds {Xtr.shape[0]} and {Xte.shape[0]}."
        )
    val = slice(num_training, num_training + num_validation)
    data = {
        'X_train': Xtr[:num_training].astype(dtype), 'y_train': Ytr[:num_training],
        'X_val': Xtr[val].astype(dtype), 'y_val': Ytr[val],
        'X_test': Xte[:num_test].astype(dtype), 'y_test': Yte[:num_test],
    }
    if subtract_mean:
        mean_image = data['X_train'].mean(axis=0)  # (3, 32, 32)
        for split in ('X_train', 'X_val', 'X_test'):
            data[split] -= mean_image
    return data
