"""Optional parquet cache of parsed trace files.

Cache directory: ``$KVSCHED_CACHE_DIR`` or ``~/.cache/kvsched``; set ``KVSCHED_CACHE=0`` to
disable. Entries are keyed by the source file's path, size and mtime plus the reader's name
and :data:`CACHE_VERSION` (bump it when a reader's output changes). The contents are hashed
into the key only under ``KVSCHED_NO_CHECKSUM=1``: otherwise every read checks the file's
sha256 against the manifest already, so an edited file never reaches the cache. Writes are
atomic (temp file + ``os.replace``). Any caching failure is logged and ignored: the file is
then simply parsed again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..datastore import ENV_NO_VERIFY, sha256_file

log = logging.getLogger(__name__)

CACHE_VERSION = 1


def cache_dir() -> Path | None:
    """The cache directory, or None when caching is disabled."""
    if os.environ.get("KVSCHED_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    env = os.environ.get("KVSCHED_CACHE_DIR", "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kvsched"


def _entry(path: Path, reader: Callable) -> Path | None:
    d = cache_dir()
    if d is None:
        return None
    st = path.stat()
    ident = (f"{CACHE_VERSION}|{reader.__module__}.{reader.__qualname__}|"
             f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}")
    if os.environ.get(ENV_NO_VERIFY) == "1":   # edited data in use: an in-place edit may keep size and mtime
        ident += f"|{sha256_file(path)}"
    return d / "traces" / f"{path.name}-{hashlib.sha1(ident.encode()).hexdigest()[:16]}.parquet"


def cached_read(path: str | Path, reader: Callable[[Path], pd.DataFrame]) -> pd.DataFrame:
    """``reader(path)``, memoised on disk as parquet. Reader errors propagate; cache errors do not."""
    path = Path(path)
    entry = None
    try:
        entry = _entry(path, reader)
        if entry is not None and entry.is_file():
            return pd.read_parquet(entry)
    except Exception as e:  # noqa: BLE001 - a broken cache must never break a run
        log.warning("trace cache read failed for %s: %s", path, e)  # a corrupt entry is rewritten
    df = reader(path)
    if entry is not None:
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=f".{entry.name}.", suffix=".tmp")
            os.close(fd)
            try:
                df.to_parquet(tmp, index=False)
                os.replace(tmp, entry)
            finally:
                Path(tmp).unlink(missing_ok=True)
        except Exception as e:  # noqa: BLE001
            log.warning("trace cache write failed for %s: %s", path, e)
    return df
