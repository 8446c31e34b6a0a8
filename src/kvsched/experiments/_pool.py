"""Run independent jobs in worker processes, results in job order (so they do not depend on
how many processes ran them)."""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Iterator, Sequence


def ordered_map(fn: Callable[[Any], Any], jobs: Sequence[Any], processes: int = 1) -> Iterator[Any]:
    """``map(fn, jobs)``, over ``processes`` spawned worker processes when more than one is asked
    for and there is more than one job; otherwise in this process. ``fn`` must be a module-level
    function (it is pickled), and each result comes back in the order of ``jobs``. If a job
    fails, or the caller stops early (Ctrl-C included), the jobs not yet started are cancelled."""
    if int(processes) <= 1 or len(jobs) <= 1:
        yield from map(fn, jobs)
        return
    pool = ProcessPoolExecutor(min(int(processes), len(jobs)), mp_context=mp.get_context("spawn"))
    try:
        yield from pool.map(fn, jobs)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
