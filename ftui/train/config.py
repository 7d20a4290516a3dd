"""The run config: one JSON or TOML file, every field with a sensible default, checked before
anything heavy loads."""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ftui.errors import FtuiError

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SCHEDULES = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TRAIN_ON = ("assistant", "last", "all")
METHODS = ("sft", "dpo", "kto", "orpo")
# DPO losses TRL 1.16 accepts with a pair dataset and a frozen reference (DPOConfig.loss_type)
DPO_LOSSES = ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair",
              "sppo_hard", "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop",
              "sigmoid_norm")
# Where else a run's logged figures go (besides ftui's store): `report_to` in the run config.
REPORTERS = ("tensorboard", "mlflow")
REPORTER_PACKAGES = {"tensorboard": ("tensorboard", "pip install 'ftui[tensorboard]'"),
                     "mlflow": ("mlflow", "pip install mlflow (or mlflow-skinny)")}


@dataclass(frozen=True)
class RunConfig:
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ALL_LINEAR  # all linear projections of Llama-style models
    learning_rate: float = 2e-4
    schedule: str = "cosine"
    warmup_ratio: float = 0.05  # a ratio, not steps: short runs still leave warm-up
    epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 4
    grad_accum: int = 1
    max_seq_len: int = 1024
    eval_steps: int = 50
    save_steps: int = 50
    keep_checkpoints: int = 2
    early_stopping_patience: int = 0  # 0: off
    logging_steps: int = 1
    seed: int = 0
    precision: str = "auto"  # bf16 where the GPU supports it, fp16 on other GPUs, fp32 on CPU
    gradient_checkpointing: bool = False
    group_by_length: bool = True  # batches of similar length: far less padding
    packing: bool = False
    qlora: bool = False
    train_on: str = "assistant"  # assistant turns, only the last one, or every token
    method: str = "sft"  # sft on a sft version; dpo / orpo on preference; kto on unpaired
    beta: float = 0.1  # dpo/kto: how far from the reference; orpo: weight of the odds ratio
    loss_type: str = "sigmoid"  # dpo only
    desirable_weight: float = 0.0  # kto; 0: from the balance of the dataset
    undesirable_weight: float = 0.0  # kto; 0: from the balance of the dataset
    from_model: str = ""  # continue this registered adapter (its run's SFT model = reference)
    # Where it may run (several workers share one queue): at least `gpus` NVIDIA GPUs whose name
    # contains `gpu_kind` (e.g. "H100"; any case) with `gpu_memory_gb` each (GB as on the box:
    # 80 fits an 80GB H100). 0 / "": anywhere.
    gpus: int = 0
    gpu_kind: str = ""
    gpu_memory_gb: float = 0.0
    # also log to: tensorboard (event files in the run folder's tensorboard/), mlflow (where
    # MLFLOW_TRACKING_URI points); empty or "none": ftui's store only
    report_to: tuple[str, ...] = ()

    def validate(self) -> RunConfig:
        p = []
        if self.lora_r < 1:
            p.append("lora_r must be at least 1")
        if self.lora_alpha < 1:
            p.append("lora_alpha must be at least 1")
        if not 0 <= self.lora_dropout < 1:
            p.append("lora_dropout must be in [0, 1)")
        if not self.target_modules:
            p.append("target_modules is empty")
        if not 0 < self.learning_rate < 1:
            p.append(f"learning_rate {self.learning_rate} is not in (0, 1)")
        if self.schedule not in SCHEDULES:
            p.append(f"schedule must be one of {', '.join(SCHEDULES)}")
        if not 0 <= self.warmup_ratio < 1:
            p.append("warmup_ratio must be in [0, 1)")
        if self.max_steps <= 0 and self.epochs <= 0:
            p.append("set epochs > 0 or max_steps > 0")
        for name in ("batch_size", "grad_accum", "logging_steps", "eval_steps", "save_steps",
                     "keep_checkpoints"):
            if getattr(self, name) < 1:
                p.append(f"{name} must be at least 1")
        if self.max_seq_len < 16:
            p.append("max_seq_len must be at least 16")
        if self.early_stopping_patience < 0:
            p.append("early_stopping_patience must be 0 (off) or more")
        if self.precision not in PRECISIONS:
            p.append(f"precision must be one of {', '.join(PRECISIONS)}")
        if self.train_on not in TRAIN_ON:
            p.append(f"train_on must be one of {', '.join(TRAIN_ON)}")
        p.extend(self._method_problems())
        p.extend(self._placement_problems())
        unknown = [r for r in self.report_to if r not in (*REPORTERS, "none")]
        if unknown:
            p.append(f"report_to {', '.join(unknown)}: use none, or any of "
                     f"{', '.join(REPORTERS)} (comma-separated)")
        if self.packing:
            p.append("packing is not supported yet: keep group_by_length = true, which removes "
                     "most padding")
        if p:
            raise FtuiError("invalid run config: " + "; ".join(p), "fix the values named above")
        return self

    def _placement_problems(self) -> list[str]:
        p = []
        if not 0 <= self.gpus <= 64:
            p.append(f"gpus {self.gpus} must be 0 (any worker) to 64")
        if not 0 <= self.gpu_memory_gb <= 4096:
            p.append(f"gpu_memory_gb {self.gpu_memory_gb:g} must be 0 (any) to 4096")
        kind = self.gpu_kind
        if len(kind) > 64 or not all(c.isascii() and (c.isalnum() or c in " -_.") for c in kind):
            p.append(f"gpu_kind {kind[:64]!r} must be a short GPU name such as H100, A100 or "
                     "RTX 4090 (letters, digits, space, - _ .)")
        return p

    def _method_problems(self) -> list[str]:
        p = []
        if self.method not in METHODS:
            return [f"method must be one of {', '.join(METHODS)}"]
        if not 0 < self.beta <= 100:
            p.append(f"beta {self.beta} must be above 0 (0.1 is usual)")
        if self.loss_type not in DPO_LOSSES:
            p.append(f"loss_type must be one of {', '.join(DPO_LOSSES)}")
        for name in ("desirable_weight", "undesirable_weight"):
            if getattr(self, name) < 0:
                p.append(f"{name} must be 0 (from the balance) or more")
        if self.method == "kto" and self.batch_size < 2:
            p.append("kto needs batch_size 2 or more (its KL estimate pairs each example with "
                     "another one of the same batch)")
        if self.from_model and self.method == "sft":
            p.append("from_model continues an adapter with a preference method (dpo, kto, orpo)")
        return p

    @property
    def reporters(self) -> list[str]:
        return [r for r in dict.fromkeys(self.report_to) if r in REPORTERS]

    def check_reporters(self) -> RunConfig:
        """Refuse, with the install command, a report_to whose package is not installed (before
        a run is queued, and again on the worker that trains it)."""
        import importlib.util

        for name in self.reporters:
            module, install = REPORTER_PACKAGES[name]
            if importlib.util.find_spec(module) is None:
                raise FtuiError(f"report_to {name}: the {module} package is not installed",
                                f"{install}, or leave {name} out of report_to")
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_(self, **changes: Any) -> RunConfig:
        return RunConfig.from_dict({**self.as_dict(), **changes})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise FtuiError(f"unknown run config keys: {', '.join(unknown)}",
                            f"known keys: {', '.join(known)}")
        values = {}
        for key, value in data.items():
            default = getattr(cls, key) if not isinstance(getattr(cls, key, None), tuple) else ()
            values[key] = _coerce(key, value, default)
        return cls(**values)


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Values from a file or a `key=value` override, turned into the field's type."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            items = value.split(",") if isinstance(value, str) else value
            return tuple(str(v).strip() for v in items if str(v).strip())
        return str(value)
    except (TypeError, ValueError) as err:
        kind = {bool: "true or false", int: "whole number", float: "number",
                tuple: "comma-separated list"}.get(type(default), "text")
        raise FtuiError(f"run config {key}: {value!r} is not a {kind}",
                        f"give {key} a {kind}, e.g. {key}={_example(default)}") from err


