"""CIFAR-10 loader on small batch files in the official formats, written by the test itself."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from neurosim.config.workload import DatasetConfig
from neurosim.data import cifar10, load_dataset
from neurosim.errors import DataError

NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
PER_BATCH = 4


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("NEUROSIM_DATA_DIR", raising=False)

    def no_network(url: str, *args: object, **kwargs: object) -> None:
        raise AssertionError(f"test tried to reach the network: {url}")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    return tmp_path / "xdg-cache"


def _content(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {name: (rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8), rng.integers(0, 10, PER_BATCH)) for name in NAMES}


def _write_python(folder: Path, content) -> Path:
    sub = folder / "cifar-10-batches-py"
    sub.mkdir(parents=True)
    for name, (data, labels) in content.items():
        with open(sub / name, "wb") as fh:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels.tolist(), b"data": data, b"filenames": []}, fh, protocol=2)
    return sub


def _write_binary(folder: Path, content) -> None:
    sub = folder / "cifar-10-batches-bin"
    sub.mkdir(parents=True)
    for name, (data, labels) in content.items():
        (sub / f"{name}.bin").write_bytes(np.hstack([labels.astype(np.uint8)[:, None], data]).tobytes())


def _expected(content, names):
    data = np.concatenate([content[n][0] for n in names])
    return data.astype(np.float64) / 255, np.concatenate([content[n][1] for n in names])


def _check(ds, content) -> None:
    x_train, y_train = _expected(content, NAMES[:5])
    x_test, y_test = _expected(content, NAMES[5:])
    assert ds.x_train.shape == (20, 3072) and ds.x_train.dtype == np.float32 and ds.n_classes == 10
    np.testing.assert_allclose(ds.x_train, x_train, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_train, y_train)
    np.testing.assert_allclose(ds.x_test, x_test, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test, y_test)
    # channel-major rows: pixel (c, i, j) of image 0 is byte c·1024 + i·32 + j of its record
    assert ds.x_train[0].reshape(3, 32, 32)[2, 5, 7] == np.float32(content[NAMES[0]][0][0, 2 * 1024 + 5 * 32 + 7] / np.float32(255))


@pytest.mark.parametrize("writer", [_write_python, _write_binary])
def test_loads_both_official_formats(tmp_path: Path, writer) -> None:
    content = _content()
    writer(tmp_path / "data", content)
    ds = load_dataset(DatasetConfig(name="cifar10", data_dir=str(tmp_path / "data")))
    _check(ds, content)
    assert not ds.x_train.flags.writeable


def test_limits_and_env_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = _content(1)
    _write_python(tmp_path / "env", content)
    monkeypatch.setenv("NEUROSIM_DATA_DIR", str(tmp_path / "env"))
    ds = load_dataset(DatasetConfig(name="cifar10", train_limit=6, test_limit=3))
    assert ds.n_train == 6 and ds.n_test == 3
    np.testing.assert_array_equal(ds.y_train, _expected(content, NAMES[:5])[1][:6])


def _archive(content, tmp_path: Path) -> bytes:
    src = _write_python(tmp_path / "src", content)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    return buf.getvalue()


def test_download_is_verified_extracted_and_cached(tmp_path: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = _content(2)
    blob = _archive(content, tmp_path)
    calls = []

    def opener(url, *, timeout):
        calls.append(url)
        return io.BytesIO(blob)

    monkeypatch.setattr(cifar10, "SHA256", hashlib.sha256(blob).hexdigest())
    monkeypatch.setattr(cifar10.download_cifar10, "__kwdefaults__", {**cifar10.download_cifar10.__kwdefaults__, "sha256": hashlib.sha256(blob).hexdigest()})
    ds = load_dataset(DatasetConfig(name="cifar10"), opener=opener)
    _check(ds, content)
    assert calls == [cifar10.URL] and ds.source_dir == str(isolated_env / "neurosim" / "cifar10")
    load_dataset(DatasetConfig(name="cifar10"), opener=opener)  # now cached: no second download
    assert len(calls) == 1


def test_checksum_mismatch_discards_the_download(tmp_path: Path) -> None:
    blob = _archive(_content(), tmp_path)
    with pytest.raises(DataError, match="sha256 .* does not match"):
        cifar10.download_cifar10(tmp_path / "dl", opener=lambda url, *, timeout: io.BytesIO(blob))
    assert not any((tmp_path / "dl").iterdir())


def test_offline_message_says_what_to_put_where(tmp_path: Path, isolated_env: Path) -> None:
    def offline(url, *, timeout):
        raise OSError("network unreachable")

    with pytest.raises(DataError) as err:
        load_dataset(DatasetConfig(name="cifar10", data_dir=str(tmp_path / "none")), opener=offline)
    msg = str(err.value)
    assert "\n" not in msg and "cifar-10-python.tar.gz" in msg and "cifar-10-batches-py/" in msg
    assert str(tmp_path / "none") in msg and "NEUROSIM_DATA_DIR" in msg and "network unreachable" in msg


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    sub = _write_python(tmp_path / "data", _content())

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (sub / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="test_batch.*refusing to load builtins.print"):
        load_dataset(DatasetConfig(name="cifar10", data_dir=str(tmp_path / "data")))


def test_truncated_binary_batch_is_named(tmp_path: Path) -> None:
    _write_binary(tmp_path / "data", _content())
    path = tmp_path / "data" / "cifar-10-batches-bin" / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataError, match="data_batch_3.bin: .* not a whole number"):
        load_dataset(DatasetConfig(name="cifar10", data_dir=str(tmp_path / "data")))


def test_official_checksum_is_the_published_one() -> None:
    assert cifar10.SHA256 == "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
    assert cifar10.URL == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
