"""Model presets for the engine backend: transformers models built from a config with random
weights (no weights are downloaded), as vLLM's ``load_format=dummy`` does.

Presets (``MODEL_PRESETS``):

* ``tiny``: a 4-layer Llama (hidden 256) for CPU tests and the quick fidelity run.
* ``llama2_7b``: the Llama-2-7B shape (32 layers, hidden 4096, 32 heads, vocab 32000) for CUDA,
  in bf16. About 13.5 GB of weights; its KV cache takes 0.5 MB per token.

A preset can be given by name or as a mapping of ``LlamaConfig`` fields (``name`` optional).
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import ConfigError

MODEL_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(vocab_size=1024, hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                 num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=8192),
    "llama2_7b": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
                      rms_norm_eps=1e-5),
}


def model_spec(model: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(label, LlamaConfig kwargs) of a preset name or an explicit mapping."""
    if isinstance(model, str):
        if model not in MODEL_PRESETS:
            raise ConfigError(f"unknown engine model {model!r}; presets: {', '.join(MODEL_PRESETS)}")
        return model, dict(MODEL_PRESETS[model])
    kw = dict(model)
    label = str(kw.pop("name", "custom"))
    if label in MODEL_PRESETS:
        kw = {**MODEL_PRESETS[label], **kw}
    return label, kw


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA device is visible, else ``cpu``; ``cpu``, ``cuda`` and
    ``cuda:N`` are checked against what torch sees."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"engine device {device!r}; valid: auto, cpu, cuda, cuda:N")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"engine device {device!r} requested but torch {torch.__version__} sees no CUDA device")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"engine device {device!r}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    return device


def resolve_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    except KeyError:
        raise ConfigError(f"engine dtype {dtype!r}; valid: auto, float32, bfloat16, float16") from None


def build_model(model: str | Mapping[str, Any], device: str = "cpu", dtype: str = "auto", seed: int = 0):
    """A ``LlamaForCausalLM`` with random weights on ``device``; returns (model, info dict)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    label, kw = model_spec(model)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    cfg = LlamaConfig(**kw)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    with torch.device(dev):
        m = LlamaForCausalLM(cfg).to(dt)
    m.eval()
    n_params = sum(p.numel() for p in m.parameters())
    kv_bytes_per_token = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * (
        cfg.hidden_size // cfg.num_attention_heads) * torch.tensor([], dtype=dt).element_size()
    info = {"model": label, "config": kw, "device": dev, "dtype": str(dt).replace("torch.", ""),
            "parameters": int(n_params), "kv_bytes_per_token": int(kv_bytes_per_token),
            "gpu_name": torch.cuda.get_device_name(dev) if dev.startswith("cuda") else None}
    return m, info
