"""Tests of the dataset loader against the real MNIST files in ../shared/data/mnist-10k.

References are independent of the loader: the test parses the gzip IDX bytes itself
with struct and np.frombuffer, and takes the files' sha256 from the folder's README.
"""

from __future__ import annotations

import gzip
import io
import shutil
import struct
import urllib.error
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from neurosim.config.workload import DatasetConfig
from neurosim.data import Dataset, load_dataset
from neurosim.data import mnist
from neurosim.data.idx import read_idx
from neurosim.errors import DataError

REAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-10k"
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
#: sha256 of the mnist-10k files, from its README.md.
REAL_SHA256 = {
    "train-images-idx3-ubyte.gz": "deb6c3a1888b2423a5d01b1661ba096f9520cc7c183e16cf8a18e3a79b98372d",
    "train-labels-idx1-ubyte.gz": "b8dc58f5efb725f845f118f06973c2b92d25bf89e5f4c6d9364fb31839f7c9af",
    "t10k-images-idx3-ubyte.gz": "b77fb3479627ef7833025f4f99520c04d6961b9bce5cea4a44c535d6a0c597e8",
    "t10k-labels-idx1-ubyte.gz": "2cca0dd44fa0495df4f2a36b11b8dc5c8908e902ff7813eaf91c0c786a488b1c",
}


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test sees the user's cache or env, or reaches the network."""
    cache_root = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_root))
    monkeypatch.delenv("NEUROSIM_DATA_DIR", raising=False)

    def no_network(url: str, *args: object, **kwargs: object) -> None:
        raise AssertionError(f"test tried to reach the network: {url}")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    return cache_root


@pytest.fixture
def real_dir() -> Path:
    if not all((REAL_DIR / f).is_file() for f in FILES):
        pytest.skip(f"real MNIST test data not found in {REAL_DIR}")
    return REAL_DIR


@pytest.fixture
def real(real_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Dataset:
    monkeypatch.setenv("NEUROSIM_DATA_DIR", str(real_dir))
    return load_dataset(DatasetConfig())


def parse_idx_gz(path: Path) -> np.ndarray:
    """Independent reference parser: gunzip, read the header with struct."""
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw[4 + 4 * ndim :], dtype=np.uint8).reshape(dims)


def link_files(src: Path, dst: Path, names: tuple[str, ...] = FILES) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        (dst / name).symlink_to(src / name)
    return dst


def offline(url: str, *, timeout: float) -> io.BytesIO:
    raise urllib.error.URLError("no network")


def serving(folder: Path, urls: list[str], payload: Callable[[bytes], bytes] = lambda b: b):
    """A fake urlopen serving the files of ``folder`` by name, recording the URLs asked."""

    def opener(url: str, *, timeout: float) -> io.BytesIO:
        assert timeout > 0
        urls.append(url)
        return io.BytesIO(payload((folder / url.rsplit("/", 1)[1]).read_bytes()))

    return opener


# --- loading the real data ----------------------------------------------------


def test_shapes_dtypes_and_range(real: Dataset, real_dir: Path) -> None:
    assert (real.n_train, real.n_test, real.n_classes) == (8000, 2000, 10)
    assert real.name == "mnist" and real.source_dir == str(real_dir)
    for x, y, n in ((real.x_train, real.y_train, 8000), (real.x_test, real.y_test, 2000)):
        assert x.shape == (n, 784) and x.dtype == np.float32 and x.flags.c_contiguous
        assert y.shape == (n,) and y.dtype == np.int64
        assert x.min() == 0.0 and x.max() == 1.0
        assert not x.flags.writeable and not y.flags.writeable


