"""Execute a workflow notebook headless (the jupytext pair ``.py`` is the source).

Usage::

    python -m kvsched.analysis.notebooks workflow/notebooks/sweep_figure.py OUT.ipynb \
        -p experiment=skeleton -p figure=latency_vs_memory -p table=results/skeleton/runs.parquet

The ``.py`` (jupytext percent format) is read, a cell with the ``-p`` values is inserted
after the cell tagged ``parameters`` (papermill's convention), the notebook is run in a
fresh kernel with the working directory unchanged, and the executed ``.ipynb`` (with
outputs) is written atomically. A failing cell fails the command: it prints the cell and its
traceback (without terminal colours) and a last line naming the notebook and the error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

from ..io import atomic_write


def _parse_value(v: str) -> Any:
    import yaml
    return yaml.safe_load(v)


def inject_parameters(nb, params: dict[str, Any]):
    """Insert a code cell assigning ``params`` after the ``parameters`` cell (or first)."""
    import nbformat
    if not params:
        return nb
    src = "# Parameters (injected)\n" + "".join(f"{k} = {v!r}\n" for k, v in params.items())
    cell = nbformat.v4.new_code_cell(src, metadata={"tags": ["injected-parameters"]})
    idx = next((i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), -1)
    nb.cells.insert(idx + 1, cell)
    return nb


def execute(notebook: str | Path, out: str | Path, params: dict[str, Any] | None = None,
            cwd: str | Path | None = None, timeout: int = 600):
    """Run ``notebook`` (``.py`` or ``.ipynb``) with ``params``; write the result to ``out``."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    nb = jupytext.read(notebook)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    inject_parameters(nb, dict(params or {}))
    # the outputs are collected when the last cell ends: kill the kernel then (a graceful
    # shutdown waits about a second for it to exit)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", shutdown_kernel="immediate",
                            resources={"metadata": {"path": str(cwd or os.getcwd())}})
    client.execute()
    atomic_write(out, lambda p: nbformat.write(nb, str(p)))
    return nb


# IPython colours its tracebacks; a log file shows the escape codes as they are
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebook")
    ap.add_argument("out")
    ap.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                    help="parameter override (value parsed as YAML)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    a = ap.parse_args(argv)
    params = {}
    for s in a.param:
        if "=" not in s:
            ap.error(f"--param expects KEY=VALUE, got {s!r}")
        k, v = s.split("=", 1)
        params[k] = _parse_value(v)
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    try:
        execute(a.notebook, a.out, params, timeout=a.timeout)
    except CellExecutionError as e:
        print(_ANSI.sub("", str(e)).rstrip(), file=sys.stderr)
        print(f"kvsched: error: notebook {a.notebook} failed: {e.ename}: {e.evalue}", file=sys.stderr)
        return 1
    except (CellTimeoutError, DeadKernelError) as e:
        print(f"kvsched: error: notebook {a.notebook} failed: {_ANSI.sub('', str(e)).strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
