"""Atomic file writes: a reader (or a killed run) never sees a half-written result."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:   # only a type here; importing pandas costs ~0.5 s in processes that need no table
    import pandas as pd


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def write_json(path: str | Path, obj: Any) -> Path:
    def w(p: Path) -> None:
        p.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_default) + "\n")
    return atomic_write(path, w)


PARQUET_META_KEY = "kvsched"   # the table's attrs entry (stored in the file): what produced it


def write_parquet(path: str | Path, df: "pd.DataFrame", meta: dict | None = None) -> Path:
    """Write ``df`` (no index); ``meta`` (e.g. the run's config and provenance) is stored with
    it as the frame's ``attrs["kvsched"]``, so the table says what produced it on its own
    (``pd.read_parquet(path).attrs["kvsched"]``, or :func:`read_parquet_meta`)."""
    if meta is not None:
        df = df.copy(deep=False)
        df.attrs = {**df.attrs, PARQUET_META_KEY: json.loads(json.dumps(meta, default=_default))}
    return atomic_write(path, lambda p: df.to_parquet(p, index=False, engine="pyarrow"))


def read_table(path: str | Path, columns: list[str] | None = None) -> "pd.DataFrame":
    """``pd.read_parquet(path)``; a missing file or one that is not a whole parquet table (cut
    short, overwritten by something else) is a DataError naming it, with the way to rebuild it."""
    import pandas as pd

    from .errors import DataError
    try:
        return pd.read_parquet(path, columns=columns)
    except FileNotFoundError:
        raise DataError(f"{path}: no such table") from None
    except (OSError, ValueError) as e:     # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"{path}: not a readable parquet table ({str(e).splitlines()[0]}); delete it and rerun "
                        "to rebuild it") from None


def read_parquet_meta(path: str | Path) -> dict | None:
    """The ``meta`` that :func:`write_parquet` stored in ``path`` (None if it has none), read
    from the file's schema without loading the table."""
    import pyarrow.parquet as pq
    raw = (pq.read_schema(path).metadata or {}).get(b"PANDAS_ATTRS")
    return json.loads(raw).get(PARQUET_META_KEY) if raw is not None else None


def _default(o: Any) -> Any:
    import numpy as np
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def missing_dirs(path: str | Path) -> list[Path]:
    """The folders of ``path`` (itself included) that do not exist yet, deepest first: those a
    ``mkdir(parents=True)`` would create, for :func:`remove_empty_dirs` to take back."""
    made, d = [], Path(path).absolute()
    while not d.exists() and d != d.parent:
        made.append(d)
        d = d.parent
    return made


def remove_empty_dirs(dirs: list[Path]) -> None:
    """Remove ``dirs`` (deepest first) while they are empty: a failed run leaves no folder of
    its own behind, and never touches one that holds anything."""
    for d in dirs:
        try:
            d.rmdir()
        except OSError:
            break
