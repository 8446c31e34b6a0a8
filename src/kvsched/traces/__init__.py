"""Request traces and generators, selected by name through :func:`load_trace`.

Real traces (seconds): ``azure_conv``, ``azure_code``, ``mooncake_conv``,
``mooncake_synthetic``, ``sharegpt``, ``arxiv_summarization``, ``alpaca_eval``.
Generators: ``synthetic_mcsf`` (rounds), ``lmsys_like`` (seconds; a reconstruction).
Your own file: ``file`` (CSV, JSON lines or parquet; ``trace.path``).
"""

from . import alpaca_eval, azure, lengths, lmsys_like, mooncake, synthetic_mcsf, user_file  # noqa: F401 (register)
from .cache import cached_read
from .registry import TraceSpec, get_trace, list_traces, load_trace, register_trace

__all__ = ["TraceSpec", "cached_read", "get_trace", "list_traces", "load_trace", "register_trace"]
