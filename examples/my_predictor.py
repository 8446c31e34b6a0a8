"""An example user predictor: recent output lengths of requests with a similar prompt size.

Requests are bucketed by prompt size, ``floor(log2(prompt + 1))`` with the prompt in tokens. A
request is predicted the median output length (tokens) of the last ``window`` completed requests
in its bucket, with their 10th and 90th percentiles as an interval, or ``prior`` tokens while its
bucket has no completed request. It sees what a real scheduler sees: prompt sizes on arrival and,
through ``observe``, the output lengths of completed requests.

Run it without touching the package::

    kvsched run plugins=[examples/my_predictor.py] predictor=bucket_median predictor.prior=20 \\
        algorithm=mcsf trace=synthetic_mcsf trace.arrival_model=2 memory.capacity=auto latency=unit
"""

from collections import defaultdict, deque
from dataclasses import dataclass

import numpy as np

from kvsched.errors import ConfigError
from kvsched.predictors.base import Predictions, Predictor
from kvsched.predictors.registry import register_predictor


@dataclass(frozen=True)
class Params:
    prior: int = 200    # tokens predicted while a bucket has no completed request
    window: int = 50    # completed requests remembered per bucket

    def validate(self) -> None:
        if self.prior < 1 or self.window < 1:
            raise ConfigError(f"prior and window must be >= 1, got {self.prior} and {self.window}")


@register_predictor
class BucketMedian(Predictor):
    """Median output (tokens) of recent completed requests with a similar prompt size."""

    name = "bucket_median"
    Params = Params

    def __init__(self, params=None, *, seed=0):
        super().__init__(params, seed=seed)
        self.seen = defaultdict(lambda: deque(maxlen=self.params.window))  # bucket -> outputs

    def predict(self, ids, prompt, texts, truth):
        point, lo, hi = (np.full(len(ids), self.params.prior) for _ in range(3))
        for k, b in enumerate(np.log2(prompt + 1).astype(int)):
            if self.seen[b]:
                lo[k], point[k], hi[k] = np.percentile(self.seen[b], [10, 50, 90])
        return Predictions(point=point, lo=lo, hi=hi)

    def observe(self, ids, prompt, texts, output):
        for b, o in zip(np.log2(prompt + 1).astype(int), output):
            self.seen[b].append(int(o))
