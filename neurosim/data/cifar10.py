"""CIFAR-10 (Krizhevsky 2009): find (or download) the official batches and load them.

Accepted layouts, in each searched folder (the same search order as MNIST:
``dataset.data_dir``, ``$NEUROSIM_DATA_DIR``, the user cache ``…/neurosim/cifar10``):

- the python version: ``cifar-10-batches-py/`` (or its files directly in the folder):
  ``data_batch_1`` … ``data_batch_5`` and ``test_batch``, each a pickled dict with
  ``data`` (10000 × 3072 uint8: the red, green and blue 32 × 32 planes of each image, row
  by row) and ``labels``. They are read with an unpickler that admits only the NumPy
  array reconstructors, so a batch file cannot run code;
- the binary version: ``cifar-10-batches-bin/`` (or its files directly):
  ``data_batch_1.bin`` … ``data_batch_5.bin``, ``test_batch.bin``, records of one label
  byte and 3072 pixel bytes in the same order;
- the archive ``cifar-10-python.tar.gz`` (extracted next to itself on first use).

If none has them, the python archive is downloaded from the authors' page into the
cache, checked against its sha256 (:data:`SHA256`, the one Keras' ``cifar10.load_data``
checks; its md5 ``c58f30108f718f92721af3b95e74349a`` is the one the authors' page and
torchvision list) and extracted. Pixels become float32 rows of 3072 values in [0, 1]
in (channel, row, column) order, i.e. the (3, 32, 32) input of a conv net.
"""

from __future__ import annotations

import http.client
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from ..config.workload import DatasetConfig
from ..errors import DataError
from .mnist import ENV_VAR, Dataset, Opener, _cache_dir, _fetch, _search_dirs

__all__ = ["load_cifar10", "download_cifar10", "ARCHIVE", "URL", "SHA256", "TRAIN_BATCHES", "TEST_BATCH"]

ARCHIVE = "cifar-10-python.tar.gz"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
PIXELS = 3 * 32 * 32
N_CLASSES = 10
DOWNLOAD_TIMEOUT_S = 60.0

_LAYOUTS = (("cifar-10-batches-py", ""), ("", ""), ("cifar-10-batches-bin", ".bin"), ("", ".bin"))


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers, bytes and NumPy arrays only."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes pickled by Python 3 at protocol 2
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _batches(folder: Path) -> list[Path] | None:
    """The six batch files of one layout in ``folder`` (train first), or None."""
    for sub, suffix in _LAYOUTS:
        paths = [folder / sub / f"{name}{suffix}" for name in TRAIN_BATCHES + (TEST_BATCH,)]
        if all(p.is_file() for p in paths):
            return paths
    if (folder / ARCHIVE).is_file():
        _extract(folder / ARCHIVE, folder)
        return _batches(folder) if (folder / "cifar-10-batches-py").is_dir() else None
    return None


def _extract(archive: Path, folder: Path) -> None:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("cifar-10-batches-py/")]
            tar.extractall(folder, members=members, filter="data")
    except (OSError, tarfile.TarError, EOFError) as e:
        raise DataError(f"{archive}: cannot extract the CIFAR-10 archive: {e}") from e


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(pixels (n, 3072) uint8, labels (n,) int64)`` of one batch file, either format."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from e
    if path.suffix == ".bin":
        if len(raw) == 0 or len(raw) % (PIXELS + 1):
            raise DataError(f"{path}: {len(raw)} bytes is not a whole number of {PIXELS + 1}-byte CIFAR-10 records")
        records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, PIXELS + 1)
        return records[:, 1:], records[:, 0].astype(np.int64)
    try:
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataError(f"{path}: not a CIFAR-10 python batch (a pickled dict with data and labels): {e}") from e
    if data.ndim != 2 or data.shape[1] != PIXELS:
        raise DataError(f"{path}: data is {data.shape}, expected (n, {PIXELS})")
    if len(labels) != len(data):
        raise DataError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data, labels


def _split(paths: list[Path], limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    parts = [_read_batch(p) for p in paths]
    pixels = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    bad = np.flatnonzero((labels < 0) | (labels >= N_CLASSES))
    if bad.size:
        raise DataError(f"{paths[0].parent}: label {labels[bad[0]]} at index {bad[0]}, expected 0..{N_CLASSES - 1}")
    n = len(labels) if limit is None else min(limit, len(labels))
    x = pixels[:n].astype(np.float32)
    x /= 255
    y = labels[:n].copy()
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def download_cifar10(folder: str | Path, *, opener: Opener | None = None, sha256: str = SHA256,
                     url: str = URL, timeout_s: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Download the python archive into ``folder`` (verified, atomically) and extract it."""
    import urllib.request

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{folder}: cannot create the download folder: {e.strerror or e}") from e
    try:
        _fetch(opener or urllib.request.urlopen, url, folder / ARCHIVE, sha256, timeout_s)
    except (OSError, http.client.HTTPException) as e:
        raise DataError(f"cannot download {url}: {e}".replace("\n", " ")) from e
    _extract(folder / ARCHIVE, folder)


def load_cifar10(cfg: DatasetConfig, *, base_dir: str | Path | None = None, opener: Opener | None = None) -> Dataset:
    """Load CIFAR-10 from the first searched folder that has it, else download it into the cache."""
    searched = _search_dirs(cfg, base_dir)
    found = None
    for folder, _ in searched:
        paths = _batches(folder)
        if paths is not None:
            found = folder, paths
            break
    if found is None:
        folder = _cache_dir(cfg.name)
        try:
            download_cifar10(folder, opener=opener)
        except DataError as e:
            raise DataError(f"{_not_found(searched)}; downloading it failed: {e}") from e
        paths = _batches(folder)
        if paths is None:
            raise DataError(f"{folder / ARCHIVE}: the archive holds no cifar-10-batches-py/ batches")
        found = folder, paths
    folder, paths = found
    x_train, y_train = _split(paths[:5], cfg.train_limit)
    x_test, y_test = _split(paths[5:], cfg.test_limit)
    return Dataset(cfg.name, x_train, y_train, x_test, y_test, source_dir=str(folder), n_classes=N_CLASSES)


def _not_found(searched: list[tuple[Path, str]]) -> str:
    where = ", ".join(f"{folder} ({why})" for folder, why in searched)
    import os

    if not os.environ.get(ENV_VAR):
        where += f", or a folder named by ${ENV_VAR} (not set)"
    return (f"cifar10 data not found: put {ARCHIVE}, or its cifar-10-batches-py/ folder, or the binary "
            f"cifar-10-batches-bin/ folder, in one of: {where}")
