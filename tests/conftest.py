import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from helpers import data_is_required  # noqa: E402


def _shared_data() -> Path | None:
    env = os.environ.get("KVSCHED_DATA_DIR")
    for p in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data"]:
        if (p / "README.md").exists() or any(p.glob("*/*")):
            return p
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = _shared_data()
    if d is None:
        if data_is_required():
            pytest.fail(f"reference data not found under KVSCHED_DATA_DIR={os.environ['KVSCHED_DATA_DIR']}")
        pytest.skip("reference data directory not available")
    return d
