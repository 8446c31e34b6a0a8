"""vLLM-style FCFS (v1 scheduler semantics, simplified to token granularity).

Admits waiting requests in FCFS order while their prompt fits in the memory left for
the coming round (head-of-line blocking: it stops at the first that does not fit),
optionally keeping a ``watermark`` fraction of M free and at most ``max_num_seqs``
running. The watermark is headroom for a running batch to grow into, so a request enters an
empty batch whenever it fits M: one whose prompt fits M but not M minus the watermark would
otherwise block the queue for good. When the batch outgrows memory during decode it preempts
the most recently admitted request and admits nothing in that round (vLLM v1 schedules waiting
requests only in steps without preemption). The preempted request's KV cache is dropped and it
is recomputed later from scratch.
Preempted requests keep their arrival position, so they rejoin the queue's front.

``sglang_fcfs`` is the same admission with SGLang's retraction rule (papers.md §7): on running
out during decode it retracts the running request with the fewest output tokens, the longest
prompt first among ties. Every running request decodes one token per round, so fewest output
tokens means most recently admitted: the two differ only in which of the requests admitted in
the same round goes first (vLLM: the last admitted; SGLang: the longest prompt). SGLang's own
admission, which reserves room for an estimated share of each request's future tokens, is not
modelled: it admits as ``vllm_fcfs`` does (a reconstruction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..sim.view import SchedulerView
from .base import INF_ROUNDS, Policy, cover_excess
from .registry import register_policy


@dataclass(frozen=True)
class VllmParams:
    watermark: float = 0.0      # fraction of M kept free at admission
    max_num_seqs: int = 0       # 0 = unlimited

    def validate(self) -> None:
        if not 0.0 <= self.watermark < 1.0:
            raise ConfigError(f"watermark={self.watermark} must be in [0, 1)")
        if self.max_num_seqs < 0:
            raise ConfigError("max_num_seqs must be >= 0")


@register_policy
class VllmFCFS(Policy):
    """vLLM-style FCFS on current memory; on overflow it preempts the newest request and admits
    nothing that round."""
    name = "vllm_fcfs"
    Params = VllmParams
    reads_predictions = False

    def admit(self, view: SchedulerView) -> Sequence[int]:
        if view.evicted_now:
            return []  # no admissions in a round that had to preempt (as vLLM v1)
        limit = self.capacity - int(self.params.watermark * self.capacity)
        cap_n = self.params.max_num_seqs or 1 << 62
        need, n, out = view.need, len(view.running), []
        for i in view.waiting:
            add = int(view.prompt[i]) + 1
            if need + add > (limit if n else self.capacity) or n >= cap_n:   # no watermark alone
                break
            out.append(int(i)); need += add; n += 1
        return out

    def quiet_rounds(self, view: SchedulerView) -> int:
        return INF_ROUNDS  # memory only grows between completions: a blocked head stays blocked


@register_policy
class SglangFCFS(VllmFCFS):
    """SGLang-style FCFS: vllm_fcfs's admission; on overflow it retracts the request with the
    fewest output tokens, the longest prompt first among ties, and admits nothing that round."""
    name = "sglang_fcfs"

    def victims(self, view: SchedulerView, excess: int) -> Sequence[int]:
        run = np.asarray(view.running)
        # fewest decoded tokens, then longest prompt, then newest (the order SGLang retracts in)
        order = run[np.lexsort((-view.admit_seq[run], -view.prompt[run], view.progress[run]))]
        return cover_excess(view, order, excess)
