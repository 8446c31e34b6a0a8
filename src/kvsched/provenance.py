"""What produced a result: code version, package versions, platform."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

# what a result may depend on: the solvers' versions (ortools: CP-SAT, scipy: HiGHS), the
# figures' (matplotlib), the pipeline's and the real-engine backend's (None where not installed)
PACKAGES = ("kvsched", "numpy", "pandas", "pyarrow", "scipy", "ortools", "hydra-core", "omegaconf",
            "matplotlib", "snakemake", "torch", "transformers")


def _git(root: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=10).stdout


@lru_cache(maxsize=1)
def git_revision() -> dict:
    """:func:`revision` of this source tree, read once per process and cached, so every entry
    point calls :func:`provenance` before it computes anything: a commit made while a long run
    is going does not relabel its results."""
    return revision(Path(__file__).resolve().parents[2])


def revision(root: Path) -> dict:
    """Commit of the git tree at ``root``, whether it differs from that commit (changed, staged or new
    files that git does not ignore: a preset of one's own counts), and then which files and a
    sha256 of the difference (``git diff HEAD`` plus the new files' paths and contents), so two
    results from different uncommitted states can be told apart."""
    try:
        rev = _git(root, "rev-parse", "HEAD").decode().strip()
        status = _git(root, "status", "--porcelain", "-z").decode(errors="replace")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    out = {"commit": rev or None, "dirty": status != ""}
    if status and rev:
        try:
            h = hashlib.sha256(_git(root, "diff", "HEAD", "--binary"))
            new = [p for p in _git(root, "ls-files", "--others", "--exclude-standard", "-z").decode().split("\0") if p]
            for p in sorted(new):
                h.update(b"\0new\0" + p.encode())
                f = root / p
                if f.is_file():
                    h.update(f.read_bytes())
        except (OSError, subprocess.SubprocessError):
            return out
        changed = sorted({e[3:] for e in status.split("\0") if len(e) > 3})
        out.update(diff_sha256=h.hexdigest(), changed=changed[:50])
    return out


@lru_cache(maxsize=1)
def package_versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def provenance() -> dict:
    return {"git": git_revision(), "packages": dict(package_versions()), "platform": platform.platform()}
