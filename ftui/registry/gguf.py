"""A PEFT LoRA adapter as a GGUF LoRA file, written the way llama.cpp's own
`convert_lora_to_gguf.py` writes it, so llama.cpp's server (`--lora FILE`), LM Studio and Ollama
(an adapter on any base llama.cpp knows, not only llama and gemma2) load the same file.

What the converter writes, and so this:
- metadata: general.architecture (llama.cpp's name for the base), general.type = adapter,
  adapter.type = lora, general.name, adapter.lora.alpha (float32), general.quantization_version;
- per adapted projection two tensors, `blk.N.attn_q.weight.lora_a` holding peft's lora_A (numpy
  shape (r, in), GGUF's reversed dims [in, r]) and `.lora_b` holding lora_B ((out, r)); the
  names come from gguf-py's tensor-name map for the architecture, as the converter's do;
- float32 unless asked (the converter's `--outtype` default is f32);
- on llama-architecture bases (llama, mistral) llama.cpp stores q_proj / k_proj with their rows
  permuted from Hugging Face's rotary layout; the delta B.A gets the same permutation by
  permuting the rows of lora_b only (k_proj grouped by the key-value head count).

llama.cpp scales each pair by alpha / r, r read from the tensor: where peft scales otherwise
(rsLoRA, per-module rank or alpha patterns) the difference is folded into lora_b, so the
product is always the delta peft adds.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ftui.errors import FtuiError

# Hugging Face model_type -> llama.cpp architecture (what convert_hf_to_gguf.py registers).
ARCHS = {"llama": "LLAMA", "mistral": "LLAMA", "qwen2": "QWEN2", "qwen3": "QWEN3",
         "gemma": "GEMMA", "gemma2": "GEMMA2", "phi3": "PHI3"}
PERMUTED = {"LLAMA"}  # LlamaModel.undo_permute: the others keep Hugging Face's row order
DTYPES = {"f32": np.float32, "f16": np.float16}
_NAME = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<ab>[AB])\.weight$")
_LAYER = re.compile(r"\.layers\.(\d+)\.")


def text_config(base_cfg: dict[str, Any]) -> dict[str, Any]:
    """The language model's config (multimodal configs nest it under text_config)."""
    return {**base_cfg, **(base_cfg.get("text_config") or {})}


def gguf_arch(base_cfg: dict[str, Any]) -> str:
    """llama.cpp's architecture name for a base, or an FtuiError naming the arch and the fix."""
    import gguf

    model_type = text_config(base_cfg).get("model_type")
    if model_type not in ARCHS:
        raise FtuiError(
            f"ftui writes GGUF adapters for {', '.join(sorted(ARCHS))} bases; this base is "
            f"{model_type!r}",
            "merge it (ftui models merge ID) and deploy or convert the merged model instead")
    return gguf.MODEL_ARCH_NAMES[getattr(gguf.MODEL_ARCH, ARCHS[model_type])]


