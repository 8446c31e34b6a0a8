"""Executors: what runs one iteration (round) of the engine.

:class:`TorchBackend` runs a transformers causal LM iteration by iteration. The running batch
shares one left-padded ``DynamicCache`` (rows = requests, columns = positions, an attention
mask marking the real entries):

* **decode**: one forward over the batch with each row's last token (``position_ids`` per row),
  greedy next token; the cache grows by one column;
* **prefill**: the requests admitted this round run one batched forward over their prompts
  (left-padded to the longest), which yields their first token; their cache rows are then
  merged into the batch (the shorter side padded on the left);
* **release**: rows of completed, evicted or rejected requests are dropped (their KV cache is
  freed; an evicted request later restarts from its prompt) and all-padding columns on the
  left are trimmed.

Prompts are random token ids (the traces give sizes only), drawn per request from the seed.
Outputs are never stopped by EOS: the engine loop decides when a request has produced its
``o`` tokens, so output lengths are forced exactly.

:class:`NullBackend` does no work (for tests of the scheduling loop and its bookkeeping).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


@dataclass
class StepTimes:
    """Measured times (s) of one iteration's model work and the cache it holds afterwards."""

    prefill_s: float = 0.0
    decode_s: float = 0.0
    kv_physical: int = 0      # real (unpadded) KV entries held by the batch after the step
    kv_padded: int = 0        # rows x columns of the padded batch cache


class NullBackend:
    """Runs nothing; keeps the per-request token counts so tests can check the loop."""

    name = "null"

    def __init__(self):
        self.rows: list[int] = []
        self.length: dict[int, int] = {}
        self.generated: dict[int, int] = {}

    def release(self, ids) -> None:
        drop = {int(i) for i in ids}
        self.rows = [r for r in self.rows if r not in drop]
        for i in drop:
            self.length.pop(i, None)

    def step(self, new: list[tuple[int, int]]) -> StepTimes:
        for r in self.rows:
            self.length[r] += 1
            self.generated[r] += 1
        for i, s in new:
            self.rows.append(int(i))
            self.length[int(i)] = max(int(s), 1)
            self.generated[int(i)] = 1
        return StepTimes(kv_physical=int(sum(self.length[r] for r in self.rows)),
                         kv_padded=len(self.rows) * max(self.length.values(), default=0))

    def info(self) -> dict:
        return {"backend": self.name}


