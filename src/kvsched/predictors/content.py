"""Predictors that learn online from prompt content and completed requests.

Both see only what a real scheduler sees: the prompt (text and size) of an arriving
request and, through :meth:`~kvsched.predictors.base.Predictor.observe`, the output
lengths of requests that have *completed*. ``uses_truth = False``: the engine never
hands them the length of an unfinished request.

* ``sage_knn`` -- a distributional predictor (reconstruction of SageSched's predictor,
  papers.md §6). Prompt text -> hashed TF-IDF vector (word unigrams and bigrams, CRC32
  hashed into ``2**n_bits`` slots, sublinear TF, IDF from the prompts seen so far) ->
  the ``k`` most cosine-similar completed requests (similarity >= ``min_sim``) -> their
  output lengths, each smoothed in log space (``bandwidth``) and weighted by similarity,
  mixed with a global prior of weight ``prior_weight`` -> quantiles at
  :data:`~kvsched.predictors.base.QUANTILE_LEVELS`. Point prediction = the median.
  The global prior is a log-normal (``prior_median``, ``prior_sigma``) worth
  ``prior_count`` pseudo-observations plus the last ``window`` completed outputs: a cold
  start that becomes the empirical distribution as completions arrive.
  History-only mode (a prompt without text, or ``features: history``): the neighbours are
  the last ``k`` completed requests in the same prompt-size bucket
  (``floor(log2(prompt + 1))``), weight 1 each.
* ``ltr`` -- a learning-to-rank point predictor (reconstruction of the LTR scheduling
  baseline): a linear pairwise-logistic ranker on hashed prompt words plus
  ``log(1 + prompt)``, trained online by SGD on pairs of completed requests (label: which
  output is longer). Its score is mapped to tokens monotonically: a request whose score
  ranks at percentile ``u`` among recently completed requests' scores is predicted the
  ``u``-quantile of their outputs. Only the order matters to a shortest-first policy; the
  mapping makes ``pred`` a length so that memory checks can use it too.
"""

from __future__ import annotations

import re
import zlib
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import ConfigError
from .base import MEDIAN_INDEX, QUANTILE_LEVELS, Predictions, Predictor
from .registry import register_predictor


def _sp():
    """scipy.sparse, imported on first use (it costs ~0.2 s of start-up for every run)."""
    import scipy.sparse
    return scipy.sparse

_WORD = re.compile(r"[a-z0-9']+")
_SMOOTH_Z = np.array([-1.2816, -0.5244, 0.0, 0.5244, 1.2816])   # N(0,1) quantiles at .1,.3,.5,.7,.9


