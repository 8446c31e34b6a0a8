"""What produced a result: code version, package versions, platform."""

from __future__ import annotations

import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("kvsched", "numpy", "pandas", "pyarrow", "scipy", "hydra-core", "omegaconf")


@lru_cache(maxsize=1)
def git_revision() -> dict:
    """Commit of the source tree and whether it had uncommitted changes.

    Read once per process and cached, so every entry point calls :func:`provenance` before it
    computes anything: a commit made while a long run is going does not relabel its results."""
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip() != ""
        return {"commit": rev or None, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def provenance() -> dict:
    return {"git": git_revision(), "packages": package_versions(), "platform": platform.platform()}
