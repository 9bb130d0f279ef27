"""The kernels' numba cache folder is named by a hash of their sources (neurosim.kernels._cache),
so editing a helper another module inlines recompiles its callers instead of running stale code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numba

from neurosim.kernels._cache import PRUNE_DAYS, kernel_cache_key, use_keyed_cache

PACKAGE = Path(__file__).resolve().parents[1] / "neurosim"
KERNELS = PACKAGE / "kernels"


def _run(code: str, env: dict[str, str], path: Path | None = None) -> str:
    full = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "PYTHONPATH")}
    full.update(env)
    if path is not None:
        full["PYTHONPATH"] = str(path)
    done = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=300,
                          cwd=path or PACKAGE.parent)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_key_follows_every_kernel_source(tmp_path):
    for source in KERNELS.glob("*.py"):
        shutil.copy(source, tmp_path / source.name)
    key = kernel_cache_key(KERNELS)
    assert kernel_cache_key(tmp_path) == key and len(key) == 16
    (tmp_path / "notes.txt").write_text("not a module")
    assert kernel_cache_key(tmp_path) == key
    with open(tmp_path / "des_units.py", "a") as f:  # a helper des_loop inlines
        f.write("\n# edited\n")
    assert kernel_cache_key(tmp_path) != key


def test_cache_folder_in_the_user_cache_or_under_numba_cache_dir(tmp_path):
    key = kernel_cache_key(KERNELS)
    probe = "import numba, neurosim.kernels; print(numba.config.CACHE_DIR)"
    assert _run(probe, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}) == str(tmp_path / "xdg" / "neurosim" / "numba" / key)
    assert _run(probe, {"NUMBA_CACHE_DIR": str(tmp_path / "mine")}) == str(tmp_path / "mine" / key)


PROBE_A = '''
from numba import njit
from ._probe_b import helper

@njit(cache=True)
def entry():
    return helper() + 0
'''
PROBE_B = '''
from numba import njit

@njit(cache=True, inline="always")
def helper():
    return {value}
'''


def test_editing_an_inlined_helper_recompiles_its_caller(tmp_path):
    """numba alone would load ``entry``'s cached code (its own file is unchanged) and print 1 twice."""
    root = tmp_path / "pkg"
    shutil.copytree(PACKAGE, root / "neurosim", ignore=shutil.ignore_patterns("__pycache__"))
    kernels = root / "neurosim" / "kernels"
    (kernels / "_probe_a.py").write_text(PROBE_A)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    code = "from neurosim.kernels._probe_a import entry; print(entry())"
    (kernels / "_probe_b.py").write_text(PROBE_B.format(value=1))
    assert _run(code, env, root) == "1"
    first = tmp_path / "cache" / "neurosim" / "numba" / kernel_cache_key(kernels)
    assert list(first.rglob("_probe_a.entry*.nbi")), "the caller was not cached in the keyed folder"
    (kernels / "_probe_b.py").write_text(PROBE_B.format(value=2))
    assert _run(code, env, root) == "2"


def test_old_key_folders_are_pruned_when_a_new_key_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    root = tmp_path / "neurosim" / "numba"
    old = time.time() - (PRUNE_DAYS + 1) * 86400
    for name, age in (("0123456789abcdef", old), ("fedcba9876543210", time.time()), ("keep-me-not-a-key", old)):
        (root / name).mkdir(parents=True)
        (root / name / "f.nbi").write_bytes(b"x")
        os.utime(root / name / "f.nbi", (age, age))
        os.utime(root / name, (age, age))
    target = use_keyed_cache(KERNELS)
    assert target == root / kernel_cache_key(KERNELS) and numba.config.CACHE_DIR == str(target)
    assert sorted(p.name for p in root.iterdir()) == ["fedcba9876543210", "keep-me-not-a-key"]