def _example(default: Any) -> str:
    if isinstance(default, bool):
        return "true"
    if isinstance(default, tuple):
        return "q_proj,v_proj"
    return str(default) if default not in (None, "", -1) else "100"


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    data: dict[str, Any] = {}
    if path:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
            data = tomllib.loads(text) if file.suffix == ".toml" else json.loads(text)
        except FileNotFoundError as err:
            raise FtuiError(f"no config file {file}", "check the path") from err
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
            raise FtuiError(f"cannot read {file}: {err}", "fix its JSON or TOML syntax") from err
    for item in overrides or []:
        if "=" not in item:
            raise FtuiError(f"override {item!r} is not key=value", "e.g. --set lora_r=8")
        key, value = item.split("=", 1)
        data[key.strip()] = value.strip()
    return RunConfig.from_dict(data).validate().check_reporters()


def attach_reporting(trainer: Any, config: RunConfig, run_dir: str | Path) -> list[Any]:
    """Add the report_to callbacks to a transformers Trainer (TRL's too): TensorBoard event files
    in `run_dir`/tensorboard, MLflow through its own settings (MLFLOW_TRACKING_URI,
    MLFLOW_EXPERIMENT_NAME). Returns the callbacks added."""
    config.check_reporters()
    added: list[Any] = []
    if "tensorboard" in config.reporters:
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback

        writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))
        added.append(TensorBoardCallback(tb_writer=writer))
    if "mlflow" in config.reporters:
        from transformers.integrations import MLflowCallback

        added.append(MLflowCallback())
    for callback in added:
        trainer.add_callback(callback)
    return added


PRESETS: dict[str, dict[str, Any]] = {
    "quick test (tiny)": {"base": "tiny", "config": {"epochs": 1, "max_steps": 20, "batch_size": 4,
                                                   "max_seq_len": 256, "eval_steps": 10,
                                                   "save_steps": 10, "learning_rate": 1e-3}},
    "demo (SmolLM2-135M, CPU)": {"base": "demo", "config": {"epochs": 1, "batch_size": 4,
                                                          "max_seq_len": 512, "eval_steps": 20,
                                                          "save_steps": 20}},
    "GPU (7B-class, LoRA r=16)": {"base": "", "config": {"epochs": 3, "batch_size": 8,
                                                       "grad_accum": 2, "max_seq_len": 2048,
                                                       "gradient_checkpointing": True,
                                                       "eval_steps": 100, "save_steps": 100}},
}

