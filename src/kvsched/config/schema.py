"""Structured-config schema: the top level is typed, so a misspelt key is an error.

Group nodes (trace, algorithm, predictor, latency) are mappings whose YAML files list
every parameter with its default; their keys are validated again, with the valid names
listed, by the registry that builds the object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class MemoryConfig:
    capacity: Any = 16492          # tokens, or "auto"


@dataclass
class DataConfig:
    dir: Optional[str] = None


@dataclass
class SimConfig:
    step_mode: bool = False
    fast: bool = True
    progress: Any = "auto"


@dataclass
class RunConfig:
    trace: Dict[str, Any] = field(default_factory=dict)
    algorithm: Dict[str, Any] = field(default_factory=dict)
    predictor: Dict[str, Any] = field(default_factory=dict)
    latency: Dict[str, Any] = field(default_factory=dict)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    seed: int = 0
    label: Optional[str] = None    # a name for the run in tables and figures (sweep variants set it)
    out: str = "results/runs/adhoc"
    data: DataConfig = field(default_factory=DataConfig)
    sim: SimConfig = field(default_factory=SimConfig)
    plugins: List[str] = field(default_factory=list)   # user plugin files / modules (kvsched.plugins)


def register_schema() -> None:
    ConfigStore.instance().store(name="kvsched_schema", node=RunConfig)
