"""Where neurosim keeps its per-user files: ``$XDG_CACHE_HOME/neurosim`` (an absolute
``XDG_CACHE_HOME``, as the XDG base-directory specification asks), else ``~/.cache/neurosim``.

=====================  ==========================================================
``<cache>/mnist``       downloaded datasets, one folder per dataset name
``<cache>/numba/<key>`` the numba kernels' compiled code, one folder per version of
                        the kernels' sources (:mod:`neurosim.kernels._cache`)
=====================  ==========================================================
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["user_cache_dir"]


def user_cache_dir(*parts: str) -> Path:
    """``<cache>/parts…`` (module docstring); not created here."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return root.joinpath("neurosim", *parts)
