"""Real-engine backend: the same kvsched policies scheduling a transformers model.

Needs the ``engine`` extra (``pip install -e '.[engine]'``: torch and transformers). See
docs/engine.md. Importing this package does not import torch; :mod:`.backend` and
:mod:`.runner` do so when an executor or model is built.

* :mod:`.loop` -- :class:`EngineLoop`, the simulator's scheduling loop driving an executor
  round by round (policy decisions through the same ``SchedulerView``);
* :mod:`.backend` -- :class:`TorchBackend` (padded batch ``DynamicCache``, prefill + decode per
  round, eviction = drop the cache) and :class:`NullBackend`;
* :mod:`.models` -- model presets built from a config with random weights;
* :mod:`.runner` -- :class:`Engine` (load once, replay many) and ``kvsched engine``.
"""

from .loop import CLOCKS, EngineLoop

__all__ = ["CLOCKS", "EngineLoop"]
