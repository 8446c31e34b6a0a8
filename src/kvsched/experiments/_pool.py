"""Run independent jobs in worker processes, results in job order (so they do not depend on
how many processes ran them)."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Iterator, Sequence


def ordered_map(fn: Callable[[Any], Any], jobs: Sequence[Any], processes: int = 1) -> Iterator[Any]:
    """``map(fn, jobs)``, over ``processes`` spawned worker processes when more than one is asked
    for and there is more than one job; otherwise in this process. ``fn`` must be a module-level
    function (it is pickled), and each result comes back in the order of ``jobs``."""
    parallel = int(processes) > 1 and len(jobs) > 1
    with (ProcessPoolExecutor(min(int(processes), len(jobs)), mp_context=mp.get_context("spawn")) if parallel
          else contextlib.nullcontext()) as pool:
        yield from (pool.map if parallel else map)(fn, jobs)