def test_matches_independent_parse(real: Dataset, real_dir: Path) -> None:
    ref_train_x = parse_idx_gz(real_dir / "train-images-idx3-ubyte.gz")
    ref_train_y = parse_idx_gz(real_dir / "train-labels-idx1-ubyte.gz")
    ref_test_x = parse_idx_gz(real_dir / "t10k-images-idx3-ubyte.gz")
    ref_test_y = parse_idx_gz(real_dir / "t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(real.y_train, ref_train_y)
    np.testing.assert_array_equal(real.y_test, ref_test_y)
    for i in (0, 1, 4321, 7999):
        np.testing.assert_array_equal(real.x_train[i], ref_train_x[i].ravel().astype(np.float32) / 255)
    for i in (0, 999, 1999):
        np.testing.assert_array_equal(real.x_test[i], ref_test_x[i].ravel().astype(np.float32) / 255)
    # The first MNIST t10k image is a 7, the second a 2: the split keeps the original order.
    assert real.y_train[:2].tolist() == [7, 2]


def test_label_histogram_is_plausible(real: Dataset) -> None:
    for y in (real.y_train, real.y_test):
        counts = np.bincount(y, minlength=10)
        assert len(counts) == 10 and counts.min() > 0
        assert (counts / len(y)).min() > 0.05 and (counts / len(y)).max() < 0.15


def test_deterministic(real: Dataset) -> None:
    again = load_dataset(DatasetConfig())
    np.testing.assert_array_equal(again.x_train, real.x_train)
    np.testing.assert_array_equal(again.y_test, real.y_test)


def test_limits_take_the_first_n(real: Dataset) -> None:
    small = load_dataset(DatasetConfig(train_limit=100, test_limit=50))
    assert (small.n_train, small.n_test) == (100, 50)
    assert small.x_train.shape == (100, 784) and small.x_train.flags.c_contiguous
    np.testing.assert_array_equal(small.x_train, real.x_train[:100])
    np.testing.assert_array_equal(small.y_test, real.y_test[:50])
    big = load_dataset(DatasetConfig(train_limit=60000))
    assert big.n_train == 8000


def test_uncompressed_files(real: Dataset, real_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in FILES:
        (plain / name.removesuffix(".gz")).write_bytes(gzip.decompress((real_dir / name).read_bytes()))
    monkeypatch.setenv("NEUROSIM_DATA_DIR", str(plain))
    ds = load_dataset(DatasetConfig())
    assert ds.source_dir == str(plain)
    np.testing.assert_array_equal(ds.x_train, real.x_train)
    np.testing.assert_array_equal(ds.y_test, real.y_test)


# --- where the files are looked for -------------------------------------------


def test_search_order(real_dir: Path, tmp_path: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = link_files(real_dir, tmp_path / "configured")
    env_dir = link_files(real_dir, tmp_path / "env")
    cache_dir = link_files(real_dir, isolated_env / "neurosim" / "mnist")
    monkeypatch.setenv("NEUROSIM_DATA_DIR", str(env_dir))
    cfg = DatasetConfig(data_dir=str(data_dir), train_limit=10, test_limit=10)

    assert load_dataset(cfg).source_dir == str(data_dir)
    assert load_dataset(DatasetConfig(test_limit=10)).source_dir == str(env_dir)
    monkeypatch.delenv("NEUROSIM_DATA_DIR")
    assert load_dataset(DatasetConfig(test_limit=10)).source_dir == str(cache_dir)


def test_incomplete_folder_is_skipped(real_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    partial = link_files(real_dir, tmp_path / "partial", FILES[:3])
    env_dir = link_files(real_dir, tmp_path / "env")
    monkeypatch.setenv("NEUROSIM_DATA_DIR", str(env_dir))
    assert load_dataset(DatasetConfig(data_dir=str(partial))).source_dir == str(env_dir)


def test_relative_data_dir(real_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workloads = tmp_path / "workloads"
    link_files(real_dir, workloads / "data")
    cfg = DatasetConfig(data_dir="data", test_limit=5)
    assert load_dataset(cfg, base_dir=workloads).source_dir == str(workloads / "data")
    monkeypatch.chdir(workloads)
    assert load_dataset(cfg).source_dir == str(workloads / "data")


def test_home_cache_without_xdg(real_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cache_dir = link_files(real_dir, tmp_path / "home" / ".cache" / "neurosim" / "mnist")
    assert load_dataset(DatasetConfig(test_limit=5)).source_dir == str(cache_dir)


def test_offline_without_files_says_what_to_put_where(tmp_path: Path, isolated_env: Path) -> None:
    data_dir = tmp_path / "configured"
    with pytest.raises(DataError) as info:
        load_dataset(DatasetConfig(data_dir=str(data_dir)), opener=offline)
    msg = str(info.value)
    assert "\n" not in msg
    for name in FILES:
        assert name in msg
    cache_dir = isolated_env / "neurosim" / "mnist"
    assert str(data_dir) in msg and str(cache_dir) in msg
    assert "$NEUROSIM_DATA_DIR (not set)" in msg and "no network" in msg
    assert list(cache_dir.iterdir()) == []  # no partial downloads left behind


def test_offline_error_names_the_env_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir = tmp_path / "env"
    monkeypatch.setenv("NEUROSIM_DATA_DIR", str(env_dir))
    with pytest.raises(DataError, match=r"env \(\$NEUROSIM_DATA_DIR\)") as info:
        load_dataset(DatasetConfig(name="fashion_mnist"), opener=offline)
    assert str(info.value).startswith("fashion_mnist data not found")


# --- downloading ----------------------------------------------------------------


def test_download_writes_verified_files_to_the_folder(real_dir: Path, tmp_path: Path) -> None:
    urls: list[str] = []
    dest = tmp_path / "dl"
    mnist.download_dataset("mnist", dest, opener=serving(real_dir, urls), sha256=REAL_SHA256)
    assert sorted(p.name for p in dest.iterdir()) == sorted(FILES)  # no temp files left
    for name in FILES:
        assert (dest / name).read_bytes() == (real_dir / name).read_bytes()
    assert urls == [f"https://ossci-datasets.s3.amazonaws.com/mnist/{name}" for name in FILES]
    mnist.download_dataset("mnist", dest, opener=offline, sha256=REAL_SHA256)  # nothing left to fetch


def test_download_falls_back_to_the_next_mirror(real_dir: Path, tmp_path: Path) -> None:
    urls: list[str] = []
    fetch = serving(real_dir, urls)

    def first_mirror_down(url: str, *, timeout: float) -> io.BytesIO:
        if url.startswith("https://ossci-datasets"):
            raise urllib.error.URLError("mirror down")
        return fetch(url, timeout=timeout)

    mnist.download_dataset("mnist", tmp_path, opener=first_mirror_down, sha256=REAL_SHA256)
    assert urls == [f"https://storage.googleapis.com/cvdf-datasets/mnist/{name}" for name in FILES]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)


def test_download_uses_the_fashion_mirror(real_dir: Path, tmp_path: Path) -> None:
    urls: list[str] = []
    mnist.download_dataset("fashion_mnist", tmp_path, opener=serving(real_dir, urls), sha256=REAL_SHA256)
    assert all(u.startswith("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/") for u in urls)
    assert len(urls) == 4


def test_download_checksum_mismatch_discards_the_file(real_dir: Path, tmp_path: Path) -> None:
    corrupt = serving(real_dir, [], payload=lambda b: b[:-1] + bytes([b[-1] ^ 1]))
    with pytest.raises(DataError, match="sha256") as info:
        mnist.download_dataset("mnist", tmp_path, opener=corrupt, sha256=REAL_SHA256)
    assert FILES[0] in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_official_sums_reject_other_files(real_dir: Path, isolated_env: Path) -> None:
    # mnist-10k is a re-split, so its files are not the official ones.
    with pytest.raises(DataError, match="does not match the expected 440fcabf"):
        load_dataset(DatasetConfig(), opener=serving(real_dir, []))
    assert list((isolated_env / "neurosim" / "mnist").iterdir()) == []


def test_load_downloads_into_the_cache(
    real: Dataset, real_dir: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEUROSIM_DATA_DIR")
    monkeypatch.setitem(mnist.SHA256, "mnist", REAL_SHA256)
    ds = load_dataset(DatasetConfig(), opener=serving(real_dir, []))
    cache_dir = isolated_env / "neurosim" / "mnist"
    assert ds.source_dir == str(cache_dir)
    np.testing.assert_array_equal(ds.x_train, real.x_train)
    np.testing.assert_array_equal(ds.y_test, real.y_test)
    assert load_dataset(DatasetConfig(), opener=offline).source_dir == str(cache_dir)  # cached now


# --- corrupt files -----------------------------------------------------------


def _gz(raw: bytes) -> bytes:
    return gzip.compress(raw, mtime=0)


def _raw(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def _header(magic: int, *dims: int) -> bytes:
    return struct.pack(f">I{len(dims)}I", magic, *dims)


# Each case: (file to damage, damage(original gz bytes) -> new bytes, what the message must say)
CORRUPTIONS = {
    "truncated gzip": (FILES[0], lambda gz: gz[: len(gz) // 2], "truncated gzip"),
    "flipped magic": (FILES[0], lambda gz: _gz(b"\x00\x00\x08\x01" + gzip.decompress(gz)[4:]), "magic number"),
    "short payload": (FILES[2], lambda gz: _gz(gzip.decompress(gz)[:-10]), "payload is"),
    "long payload": (FILES[3], lambda gz: _gz(gzip.decompress(gz) + b"\x00"), "payload is"),
    "empty file": (FILES[1], lambda gz: b"", "empty"),
    "non-gzip text": (FILES[3], lambda gz: b"<html>404 Not Found</html>\n", "not gzip-compressed"),
    "float data type": (FILES[1], lambda gz: _gz(b"\x00\x00\x0d\x01" + gzip.decompress(gz)[4:]), "data type 0x0D"),
    "header cut short": (FILES[0], lambda gz: _gz(gzip.decompress(gz)[:10]), "too short"),
    "wrong image size": (FILES[2], lambda gz: _gz(_header(0x803, 4000, 28, 14) + gzip.decompress(gz)[16:]), "28x14"),
    "labels out of range": (FILES[3], lambda gz: _gz(gzip.decompress(gz)[:8] + b"\x0c" * 2000), "label 12"),
}


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_corrupt_file_gives_one_line_naming_it(
    case: str, real_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim, damage, expected = CORRUPTIONS[case]
    folder = tmp_path / "data"
    link_files(real_dir, folder, tuple(f for f in FILES if f != victim))
    (folder / victim).write_bytes(damage((real_dir / victim).read_bytes()))
    monkeypatch.setenv("NEUROSIM_DATA_DIR", str(folder))
    with pytest.raises(DataError) as info:
        load_dataset(DatasetConfig())
    msg = str(info.value)
    assert str(folder / victim) in msg and expected in msg and "\n" not in msg


def test_image_and_label_counts_must_match(real_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = link_files(real_dir, tmp_path / "data", FILES[1:])
    (folder / FILES[0]).symlink_to(real_dir / FILES[2])  # 2000 test images as the 8000 train images
    monkeypatch.setenv("NEUROSIM_DATA_DIR", str(folder))
    with pytest.raises(DataError, match="2000 images, but .* has 8000 labels"):
        load_dataset(DatasetConfig())


def test_read_idx_plain_and_gzip_agree(real_dir: Path, tmp_path: Path) -> None:
    plain = tmp_path / "labels"
    plain.write_bytes(_raw(real_dir / FILES[3]))
    gz = read_idx(real_dir / FILES[3], ndim=1)
    np.testing.assert_array_equal(read_idx(plain, ndim=1), gz)
    assert gz.dtype == np.uint8 and gz.shape == (2000,)


def test_read_idx_wrong_rank_and_unreadable(tmp_path: Path) -> None:
    labels = tmp_path / "labels.idx"
    labels.write_bytes(_header(0x801, 3) + b"\x01\x02\x03")
    with pytest.raises(DataError, match=r"not a 3-d IDX file: magic number 0x00000801, expected 0x00000803"):
        read_idx(labels, ndim=3)
    with pytest.raises(DataError, match="cannot read") as info:
        read_idx(tmp_path, ndim=1)  # a directory
    assert str(tmp_path) in str(info.value)
