"""What a run will cost, before it starts: steps and tokens from the dataset's statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ftui.store import Dataset
from ftui.train.config import RunConfig


@dataclass
class Estimate:
    train_examples: int
    steps_per_epoch: int
    total_steps: int
    tokens_per_epoch: int
    tokens_exact: bool


def estimate(dataset: Dataset, config: RunConfig) -> Estimate:
    report = dataset.report
    train = report["stats"]["train"]
    n = train["examples"]
    per_epoch = max(1, math.ceil(n / (config.batch_size * config.grad_accum)))
    total = config.max_steps if config.max_steps > 0 else math.ceil(per_epoch * config.epochs)
    return Estimate(n, per_epoch, total, int(train["tokens"]["total"]),
                    bool(report.get("exact_tokens")))


@dataclass
class MemoryEstimate:
    params: int
    weights_gib: float
    adapter_gib: float  # LoRA weights, gradients and Adam state
    activations_gib: float

    @property
    def total_gib(self) -> float:
        return self.weights_gib + self.adapter_gib + self.activations_gib


def base_config(base: str, home) -> dict | None:
    """The base model's config.json, when it can be read without loading or downloading."""
    import json
    from pathlib import Path

    from ftui.train.base import models_dir

    candidates = {"tiny": models_dir(home) / "tiny", "demo": models_dir(home) / "demo-smollm2"}
    folder = candidates.get(base, Path(base).expanduser())
    path = folder / "config.json"
    if not path.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(base, "config.json")
            path = Path(cached) if isinstance(cached, str) else path
        except Exception:  # not an id, or no cache: no estimate
            return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def memory_need(cfg: dict, config: RunConfig, precision: str) -> MemoryEstimate | None:
    """A rough, documented estimate for a decoder-only model: weights (4-bit under QLoRA),
    LoRA weights + gradients + Adam state in fp32, and activations at about 34·h bytes per token
    per layer (half that with gradient checkpointing, which keeps roughly one tensor per layer)."""
    try:
        h, layers = int(cfg["hidden_size"]), int(cfg["num_hidden_layers"])
        vocab = int(cfg["vocab_size"])
        inter = int(cfg.get("intermediate_size", 4 * h))
    except (KeyError, TypeError, ValueError):
        return None
    params = layers * (4 * h * h + 3 * h * inter) + vocab * h * (1 if cfg.get("tie_word_embeddings") else 2)
    bytes_per = 0.5 if config.qlora else {"fp32": 4, "bf16": 2, "fp16": 2}.get(precision, 2)
    gib = 2**30
    lora = layers * len(config.target_modules) * config.lora_r * (h + max(h, inter))
    tokens = config.batch_size * config.max_seq_len
    per_token_layer = (2 * h) if config.gradient_checkpointing else (34 * h)
    return MemoryEstimate(
        params=params,
        weights_gib=params * bytes_per / gib,
        adapter_gib=lora * 16 / gib,
        activations_gib=tokens * layers * per_token_layer / gib + tokens * vocab * 4 / gib,
    )
