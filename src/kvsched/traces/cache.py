"""Optional parquet cache of parsed trace files.

Cache directory: ``$KVSCHED_CACHE_DIR`` or ``~/.cache/kvsched``; set ``KVSCHED_CACHE=0`` to
disable. Entries are keyed by the source file's path, size and mtime plus the reader's name
and code (a sha256 of ``kvsched.traces``' modules and of the reader's own module, so an edited
reader never reuses an older parse) and :data:`CACHE_VERSION`. The contents are hashed
into the key only under ``KVSCHED_NO_CHECKSUM=1``: otherwise every read checks the file's
sha256 against the manifest already, so an edited file never reaches the cache.

Each entry ``<name>.parquet`` has a sidecar ``<name>.parquet.sha256`` (``sha256sum`` format)
with the sha256 of the entry's bytes, written with it; a read hashes the bytes it parses (well
under 1 ms: entries are a few hundred kB) and takes an entry whose hash differs (edited,
truncated, replaced) as a bad entry, even under ``KVSCHED_NO_CHECKSUM=1``. An entry without a
sidecar (an older kvsched's) is parsed again and rewritten. Writes are atomic (temp file +
``os.replace``), the sidecar first, so an entry is only ever used with the sha256 recorded for
it. Any caching failure or bad entry is logged and ignored: the file is then simply parsed
again.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..datastore import ENV_NO_VERIFY, sha256_file
from ..io import atomic_write

log = logging.getLogger(__name__)

CACHE_VERSION = 1


def cache_dir() -> Path | None:
    """The cache directory, or None when caching is disabled."""
    if os.environ.get("KVSCHED_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    env = os.environ.get("KVSCHED_CACHE_DIR", "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kvsched"


@functools.lru_cache(maxsize=None)
def _code_sha(module: str) -> str:
    """sha256 of the trace readers' code: every module of this package plus ``module`` (the
    reader's own, which may be a plugin's)."""
    h = hashlib.sha256()
    files = sorted(Path(__file__).parent.glob("*.py"))
    own = getattr(sys.modules.get(module), "__file__", None)
    if own:
        files.append(Path(own))
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _entry(path: Path, reader: Callable) -> Path | None:
    d = cache_dir()
    if d is None:
        return None
    st = path.stat()
    ident = (f"{CACHE_VERSION}|{reader.__module__}.{reader.__qualname__}|{_code_sha(reader.__module__)}|"
             f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}")
    if os.environ.get(ENV_NO_VERIFY) == "1":   # edited data in use: an in-place edit may keep size and mtime
        ident += f"|{sha256_file(path)}"
    return d / "traces" / f"{path.name}-{hashlib.sha1(ident.encode()).hexdigest()[:16]}.parquet"


def _sidecar(entry: Path) -> Path:
    return entry.with_name(entry.name + ".sha256")


def _load(entry: Path, path: Path) -> pd.DataFrame | None:
    """The table in ``entry`` if its bytes match its sidecar's sha256; None (with a warning
    where the entry is there but wrong) otherwise."""
    if not entry.is_file():
        return None
    data = entry.read_bytes()
    try:
        want = _sidecar(entry).read_text().split()[0]
    except (FileNotFoundError, IndexError):
        log.info("trace cache entry %s has no checksum; parsing %s again", entry, path)
        return None
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        log.warning("trace cache entry %s is corrupted or modified (sha256 %s…, recorded %s…); "
                    "parsing %s again", entry, got[:16], want[:16], path)
        return None
    return pd.read_parquet(io.BytesIO(data))


def _store(entry: Path, df: pd.DataFrame) -> None:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    data = buf.getvalue()
    # the sidecar first; two writers of one entry write the same bytes (same key, same reader)
    sidecar = f"{hashlib.sha256(data).hexdigest()}  {entry.name}\n".encode()
    atomic_write(_sidecar(entry), lambda p: p.write_bytes(sidecar))
    atomic_write(entry, lambda p: p.write_bytes(data))


def cached_read(path: str | Path, reader: Callable[[Path], pd.DataFrame]) -> pd.DataFrame:
    """``reader(path)``, memoised on disk as parquet. Reader errors propagate; cache errors do not."""
    path = Path(path)
    entry = None
    try:
        entry = _entry(path, reader)
        if entry is not None:
            df = _load(entry, path)
            if df is not None:
                return df
    except Exception as e:  # noqa: BLE001 - a broken cache must never break a run
        log.warning("trace cache read failed for %s: %s", path, e)  # a corrupt entry is rewritten
    df = reader(path)
    if entry is not None:
        try:
            _store(entry, df)
        except Exception as e:  # noqa: BLE001
            log.warning("trace cache write failed for %s: %s", path, e)
    return df