@lru_cache(maxsize=65536)
def hashed_counts(text: str, n_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashed word unigram + bigram counts of ``text``: (slot indices, sublinear tf 1 + log c).
    Cached, so the arrays are shared between callers: they are read-only."""
    words = _WORD.findall(text.lower())
    grams = words + [a + " " + b for a, b in zip(words, words[1:])]
    if not grams:
        idx, tf = np.zeros(0, np.int64), np.zeros(0)
    else:
        mask = (1 << n_bits) - 1
        h = np.fromiter((zlib.crc32(g.encode()) & mask for g in grams), dtype=np.int64, count=len(grams))
        idx, cnt = np.unique(h, return_counts=True)
        tf = 1.0 + np.log(cnt)
    idx.flags.writeable = False
    tf.flags.writeable = False
    return idx, tf


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles of a weighted sample (midpoint-CDF interpolation, clipped to the sample range)."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cw = np.cumsum(w)
    cdf = (cw - 0.5 * w) / cw[-1]
    return np.interp(levels, cdf, v)


class GlobalPrior:
    """Log-normal pseudo-observations plus the last ``window`` completed outputs."""

    def __init__(self, median: float, sigma: float, count: int, window: int):
        z = np.sqrt(2.0) * _erfinv(2.0 * QUANTILE_LEVELS - 1.0)
        self.pseudo = median * np.exp(sigma * z)                  # Q atoms
        self.pseudo_w = np.full(len(self.pseudo), count / len(self.pseudo))
        self.recent: deque[float] = deque(maxlen=window)
        self._atoms: np.ndarray | None = None

    def add(self, outputs: np.ndarray) -> None:
        self.recent.extend(float(o) for o in outputs)
        self._atoms = None

    def atoms(self) -> np.ndarray:
        """The prior as Q equally weighted atoms (its quantiles)."""
        if self._atoms is None:
            v = np.concatenate((self.pseudo, np.asarray(self.recent, dtype=np.float64)))
            w = np.concatenate((self.pseudo_w, np.ones(len(self.recent))))
            self._atoms = weighted_quantiles(v, w, QUANTILE_LEVELS)
        return self._atoms


def _erfinv(y: np.ndarray) -> np.ndarray:
    from scipy.special import erfinv
    return erfinv(y)


class HashedTfidf:
    """Online hashed TF-IDF: document frequencies from every prompt seen (public), rows
    L2-normalised with the IDF current when they are built."""

    def __init__(self, n_bits: int):
        self.n_bits = n_bits
        self.df = np.zeros(1 << n_bits)
        self.ndocs = 0

    def see(self, texts: list[str]) -> None:
        for t in texts:
            idx, _ = hashed_counts(t, self.n_bits)
            self.df[idx] += 1
            self.ndocs += 1

    def rows(self, texts: list[str]) -> "scipy.sparse.csr_matrix":
        indptr, indices, data = [0], [], []
        for t in texts:
            idx, tf = hashed_counts(t, self.n_bits)
            val = tf * (np.log((1.0 + self.ndocs) / (1.0 + self.df[idx])) + 1.0)
            nrm = np.sqrt(np.sum(val * val))
            indices.append(idx)
            data.append(val / nrm if nrm > 0 else val)
            indptr.append(indptr[-1] + len(idx))
        return _sp().csr_matrix((np.concatenate(data) if data else np.zeros(0),
                              np.concatenate(indices) if indices else np.zeros(0, np.int64), indptr),
                             shape=(len(texts), 1 << self.n_bits))


class NeighbourBank:
    """Completed requests' TF-IDF rows and outputs; cosine top-k queries.

    Rows are normalised when added; the matrix is rebuilt (all rows re-weighted with the
    current IDF) when the rows added since the last rebuild exceed ``rebuild_frac`` of it."""

    def __init__(self, vec: HashedTfidf, rebuild_frac: float = 0.25):
        self.vec = vec
        self.texts: list[str] = []
        self.out = np.zeros(0)
        self.frac = rebuild_frac
        self.base: "scipy.sparse.csr_matrix | None" = None      # rows 0..nb-1, transposed
        self.nb = 0
        # rows added since the last rebuild, as flat (row, feature, value) arrays in row order
        self.pend: list[tuple[np.ndarray, np.ndarray]] = []
        self.pend_flat: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.dense_q = np.zeros(1 << vec.n_bits)   # scratch: one query row, scattered

    def add(self, texts: list[str], outputs: np.ndarray) -> None:
        self.texts += texts
        self.out = np.concatenate((self.out, np.asarray(outputs, dtype=np.float64)))
        if len(self.texts) - self.nb > max(64, self.frac * self.nb):
            self.base = self.vec.rows(self.texts).T.tocsr()   # (features, rows): q @ base is CSR x CSR
            self.nb = len(self.texts)
            self.pend, self.pend_flat = [], None
        else:
            m = self.vec.rows(texts)
            for r in range(m.shape[0]):
                lo, hi = m.indptr[r], m.indptr[r + 1]
                self.pend.append((m.indices[lo:hi], m.data[lo:hi]))
            self.pend_flat = None

    def _pending_sims(self, q: "scipy.sparse.csr_matrix") -> np.ndarray:
        """Dot products of each query row with each pending row, (queries, pending). Without
        sparse-matrix construction per query (which dominated); the products over common
        features are summed in ascending feature order, as the CSR product sums them, so the
        similarities are the same to the bit."""
        if self.pend_flat is None:
            row = np.repeat(np.arange(len(self.pend)), [len(i) for i, _ in self.pend])
            self.pend_flat = (row, np.concatenate([i for i, _ in self.pend]),
                              np.concatenate([v for _, v in self.pend]))
        row, idx, val = self.pend_flat
        out = np.zeros((q.shape[0], len(self.pend)))
        d = self.dense_q
        for r in range(q.shape[0]):
            qi, qv = q.indices[q.indptr[r]:q.indptr[r + 1]], q.data[q.indptr[r]:q.indptr[r + 1]]
            d[qi] = qv
            g = d[idx]
            hit = np.flatnonzero(g)
            out[r] = np.bincount(row[hit], weights=val[hit] * g[hit], minlength=len(self.pend))
            d[qi] = 0.0
        return out

    def query(self, q: "scipy.sparse.csr_matrix", k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query row: (similarities, outputs) of its top ``k`` neighbours, best first."""
        parts = []
        if self.base is not None:
            parts.append((q @ self.base).toarray())
        if self.pend:
            parts.append(self._pending_sims(q))
        if not parts:
            return [(np.zeros(0), np.zeros(0))] * q.shape[0]
        sims = np.hstack(parts)
        res = []
        kk = min(k, sims.shape[1])
        for row in sims:
            top = np.argpartition(-row, kk - 1)[:kk] if kk < len(row) else np.arange(len(row))
            top = top[np.argsort(-row[top], kind="stable")]
            res.append((row[top], self.out[top]))
        return res


FEATURES = ("auto", "text", "history")


@dataclass(frozen=True)
class SageKnnParams:
    """See the module docstring. Lengths in tokens."""

    k: int = 32
    min_sim: float = 0.1
    bandwidth: float = 0.2          # log-space smoothing of each neighbour's length
    prior_weight: float = 1.0       # weight of the global prior against sum of neighbour similarities
    prior_median: float = 200.0
    prior_sigma: float = 1.0
    prior_count: int = 20
    window: int = 2000
    n_bits: int = 18
    features: str = "auto"          # auto: text when the request has it, else history
    point_only: bool = False        # give only the median (policies then see a point mass)

    def validate(self) -> None:
        if self.k < 1 or self.window < 1 or self.prior_count < 1:
            raise ConfigError("k, window and prior_count must be >= 1")
        if not 0.0 <= self.min_sim <= 1.0 or self.bandwidth < 0 or self.prior_weight <= 0:
            raise ConfigError("need 0 <= min_sim <= 1, bandwidth >= 0, prior_weight > 0")
        if self.prior_median <= 0 or self.prior_sigma < 0 or not 8 <= self.n_bits <= 24:
            raise ConfigError("need prior_median > 0, prior_sigma >= 0, 8 <= n_bits <= 24")
        if self.features not in FEATURES:
            raise ConfigError(f"features={self.features!r}; choose one of {', '.join(FEATURES)}")


def _bucket(prompt: int) -> int:
    return int(np.floor(np.log2(prompt + 1.0)))


@register_predictor
class SageKnn(Predictor):
    """Distributional output-length predictor: content kNN + history, online."""

    name = "sage_knn"
    intervals = False
    Params = SageKnnParams
    uses_truth = False

    def __init__(self, params=None, *, seed: int = 0):
        super().__init__(params, seed=seed)
        p = self.params
        self.prior = GlobalPrior(p.prior_median, p.prior_sigma, p.prior_count, p.window)
        self.vec = HashedTfidf(p.n_bits)
        self.bank = NeighbourBank(self.vec)
        self.hist: dict[int, deque[float]] = {}
        self.n_observed = 0

    def _use_text(self, t) -> bool:
        return self.params.features != "history" and isinstance(t, str) and t.strip() != ""

    def _mix(self, nv: np.ndarray, nw: np.ndarray) -> np.ndarray:
        p = self.params
        prior = self.prior.atoms()
        pw = np.full(len(prior), p.prior_weight / len(prior))
        if len(nv):
            z = _SMOOTH_Z if p.bandwidth > 0 else np.zeros(1)
            v = (nv[:, None] * np.exp(p.bandwidth * z)[None, :]).ravel()
            w = np.repeat(nw / len(z), len(z))
            vals, wts = np.concatenate((v, prior)), np.concatenate((w, pw))
        else:
            vals, wts = prior, pw
        return weighted_quantiles(vals, wts, QUANTILE_LEVELS)

    def predict(self, ids, prompt, texts, truth):
        assert truth is None, "sage_knn must not be handed true lengths"
        n = len(ids)
        q = np.empty((n, len(QUANTILE_LEVELS)))
        txt = [i for i in range(n) if self._use_text(texts[i])]
        if txt:
            self.vec.see([texts[i] for i in txt])      # prompt text is public on arrival
        neigh: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if txt and len(self.bank.texts):
            res = self.bank.query(self.vec.rows([texts[i] for i in txt]), self.params.k)
            for i, (s, o) in zip(txt, res):
                keep = s >= self.params.min_sim
                neigh[i] = (o[keep], s[keep])
        for i in range(n):
            if self._use_text(texts[i]):
                nv, nw = neigh.get(i, (np.zeros(0), np.zeros(0)))
            else:
                h = self.hist.get(_bucket(int(prompt[i])))
                nv = np.asarray(h, dtype=np.float64) if h else np.zeros(0)
                nw = np.ones(len(nv))
            q[i] = self._mix(nv, nw)
        qi = np.maximum(1, np.rint(q)).astype(np.int64)
        qi = np.maximum.accumulate(qi, axis=1)
        if self.params.point_only:
            return Predictions(qi[:, MEDIAN_INDEX].copy())
        return Predictions(qi[:, MEDIAN_INDEX].copy(), quantiles=qi)

    def observe(self, ids, prompt, texts, output):
        out = np.asarray(output, dtype=np.float64)
        self.n_observed += len(out)
        self.prior.add(out)
        txt = [i for i in range(len(out)) if self._use_text(texts[i])]
        if txt:
            self.bank.add([texts[i] for i in txt], out[txt])
        for i in range(len(out)):
            if not self._use_text(texts[i]):
                b = _bucket(int(prompt[i]))
                self.hist.setdefault(b, deque(maxlen=self.params.k)).append(float(out[i]))


@dataclass(frozen=True)
class LtrParams:
    """Pairwise-logistic online ranker (see the module docstring)."""

    n_bits: int = 16
    lr: float = 0.1
    pairs: int = 8             # training pairs drawn per completed request
    l2: float = 1e-4
    window: int = 2000         # completed requests kept for pairs and for the score -> length map
    rescore_every: int = 200   # completions between re-scoring the window with the current weights
    prior_median: float = 200.0

    def validate(self) -> None:
        if self.lr <= 0 or self.pairs < 1 or self.window < 2 or self.rescore_every < 1 or self.l2 < 0:
            raise ConfigError("need lr > 0, pairs >= 1, window >= 2, rescore_every >= 1, l2 >= 0")
        if not 8 <= self.n_bits <= 24 or self.prior_median <= 0:
            raise ConfigError("need 8 <= n_bits <= 24 and prior_median > 0")


@register_predictor
class LearnToRank(Predictor):
    """Online pairwise ranker on prompt features; point prediction via the score's rank."""

    name = "ltr"
    intervals = False
    Params = LtrParams
    uses_truth = False

    def __init__(self, params=None, *, seed: int = 0):
        super().__init__(params, seed=seed)
        p = self.params
        self.dim = (1 << p.n_bits) + 2            # hashed words, log(1 + prompt), bias
        self.w = np.zeros(self.dim)
        self.buf: deque[tuple[np.ndarray, np.ndarray, float, float]] = deque(maxlen=p.window)
        self.since = 0

    def _x(self, text, prompt: int) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(text, str) and text:
            idx, tf = hashed_counts(text, self.params.n_bits)
            nrm = np.sqrt(np.sum(tf * tf))
            val = tf / nrm if nrm > 0 else tf
        else:
            idx, val = np.zeros(0, np.int64), np.zeros(0)
        b = 1 << self.params.n_bits
        return (np.concatenate((idx, [b, b + 1])),
                np.concatenate((val, [np.log1p(prompt) / 8.0, 1.0])))

    def _score(self, x) -> float:
        return float(np.dot(self.w[x[0]], x[1]))

    def predict(self, ids, prompt, texts, truth):
        assert truth is None, "ltr must not be handed true lengths"
        out = np.empty(len(ids), dtype=np.int64)
        if len(self.buf) < 2:
            out[:] = int(self.params.prior_median)
            return Predictions(out)
        scores = np.fromiter((b[2] for b in self.buf), dtype=np.float64)
        lens = np.sort(np.fromiter((b[3] for b in self.buf), dtype=np.float64))
        ss = np.sort(scores)
        for k in range(len(ids)):
            s = self._score(self._x(texts[k], int(prompt[k])))
            u = (np.searchsorted(ss, s, side="left") + np.searchsorted(ss, s, side="right")) / (2.0 * len(ss))
            out[k] = max(1, int(round(float(np.quantile(lens, min(max(u, 0.0), 1.0))))))
        return Predictions(out)

    def observe(self, ids, prompt, texts, output):
        p = self.params
        for k in range(len(ids)):
            x = self._x(texts[k], int(prompt[k]))
            y = float(np.log(output[k]))
            if len(self.buf):
                for j in self.rng.integers(0, len(self.buf), size=min(p.pairs, len(self.buf))):
                    xj, yj = self.buf[j][0], self.buf[j][1]
                    if abs(y - yj) < 1e-9:
                        continue
                    lab = 1.0 if y > yj else 0.0
                    margin = self._score(x) - float(np.dot(self.w[xj[0]], xj[1]))
                    g = lab - 1.0 / (1.0 + np.exp(-margin))
                    np.add.at(self.w, x[0], p.lr * g * x[1])
                    np.add.at(self.w, xj[0], -p.lr * g * xj[1])
            if p.l2:
                self.w *= 1.0 - p.lr * p.l2
            self.buf.append((x, y, self._score(x), float(output[k])))
            self.since += 1
        if self.since >= p.rescore_every:
            self.since = 0
            self.buf = deque(((b[0], b[1], self._score(b[0]), b[3]) for b in self.buf), maxlen=p.window)
