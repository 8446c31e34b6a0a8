"""ordered_map: results in job order for any number of processes; a failing job's error reaches
the caller."""

import math

import pytest

from kvsched.experiments._pool import ordered_map


@pytest.mark.parametrize("processes", [1, 2])
def test_results_come_back_in_job_order(processes):
    jobs = [float(x * x) for x in range(12, 0, -1)]
    assert list(ordered_map(math.sqrt, jobs, processes)) == [float(x) for x in range(12, 0, -1)]


@pytest.mark.parametrize("processes", [1, 2])
def test_a_failing_job_raises_in_the_caller(processes):
    results = ordered_map(math.sqrt, [4.0, -1.0, 9.0, 16.0], processes)
    assert next(results) == 2.0
    with pytest.raises(ValueError, match="math domain error"):
        next(results)