class TorchBackend:
    """Iteration-level execution of a transformers causal LM with a padded batch KV cache."""

    name = "transformers"

    def __init__(self, model, *, seed: int = 0, model_info: dict | None = None, timer=time.perf_counter):
        import torch

        self.torch = torch
        self.model = model
        self.device = next(model.parameters()).device
        self.vocab = int(model.config.vocab_size)
        self.seed = int(seed)
        self.timer = timer
        self.model_info = dict(model_info or {})
        self.rows: list[int] = []               # request id of each batch row
        self.cache = None                        # DynamicCache, [B, H, L, D] per layer
        self.mask = None                         # [B, L] int64, 1 = real entry
        self.last = None                         # [B] last produced token
        self.pos = None                          # [B] position id of the next token to feed
        self.generated: dict[int, int] = {}      # tokens produced in the current run, per request
        self.restarts: dict[int, int] = {}

    # --- helpers -----------------------------------------------------------------------
    def _sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def _prompt(self, i: int, s: int):
        """Random prompt ids for request ``i`` (the same on every restart)."""
        g = np.random.default_rng([self.seed, int(i)])
        return g.integers(0, self.vocab, size=max(int(s), 1))

    @staticmethod
    def _layers(cache):
        return cache.layers

    def _select(self, keep) -> None:
        t = self.torch
        idx = t.as_tensor(keep, dtype=t.long, device=self.device)
        for layer in self._layers(self.cache):
            layer.keys = layer.keys.index_select(0, idx)
            layer.values = layer.values.index_select(0, idx)
        self.mask = self.mask.index_select(0, idx)
        self.last = self.last.index_select(0, idx)
        self.pos = self.pos.index_select(0, idx)
        # trim columns that are padding in every row
        cols = t.nonzero(self.mask.any(dim=0)).flatten()
        first = int(cols[0]) if len(cols) else self.mask.shape[1]
        if first > 0:
            for layer in self._layers(self.cache):
                layer.keys = layer.keys[:, :, first:, :]
                layer.values = layer.values[:, :, first:, :]
            self.mask = self.mask[:, first:]

    def _merge(self, cache, mask, last, pos) -> None:
        """Append rows (their own left-padded cache) to the batch, padding the shorter on the left."""
        t = self.torch
        if self.cache is None or not self.rows:
            self.cache, self.mask, self.last, self.pos = cache, mask, last, pos
            return
        L0, L1 = self.mask.shape[1], mask.shape[1]
        L = max(L0, L1)
        pad = t.nn.functional.pad
        for a, b in zip(self._layers(self.cache), self._layers(cache)):
            a.keys = t.cat([pad(a.keys, (0, 0, L - L0, 0)), pad(b.keys, (0, 0, L - L1, 0))], dim=0)
            a.values = t.cat([pad(a.values, (0, 0, L - L0, 0)), pad(b.values, (0, 0, L - L1, 0))], dim=0)
        self.mask = t.cat([pad(self.mask, (L - L0, 0)), pad(mask, (L - L1, 0))], dim=0)
        self.last = t.cat([self.last, last])
        self.pos = t.cat([self.pos, pos])

    # --- the executor interface --------------------------------------------------------
    def release(self, ids) -> None:
        drop = {int(i) for i in ids}
        if not drop.intersection(self.rows):
            return
        keep = [k for k, r in enumerate(self.rows) if r not in drop]
        self.rows = [self.rows[k] for k in keep]
        if not self.rows:
            self.cache = self.mask = self.last = self.pos = None
            return
        self._select(keep)

    def step(self, new: list[tuple[int, int]]) -> StepTimes:
        """One iteration: decode the running rows, then prefill ``new`` = [(id, prompt tokens)]."""
        t = self.torch
        from transformers import DynamicCache

        out = StepTimes()
        with t.inference_mode():
            self._sync()
            t0 = self.timer()
            if self.rows:
                ones = t.ones((len(self.rows), 1), dtype=self.mask.dtype, device=self.device)
                self.mask = t.cat([self.mask, ones], dim=1)
                o = self.model(input_ids=self.last[:, None], attention_mask=self.mask,
                               position_ids=self.pos[:, None], past_key_values=self.cache, use_cache=True)
                self.cache = o.past_key_values
                self.last = o.logits[:, -1, :].argmax(dim=-1)
                self.pos = self.pos + 1
                for r in self.rows:
                    self.generated[r] += 1
                self._sync()
            t1 = self.timer()
            if new:
                prompts = [self._prompt(i, s) for i, s in new]
                S = max(len(p) for p in prompts)
                ids = np.zeros((len(new), S), dtype=np.int64)
                msk = np.zeros((len(new), S), dtype=np.int64)
                for k, p in enumerate(prompts):
                    ids[k, S - len(p):] = p
                    msk[k, S - len(p):] = 1
                ids_t = t.as_tensor(ids, device=self.device)
                msk_t = t.as_tensor(msk, device=self.device)
                pos_t = (msk_t.cumsum(dim=1) - 1).clamp(min=0)
                o = self.model(input_ids=ids_t, attention_mask=msk_t, position_ids=pos_t,
                               past_key_values=DynamicCache(), use_cache=True)
                last = o.logits[:, -1, :].argmax(dim=-1)
                lens = t.as_tensor([len(p) for p in prompts], device=self.device)
                self._merge(o.past_key_values, msk_t, last, lens)
                for i, _ in new:
                    self.rows.append(int(i))
                    self.generated[int(i)] = 1
                    self.restarts[int(i)] = self.restarts.get(int(i), -1) + 1
                self._sync()
            t2 = self.timer()
        out.prefill_s, out.decode_s = t2 - t1, t1 - t0
        if self.rows:
            out.kv_physical = int(self.mask.sum())
            out.kv_padded = int(self.mask.numel())
        return out

    def info(self) -> dict:
        return {"backend": self.name, **self.model_info}
