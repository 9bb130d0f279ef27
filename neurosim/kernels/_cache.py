"""numba's cache folder for the kernels, named by a hash of their sources.

numba checks a cached function against its own file only (numba's documented limitation:
"cache invalidation fails to recognize changes in symbols defined in a different file").
A helper called or inlined from another module (``des_units`` into ``des_loop``,
``counter_rng`` into ``device_pulse``) and a module constant read from another file
(``des_arena``'s layout) are baked into the caller's cached code, so after an edit of
that other file, or a ``git pull`` that changes only it, the stale code would keep
running. Here every kernel module's source feeds one key, and the kernels cache under a
folder of that key: any change to any kernel starts a fresh folder, and identical
sources (another checkout, a sweep worker) share one.

==========================  ==================================================
``NUMBA_CACHE_DIR``          the kernels' cache folder
==========================  ==================================================
unset                        ``user_cache_dir("numba", key)`` (:mod:`neurosim.paths`)
set to ``D``                 ``D/key``
==========================  ==================================================

When a key's folder is first made under ``user_cache_dir("numba")``, the folders of other
keys not written to for :data:`PRUNE_DAYS` days are removed (a key in use elsewhere only
compiles again). A folder that cannot be written leaves numba on its own choice
(``__pycache__`` beside the sources).
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import numba

from ..paths import user_cache_dir

__all__ = ["PRUNE_DAYS", "kernel_cache_key", "use_keyed_cache"]

#: age (days since last write) after which another key's folder is removed
PRUNE_DAYS = 14
_KEY_CHARS = 16


def kernel_cache_key(folder: Path) -> str:
    """Hex digest of the names and bytes of every ``*.py`` in ``folder`` (sorted by name)."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:_KEY_CHARS]


def use_keyed_cache(folder: Path) -> Path:
    """Point numba's cache at the folder of ``folder``'s key (module docstring) and return it.
    Must run before the kernels are decorated: numba fixes a function's cache path then."""
    key = kernel_cache_key(folder)
    if numba.config.CACHE_DIR:
        target = Path(numba.config.CACHE_DIR) / key
    else:
        target = user_cache_dir("numba", key)
        if not target.exists():
            _prune(target.parent, keep=key)
    numba.config.CACHE_DIR = str(target)
    return target


def _prune(root: Path, keep: str) -> None:
    """Remove ``root``'s key folders other than ``keep`` that were not written to for PRUNE_DAYS days."""
    try:
        children = list(root.iterdir()) if root.is_dir() else []
    except OSError:  # an unreadable cache folder: numba's own locator decides where it caches
        return
    cutoff = time.time() - PRUNE_DAYS * 86400
    for child in children:
        if child.name == keep or len(child.name) != _KEY_CHARS or not child.is_dir():
            continue
        try:
            newest = max((p.stat().st_mtime for p in child.rglob("*")), default=child.stat().st_mtime)
        except OSError:
            continue
        if newest < cutoff:
            shutil.rmtree(child, ignore_errors=True)
