"""The real single-node SLURM test (tests/slurm/run_slurm_test.sh), opt-in.

Run with ``KVSCHED_SLURM_TEST=1 python -m pytest tests/test_slurm.py -m slow`` as root, or
call the script directly. It installs slurm-wlm and munge when missing, starts a private
slurmctld/slurmd, runs the ``slurm_smoke`` experiment through ``--executor slurm`` and stops
everything again (about 1.5 minutes).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "slurm" / "run_slurm_test.sh"


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("KVSCHED_SLURM_TEST") != "1", reason="set KVSCHED_SLURM_TEST=1 to run")
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root (starts slurmd)")
def test_snakemake_through_slurm(tmp_path):
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ.get('PATH', '')}", PYTHON=sys.executable)
    if shutil.which("snakemake", path=env["PATH"]) is None:
        pytest.skip("snakemake is not installed")
    r = subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-8000:]
    assert "PASS" in r.stderr
