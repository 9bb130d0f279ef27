"""Is the dataset on disk the one the workload names?

MNIST and Fashion-MNIST share the file names, the IDX layout and the 28x28
shape, so a folder of one passes for the other. :func:`check_identity` tells
them apart, first by the sha256 of the files (the official releases and the
known re-splits below), else by image statistics:

==============  ====================  =====================================
dataset         mean pixel in [0, 1]  source
==============  ====================  =====================================
MNIST           0.1307                the normalisation constant of the
                                      PyTorch MNIST example (train set)
Fashion-MNIST   0.2860                same, as used for Fashion-MNIST
==============  ====================  =====================================

A mean pixel below :data:`MEAN_SPLIT` (halfway, 0.21) is MNIST-like, above it
Fashion-like; a file set whose hashes name the other dataset, or whose statistics
do, is refused with one line.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["KNOWN_SHA256", "MEAN_PIXEL", "MEAN_SPLIT", "check_identity", "identify", "sha256_file"]

#: sha256 of known file sets besides the official ones (neurosim.data.mnist.SHA256), by dataset.
KNOWN_SHA256: dict[str, dict[str, str]] = {
    # /work/shared/data/mnist-10k: the official MNIST t10k re-split 8,000 / 2,000 (its README).
    "mnist": {
        "train-images-idx3-ubyte.gz": "deb6c3a1888b2423a5d01b1661ba096f9520cc7c183e16cf8a18e3a79b98372d",
        "train-labels-idx1-ubyte.gz": "b8dc58f5efb725f845f118f06973c2b92d25bf89e5f4c6d9364fb31839f7c9af",
        "t10k-images-idx3-ubyte.gz": "b77fb3479627ef7833025f4f99520c04d6961b9bce5cea4a44c535d6a0c597e8",
        "t10k-labels-idx1-ubyte.gz": "2cca0dd44fa0495df4f2a36b11b8dc5c8908e902ff7813eaf91c0c786a488b1c",
    },
}

#: Mean training pixel (in [0, 1]) of each grayscale dataset.
MEAN_PIXEL: dict[str, float] = {"mnist": 0.1307, "fashion_mnist": 0.2860}
MEAN_SPLIT = (MEAN_PIXEL["mnist"] + MEAN_PIXEL["fashion_mnist"]) / 2


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (also the run folder's data-file seal)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _by_hash(folder: Path) -> str | None:
    """The dataset whose known sums match the image files of ``folder`` (None: no match)."""
    from .mnist import SHA256

    tables = {name: [sums] for name, sums in SHA256.items()}
    for name, sums in KNOWN_SHA256.items():
        tables.setdefault(name, []).append(sums)
    digests = {f: sha256_file(folder / f) for f in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz") if (folder / f).is_file()}
    for name, variants in tables.items():
        for sums in variants:
            if digests and any(sums.get(f) == d for f, d in digests.items()):
                return name
    return None


#: Fewest images whose mean pixel is trusted (single images of either set range widely).
MIN_IMAGES = 100


def identify(x_train: np.ndarray, folder: str | Path | None = None) -> tuple[str | None, str]:
    """(dataset, how it was told) for 784-pixel grayscale images in [0, 1]; None when too few images."""
    if folder is not None:
        name = _by_hash(Path(folder))
        if name is not None:
            return name, "sha256 of its files"
    if len(x_train) < MIN_IMAGES:
        return None, f"only {len(x_train)} images"
    mean = float(np.mean(x_train[: min(len(x_train), 4096)], dtype=np.float64))
    name = "mnist" if mean < MEAN_SPLIT else "fashion_mnist"
    return name, f"mean pixel {mean:.3f} (MNIST {MEAN_PIXEL['mnist']}, Fashion-MNIST {MEAN_PIXEL['fashion_mnist']})"


def check_identity(data, expected: str) -> None:
    """Raise DataError when ``data`` (a :class:`~neurosim.data.Dataset`) is not ``expected``."""
    if expected not in MEAN_PIXEL or data.x_train.shape[1:] != (784,):
        return
    found, how = identify(data.x_train, data.source_dir)
    if found is not None and found != expected:
        raise DataError(f"{data.source_dir}: the workload names dataset.name {expected}, but these files are {found} (by {how})")