def permute_rows(b: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's LlamaModel.permute on the rows of lora_b (Hugging Face rotary halves ->
    interleaved pairs, per head)."""
    rows, cols = b.shape
    return b.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def unpermute_rows(b: np.ndarray, n_head: int) -> np.ndarray:
    """The inverse of permute_rows (for checks that compare with peft)."""
    rows, cols = b.shape
    return b.reshape(n_head, rows // n_head // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def _pattern_value(patterns: dict[str, Any], module: str, default: Any) -> Any:
    """peft's rank_pattern / alpha_pattern lookup: a key matches the module's name or its end."""
    for key, value in (patterns or {}).items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def _adapter_config(adapter_dir: Path) -> dict[str, Any]:
    try:
        cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    except (OSError, ValueError) as err:
        raise FtuiError(f"cannot read {adapter_dir / 'adapter_config.json'}: {err}",
                        "point at a complete PEFT adapter folder") from err
    if not isinstance(cfg, dict):
        raise FtuiError(f"{adapter_dir / 'adapter_config.json'} is not a JSON object",
                        "point at a complete PEFT adapter folder")
    return cfg


def gguf_problems(adapter_dir: Path, base_cfg: dict[str, Any]) -> list[str]:
    """Why this adapter cannot become a GGUF LoRA that llama.cpp loads (empty when it can)."""
    problems = []
    try:
        gguf_arch(base_cfg)
    except FtuiError as err:
        problems.append(err.message)
    cfg = _adapter_config(adapter_dir)
    if cfg.get("peft_type", "LORA") != "LORA":
        problems.append(f"it is a {cfg.get('peft_type')} adapter, not LoRA")
    if cfg.get("use_dora"):
        problems.append("DoRA adapters have no GGUF form (llama.cpp applies plain LoRA only)")
    if cfg.get("modules_to_save"):
        problems.append("the adapter also saves full modules (modules_to_save), which a GGUF "
                        "LoRA cannot carry")
    if cfg.get("bias", "none") != "none":
        problems.append(f"it trains biases (bias={cfg.get('bias')!r}), which a GGUF LoRA "
                        "cannot carry")
    if cfg.get("fan_in_fan_out"):
        problems.append("fan_in_fan_out adapters (Conv1D layers) have no GGUF form")
    if not (adapter_dir / "adapter_model.safetensors").is_file():
        problems.append(f"{adapter_dir} holds no adapter_model.safetensors")
    return problems


def _tensors(adapter_dir: Path, base_cfg: dict[str, Any], cfg: dict[str, Any],
             arch: str, alpha: float, dtype) -> list[tuple[str, np.ndarray]]:
    import gguf
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    text = text_config(base_cfg)
    n_layers = int(text.get("num_hidden_layers") or 0)
    n_head = int(text.get("num_attention_heads") or 0)
    n_kv = int(text.get("num_key_value_heads") or n_head)
    if n_layers < 1 or (arch == "llama" and n_head < 1):
        raise FtuiError("the base config lacks num_hidden_layers / num_attention_heads",
                        "use the base's own config.json (a local model folder)")
    names = gguf.get_tensor_name_map(getattr(gguf.MODEL_ARCH, arch.upper()), n_layers)
    try:
        raw = load_file(adapter_dir / "adapter_model.safetensors")
    except (OSError, SafetensorError) as err:
        raise FtuiError(f"cannot read {adapter_dir / 'adapter_model.safetensors'}: {err}",
                        "train or copy the adapter again") from err
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, tensor in raw.items():
        found = _NAME.match(key)
        if not found:
            raise FtuiError(f"{key} in the adapter is not a LoRA A/B weight of a linear layer",
                            "merge it (ftui models merge ID) and deploy the merged model")
        pairs.setdefault(found["module"], {})[found["ab"]] = tensor.float().numpy()
    out = []
    for module in sorted(pairs, key=lambda m: (int(_LAYER.search(m)[1]) if _LAYER.search(m)
                                               else -1, m)):
        ab = pairs[module]
        target = names.get_name(module + ".weight", try_suffixes=(".weight",))
        layer = _LAYER.search(module)
        if target is None or layer is None or int(layer[1]) >= n_layers:
            raise FtuiError(f"{module} has no tensor in llama.cpp's {arch} architecture with "
                            f"{n_layers} layers", "adapt only the attention and MLP projections "
                            "(q/k/v/o, gate/up/down), or merge it and deploy the merged model")
        if set(ab) != {"A", "B"} or ab["A"].ndim != 2 or ab["B"].shape[1] != ab["A"].shape[0]:
            raise FtuiError(f"{module}: lora_A and lora_B are missing or do not fit together",
                            "train or copy the adapter again")
        a, b = ab["A"], ab["B"]
        rank = a.shape[0]
        short = module.rsplit(".", 1)[-1]
        peft_alpha = _pattern_value(cfg.get("alpha_pattern"), module, alpha)
        peft_rank = _pattern_value(cfg.get("rank_pattern"), module, cfg.get("r", rank))
        scale = peft_alpha / (math.sqrt(peft_rank) if cfg.get("use_rslora") else peft_rank)
        engine_scale = alpha / rank if alpha else 1.0  # llama.cpp: alpha 0 means scale 1
        if not math.isclose(scale, engine_scale, rel_tol=1e-6):
            b = b * (scale / engine_scale)
        if arch == "llama" and short in ("q_proj", "k_proj"):
            heads = n_head if short == "q_proj" else n_kv
            if b.shape[0] % (2 * heads):
                raise FtuiError(f"{module} has {b.shape[0]} rows, not a multiple of 2 x {heads} "
                                "heads: it was not trained on this base", "pass the right base")
            b = permute_rows(b, heads)
        out += [(f"{target}.lora_a", np.ascontiguousarray(a, dtype=dtype)),
                (f"{target}.lora_b", np.ascontiguousarray(b, dtype=dtype))]
    if not out:
        raise FtuiError(f"{adapter_dir} holds no LoRA weights", "train the adapter again")
    return out


def default_name(adapter_name: str, dtype: str = "f32") -> str:
    """The converter's default file name: <name>-F32-LoRA.gguf."""
    import gguf

    return gguf.naming_convention(adapter_name, None, None, None, None, dtype.upper(),
                                  model_type="LoRA") + ".gguf"


