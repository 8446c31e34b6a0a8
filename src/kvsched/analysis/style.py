"""Shared figure style: one colour per algorithm in every figure, and log axes whose tick
labels read as plain numbers (``20``, ``50``, ``100``; not ``2 x 10^1``).

An algorithm keeps its colour across the sweep figures (:mod:`kvsched.analysis.plots`) and
the module experiments' figures (:mod:`kvsched.experiments`). A variant of a known algorithm
(``sorted_f[windows]``, ``sf[current]``, ``sagesched_current``, ``mcsf_skip``) gets a lighter
shade of its base algorithm's colour.
"""

from __future__ import annotations

import math

from matplotlib.colors import to_hex, to_rgb
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator


COLORS = {
    "fcfs": "#1f77b4",          # blue
    "sf": "#ff7f0e",            # orange
    "mcsf": "#2ca02c",          # green
    "vllm_fcfs": "#d62728",     # red
    "sorted_f": "#9467bd",      # purple
    "gsa": "#8c564b",           # brown
    "gba": "#e377c2",           # pink
    "sjf": "#bcbd22",           # olive
    "ltr": "#17becf",           # cyan
    "sagesched": "#6a3d9a",     # dark violet
    "srpt_oracle": "#7f7f7f",   # grey (a reference, not a deployable policy)
    "amax": "#1b9e77",          # teal
    "amin": "#d95f02",          # dark orange
    "algorithm1": "#3a5fcd",    # royal blue
    "alpha_protection": "#a6761d",
    "alpha_clearing": "#666666",
    "hsf": "#98df8a",           # light green (MC-SF with exact lengths, the A_min paper's benchmark)
    "srpt": "#7f7f7f",          # grey, as its oracle reference
}


def lighten(color: str, amount: float = 0.45) -> str:
    """``color`` mixed with white (``amount`` 0: unchanged, 1: white)."""
    return to_hex([c + (1 - c) * amount for c in to_rgb(color)])


def base_algorithm(name: str) -> str | None:
    """The known algorithm ``name`` is, or is a variant of (``sorted_f[windows]`` ->
    ``sorted_f``, ``sagesched_current`` -> ``sagesched``); None when it is none of them."""
    if name in COLORS:
        return name
    head = name.split("[")[0]
    if head in COLORS:
        return head
    bases = [b for b in COLORS if name.startswith(b + "_")]
    return max(bases, key=len) if bases else None


def algo_color(name: str) -> str | None:
    """The colour of algorithm ``name`` in every figure; a lighter shade for a variant of a
    known algorithm; None for an algorithm this table does not know."""
    base = base_algorithm(name)
    if base is None:
        return None
    return COLORS[base] if base == name else lighten(COLORS[base])


def is_variant(name: str) -> bool:
    """Whether ``name`` is a variant of a known algorithm (drawn dashed beside it)."""
    base = base_algorithm(name)
    return base is not None and base != name


def _fmt(v, _pos=None) -> str:
    return f"{v:,.10g}" if v >= 1000 else f"{v:.10g}"


def plain_log_ticks(ax, axis: str = "y") -> None:
    """Label a log axis with plain numbers, dense enough to read values off it: at 1-2-5 steps
    (1-2-3-5 when it spans under two decades; more when under half of one). Call after the
    limits are final."""
    a = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    lo, hi = min(lo, hi), max(lo, hi)
    decades = math.log10(hi / lo) if lo > 0 else 3
    subs = (1.0,) if decades > 4 else (1.0, 2.0, 5.0) if decades > 2 else (1.0, 2.0, 3.0, 5.0) \
        if decades > 0.6 else (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
    a.set_major_locator(LogLocator(base=10, subs=subs))
    a.set_major_formatter(FuncFormatter(_fmt))
    a.set_minor_locator(LogLocator(base=10, subs=[s for s in range(1, 10)]))
    a.set_minor_formatter(NullFormatter())


def ticks_at(ax, values, axis: str = "x") -> None:
    """Put the ticks of ``axis`` at ``values`` only (the swept values), labelled plainly."""
    a = ax.xaxis if axis == "x" else ax.yaxis
    vals = sorted(set(float(v) for v in values))
    a.set_major_locator(FixedLocator(vals))
    a.set_major_formatter(FuncFormatter(_fmt))
    a.set_minor_locator(NullLocator())


def figure_metadata(fmt: str) -> dict | None:
    """``savefig``'s ``metadata`` for a figure in format ``fmt``: what drew it (the
    :func:`kvsched.provenance.provenance` record as compact JSON: code version, package versions,
    platform) in a PNG text chunk ``kvsched`` or the PDF's ``Subject``; a PDF without its creation
    date, so the same results and code give byte-identical figures (a PNG records no date).
    :func:`figure_provenance` reads it back."""
    import json

    from ..provenance import provenance
    record = json.dumps(provenance(), sort_keys=True, separators=(",", ":"))
    if fmt == "png":
        return {"kvsched": record}
    if fmt == "pdf":
        return {"CreationDate": None, "Subject": f"kvsched {record}"}
    return None


def figure_provenance(path) -> dict | None:
    """The provenance record :func:`figure_metadata` stored in a PNG or PDF figure (None if it
    has none)."""
    import json
    import re
    from pathlib import Path
    path = Path(path)
    if path.suffix.lower() == ".png":
        from PIL import Image
        with Image.open(path) as im:
            raw = im.text.get("kvsched")
        return json.loads(raw) if raw else None
    data = path.read_bytes()        # matplotlib writes the PDF's info dictionary uncompressed
    m = re.search(rb"/Subject \(kvsched ((?:[^\\)]|\\.)*)\)", data, re.S)  # up to an unescaped ")"
    if not m:
        return None
    text = re.sub(rb"\\([()\\])", rb"\1", m.group(1))   # undo the PDF string escapes
    return json.loads(text.decode())
