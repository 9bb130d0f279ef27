"""Reader for the IDX format of MNIST-style datasets, gzip-compressed or plain.

An IDX file is a big-endian header (two zero bytes, a data-type code, the number
of dimensions, then one uint32 size per dimension) followed by the values in C
order. MNIST stores unsigned bytes (type 0x08): labels are 1-d (magic 0x00000801),
images 3-d (magic 0x00000803).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["read_idx"]

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08


def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file that must have ``ndim`` dimensions.

    Gzip is detected from the content, not the file name. Returns a read-only
    uint8 array of the shape the header declares. Any problem (unreadable, corrupt
    or truncated gzip, wrong magic number or data type, payload length not equal to
    the product of the dimensions) raises :class:`DataError` with one line naming
    the file.
    """
    path = Path(path)
    data = _read_bytes(path)
    expected_magic = (_UBYTE << 8) | ndim
    if len(data) < 4:
        raise _error(path, f"{len(data)} bytes is too short for an IDX header")
    (magic,) = struct.unpack_from(">I", data)
    if magic >> 16 != 0 or magic & 0xFF != ndim:
        not_gzip = "not gzip-compressed and " if path.suffix == ".gz" else ""
        raise _error(
            path,
            f"{not_gzip}not a {ndim}-d IDX file: magic number 0x{magic:08X}, "
            f"expected 0x{expected_magic:08X}",
        )
    dtype_code = (magic >> 8) & 0xFF
    if dtype_code != _UBYTE:
        raise _error(path, f"IDX data type 0x{dtype_code:02X}, expected 0x{_UBYTE:02X} (unsigned byte)")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise _error(path, f"{len(data)} bytes is too short for the header of a {ndim}-d IDX file")
    dims = struct.unpack_from(f">{ndim}I", data, 4)
    payload, expected = len(data) - header_len, math.prod(dims)
    if payload != expected:
        shape = "x".join(map(str, dims))
        raise _error(path, f"payload is {payload} bytes but the header's dims {shape} need {expected}")
    array = np.frombuffer(data, dtype=np.uint8, count=expected, offset=header_len)
    return array.reshape(dims)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped if they start with the gzip magic."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise _error(path, f"cannot read: {e.strerror or e}") from e
    if not raw:
        raise _error(path, "file is empty")
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise _error(path, f"corrupt or truncated gzip data ({e})") from e


def _error(path: Path, what: str) -> DataError:
    return DataError(f"{path}: {what}".replace("\n", " "))
