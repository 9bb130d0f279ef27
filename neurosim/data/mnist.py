"""MNIST and Fashion-MNIST: find (or download) the four IDX files and load them.

The folder holding the files is the first of these that holds all four:

1. the workload's ``dataset.data_dir`` (a relative path is taken from ``base_dir``,
   the workload file's folder, or else from the current directory);
2. ``$NEUROSIM_DATA_DIR``;
3. the user cache, ``$XDG_CACHE_HOME/neurosim/<name>`` or ``~/.cache/neurosim/<name>``.

If none does, the files are downloaded from the official mirrors into the cache,
each checked against its official sha256 before it is put in place.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import numpy as np

from ..config.workload import DatasetConfig
from ..errors import DataError
from ..paths import user_cache_dir
from .idx import read_idx

__all__ = ["Dataset", "load_dataset", "center_crop", "download_dataset", "Opener", "FILES", "MIRRORS", "SHA256", "ENV_VAR"]

#: Environment variable naming a folder with the four files.
ENV_VAR = "NEUROSIM_DATA_DIR"

#: The four files: train images, train labels, test images, test labels. The same
#: names without ``.gz`` (uncompressed) are accepted too.
FILES: tuple[str, str, str, str] = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

#: Official mirrors, tried in order.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion_mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

#: sha256 of the official files.
SHA256: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    # Zalando's README lists only MD5 sums. These sha256 sums are the ones used by two
    # independent public loaders, which agree with each other (and one of which also
    # lists the official MNIST sums above, matching them).
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
        "train-labels-idx1-ubyte.gz": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
        "t10k-images-idx3-ubyte.gz": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
        "t10k-labels-idx1-ubyte.gz": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
    },
}

IMAGE_SIDE = 28
N_CLASSES = 10
DOWNLOAD_TIMEOUT_S = 20.0


class Opener(Protocol):
    """The shape of ``urllib.request.urlopen``: open a URL as a binary stream."""

    def __call__(self, url: str, *, timeout: float) -> IO[bytes]: ...


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split ready for training.

    ``x_*`` are float32 rows of pixels scaled to [0, 1] (C-contiguous; 784 for MNIST,
    3072 for CIFAR-10 in channel, row, column order); ``y_*``
    are int64 class indices. The arrays are read-only: one dataset is shared by
    every algorithm of a run, so none may alter it.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source_dir: str
    n_classes: int = N_CLASSES

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)


def load_dataset(
    cfg: DatasetConfig,
    *,
    base_dir: str | Path | None = None,
    opener: Opener | None = None,
) -> Dataset:
    """Load the dataset ``cfg`` names, downloading it into the cache if no folder has it.

    ``opener`` defaults to ``urllib.request.urlopen``. Missing, corrupt or
    undownloadable files raise :class:`DataError` with one line. CIFAR-10 is
    loaded by :func:`neurosim.data.cifar10.load_cifar10`.
    """
    if cfg.name == "cifar10":
        from .cifar10 import load_cifar10

        return load_cifar10(cfg, base_dir=base_dir, opener=opener)
    searched = _search_dirs(cfg, base_dir)
    found = _find(searched)
    if found is None:
        folder = _cache_dir(cfg.name)
        try:
            download_dataset(cfg.name, folder, opener=opener)
        except DataError as e:
            raise DataError(f"{_not_found(cfg.name, searched)}; downloading them failed: {e}") from e
        found = folder, [folder / f for f in FILES]
    folder, (train_images, train_labels, test_images, test_labels) = found
    x_train, y_train = _load_split(train_images, train_labels, cfg.train_limit)
    x_test, y_test = _load_split(test_images, test_labels, cfg.test_limit)
    if cfg.crop is not None:
        x_train, x_test = center_crop(x_train, cfg.crop), center_crop(x_test, cfg.crop)
    return Dataset(cfg.name, x_train, y_train, x_test, y_test, source_dir=str(folder))


def download_dataset(
    name: str,
    folder: str | Path,
    *,
    opener: Opener | None = None,
    sha256: Mapping[str, str] | None = None,
    timeout_s: float = DOWNLOAD_TIMEOUT_S,
) -> None:
    """Download the files of dataset ``name`` that ``folder`` lacks, trying each mirror.

    Each file is streamed to a temp file in ``folder``, checked against ``sha256``
    (default: the official sums) and only then renamed into place, so ``folder``
    never holds a partial or unverified file. Raises :class:`DataError` when every
    mirror fails for a file or a checksum does not match.
    """
    folder = Path(folder)
    open_url = opener or urllib.request.urlopen
    sums = SHA256[name] if sha256 is None else sha256
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{folder}: cannot create the download folder: {e.strerror or e}") from e
    for fname in FILES:
        if _locate_file(folder, fname) is not None:
            continue
        failures = []
        for base in MIRRORS[name]:
            try:
                _fetch(open_url, base + fname, folder / fname, sums[fname], timeout_s)
                break
            except (OSError, http.client.HTTPException) as e:
                failures.append(f"{base}{fname}: {e}")
        else:
            raise DataError(f"cannot download {fname} ({'; '.join(failures)})".replace("\n", " "))


def _fetch(open_url: Opener, url: str, dest: Path, expected_sha256: str, timeout_s: float) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, open_url(url, timeout=timeout_s) as response:
            while chunk := response.read(1 << 16):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected_sha256:
            raise DataError(
                f"{url}: sha256 {digest.hexdigest()} does not match the expected "
                f"{expected_sha256}; the download was discarded"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _search_dirs(cfg: DatasetConfig, base_dir: str | Path | None) -> list[tuple[Path, str]]:
    """The folders to search, in order, each with where it comes from."""
    dirs = []
    if cfg.data_dir:
        data_dir = Path(cfg.data_dir).expanduser()
        dirs.append((Path(base_dir or Path.cwd()) / data_dir, "dataset.data_dir"))
    env = os.environ.get(ENV_VAR)
    if env:
        dirs.append((Path(env).expanduser(), f"${ENV_VAR}"))
    dirs.append((_cache_dir(cfg.name), "user cache"))
    return dirs


def _cache_dir(name: str) -> Path:
    return user_cache_dir(name)


def _find(searched: list[tuple[Path, str]]) -> tuple[Path, list[Path]] | None:
    """The first searched folder holding all four files, with their paths."""
    for folder, _ in searched:
        paths = _locate(folder)
        if paths is not None:
            return folder, paths
    return None


def _locate(folder: Path) -> list[Path] | None:
    """The four files in ``folder`` (each gzip or plain), or None unless all are there."""
    paths = []
    for fname in FILES:
        path = _locate_file(folder, fname)
        if path is None:
            return None
        paths.append(path)
    return paths


def _locate_file(folder: Path, fname: str) -> Path | None:
    for path in (folder / fname, folder / fname.removesuffix(".gz")):
        if path.is_file():
            return path
    return None


def _not_found(name: str, searched: list[tuple[Path, str]]) -> str:
    where = ", ".join(f"{folder} ({why})" for folder, why in searched)
    if not os.environ.get(ENV_VAR):
        where += f", or a folder named by ${ENV_VAR} (not set)"
    return f"{name} data not found: put the four files {', '.join(FILES)} in one of: {where}"


def center_crop(x: np.ndarray, side: int) -> np.ndarray:
    """The central ``side`` x ``side`` pixels of each flattened 28x28 image (offset ``(28 - side) // 2``)."""
    start = (IMAGE_SIDE - side) // 2
    images = x.reshape(len(x), IMAGE_SIDE, IMAGE_SIDE)[:, start : start + side, start : start + side]
    out = np.ascontiguousarray(images.reshape(len(x), side * side))
    out.flags.writeable = False
    return out


def _load_split(images_path: Path, labels_path: Path, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Pixels as float32 rows in [0, 1] and labels as int64, the first ``limit`` of each."""
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        rows, cols = images.shape[1:]
        raise DataError(f"{images_path}: images are {rows}x{cols} pixels, expected {IMAGE_SIDE}x{IMAGE_SIDE}")
    if len(images) != len(labels):
        raise DataError(f"{images_path}: {len(images)} images, but {labels_path} has {len(labels)} labels")
    if len(labels) == 0:
        raise DataError(f"{labels_path}: holds no examples")
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        raise DataError(f"{labels_path}: label {labels[bad[0]]} at index {bad[0]}, expected 0..{N_CLASSES - 1}")
    n = len(labels) if limit is None else min(limit, len(labels))
    x = images[:n].reshape(n, IMAGE_SIDE * IMAGE_SIDE).astype(np.float32)
    x /= 255
    y = labels[:n].astype(np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y
