"""What produced a result: code version, package versions, platform."""

from __future__ import annotations

import hashlib
import os
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
    """Commit of the git tree at ``root`` (None unless ``root`` is the top of a git work tree),
    whether it differs from that commit (changed, staged or new files that git does not ignore:
    a preset of one's own counts), and then which files and a sha256 of the difference
    (``git diff HEAD`` plus the new files' paths and contents, a file over 1 MiB by its size), so
    two results from different uncommitted states can be told apart."""
    try:
        lines = _git(root, "rev-parse", "--show-toplevel", "HEAD").decode().splitlines()
        top, rev = (lines + ["", ""])[:2]          # one call: the work tree's top and its commit
        # only a tree whose own top is ``root``: kvsched installed as a copy (pip install ., not -e)
        # into a virtual environment inside a checkout would otherwise be labelled with that
        # checkout's commit and changes, whatever code the copy holds
        if not top or Path(top).resolve() != Path(root).resolve():
            return {"commit": None, "dirty": None}
        status = _git(root, "status", "--porcelain", "-z")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    # a repository without commits prints the literal "HEAD" (and fails): no commit, and the
    # difference is taken against the empty tree, i.e. every file is new
    commit = rev if len(rev) == 40 and all(ch in "0123456789abcdef" for ch in rev) else None
    out = {"commit": commit, "dirty": status != b""}
    if status:
        try:
            h = hashlib.sha256(_git(root, "diff", commit or EMPTY_TREE, "--binary"))
            new = [p for p in _git(root, "ls-files", "--others", "--exclude-standard", "-z").split(b"\0") if p]
            for p in sorted(new):             # names as bytes: git may list names that are not UTF-8
                h.update(b"\0new\0" + p)
                f = root / os.fsdecode(p)
                if f.is_file():               # contents up to 1 MiB; a larger file by its size
                    size = f.stat().st_size
                    h.update(f.read_bytes() if size <= HASH_LIMIT else str(size).encode())
        except (OSError, subprocess.SubprocessError):
            return out
        out.update(diff_sha256=h.hexdigest(), changed=_changed(status)[:50])
    return out


EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"   # git's tree with no files
HASH_LIMIT = 1 << 20   # bytes of a new file hashed into diff_sha256 (larger ones count by size)


def _changed(status: bytes) -> list[str]:
    """The paths in ``git status --porcelain -z`` output: ``XY path``, and after a rename or
    copy (X or Y is R or C) the old path as an entry of its own."""
    names, entries, k = set(), status.split(b"\0"), 0
    while k < len(entries):
        e = entries[k]
        k += 1
        if len(e) < 4:
            continue
        names.add(os.fsdecode(e[3:]))
        if b"R" in e[:2] or b"C" in e[:2]:
            if k < len(entries) and entries[k]:
                names.add(os.fsdecode(entries[k]))
            k += 1
    return sorted(names)


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