def write_gguf_adapter(adapter_dir: Path | str, out_path: Path | str, base_config: dict[str, Any],
                       *, dtype: str = "f32", name: str | None = None) -> dict[str, Any]:
    """Write the adapter in `adapter_dir` as a GGUF LoRA at `out_path` (atomically: a failure
    leaves no partial file). Returns what was written: path, architecture, alpha, tensors."""
    import gguf

    adapter_dir, out_path = Path(adapter_dir), Path(out_path)
    problems = gguf_problems(adapter_dir, base_config)
    if problems:
        raise FtuiError("cannot write it as a GGUF adapter: " + "; ".join(problems),
                        "merge it (ftui models merge ID) and deploy the merged model instead")
    if dtype not in DTYPES:
        raise FtuiError(f"unknown GGUF dtype {dtype!r}", f"use one of {', '.join(DTYPES)}")
    cfg = _adapter_config(adapter_dir)
    arch = gguf_arch(base_config)
    alpha = float(cfg.get("lora_alpha", cfg.get("r", 8)))
    tensors = _tensors(adapter_dir, base_config, cfg, arch, alpha, DTYPES[dtype])
    writer = gguf.GGUFWriter(path=None, arch=arch)  # writes general.architecture
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_name(name or adapter_dir.name)
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for tensor_name, data in tensors:
        writer.add_tensor(tensor_name, data)
    tmp = out_path.with_name(f".{out_path.name}.partial")
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        writer.write_header_to_file(path=tmp)
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out_path)
    except OSError as err:
        with contextlib.suppress(OSError, ValueError):
            writer.close()
        tmp.unlink(missing_ok=True)
        raise FtuiError(f"cannot write {out_path}: {err.strerror or err}",
                        "free some space or pass --out a writable folder") from err
    return {"path": str(out_path), "architecture": arch, "alpha": alpha, "dtype": dtype,
            "tensors": len(tensors), "bytes": out_path.stat().st_size}


def export_gguf(store, ref: int | str, *, home: Path, out_dir: Path | None = None,
                dtype: str = "f32") -> dict[str, Any]:
    """`ftui models export ID --gguf`: the registered adapter as a GGUF LoRA, by default next
    to the adapter (where llama.cpp's converter puts it)."""
    from ftui.registry import get_model
    from ftui.registry.deploy import base_config
    from ftui.registry.merge import slug
    from ftui.train.base import adapter_base

    model = get_model(store, ref)
    if model.kind != "adapter":
        raise FtuiError(f"{model.name} is a {model.kind} model, not a LoRA adapter",
                        "export an adapter; a merged model converts with llama.cpp's "
                        "convert_hf_to_gguf.py")
    folder = Path(model.path or "")
    if not (folder / "adapter_config.json").is_file():
        raise FtuiError(f"the adapter files of {model.name} are not at {folder}",
                        "run this where the run's files are (or a shared $FTUI_HOME/runs)")
    base = model.base_model or adapter_base(folder, home)
    if not base:
        raise FtuiError(f"ftui does not know the base of {model.name}",
                        "register it again with --base")
    out = Path(out_dir) if out_dir else folder
    result = write_gguf_adapter(folder, out / default_name(slug(model.name), dtype),
                                base_config(base, home), dtype=dtype, name=model.name)
    return {"id": model.id, "name": model.name, "base": base, **result}
