"""Trained parameters as an .npz file, for a later run to transfer from.

One array per name, as :meth:`neurosim.learning.network.Network.state` names them:
``<layer>.weight``, ``<layer>.bias`` (dense, conv2d) and ``<layer>.scale``,
``<layer>.shift``, ``<layer>.running_mean``, ``<layer>.running_var`` (batchnorm).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from neurosim.errors import ConfigError

__all__ = ["save_checkpoint", "load_checkpoint"]


def save_checkpoint(state: dict[str, np.ndarray], path: str | Path) -> Path:
    """Write ``state`` to ``path`` (atomically: a temp file renamed into place)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez(out, **{k: np.asarray(v) for k, v in state.items()})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would create it (mkstemp makes 0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of the .npz at ``path``; ConfigError (one line naming the file) if unreadable."""
    try:
        with np.load(Path(path), allow_pickle=False) as npz:
            return {k: np.ascontiguousarray(npz[k], dtype=np.float32) for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ConfigError(str(path), "", f"cannot read the transfer checkpoint: {e}".replace("\n", " ")) from e
