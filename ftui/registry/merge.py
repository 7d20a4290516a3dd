"""Merge an adapter into its base: a standalone transformers model (safetensors weights, the
tokenizer, the chat template inside tokenizer_config.json, which is where Ollama reads it)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ftui.errors import FtuiError
from ftui.store import RegisteredModel, Store

DTYPES = ("auto", "fp32", "bf16", "fp16")


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.") or "model"


def merge_adapter(store: Store, ref: int | str, *, home: Path, out_dir: Path | None = None,
                  name: str | None = None, dtype: str = "auto") -> RegisteredModel:
    """Write base + adapter as one model and register it (kind merged, same lineage)."""
    import torch
    from peft import PeftModel

    from ftui.registry import add_model, check_name_free, get_model
    from ftui.train.base import load_base

    source = get_model(store, ref)
    if source.kind != "adapter":
        raise FtuiError(f"{source.name} is a {source.kind} model, not an adapter",
                        "merge applies to adapters (trained runs)")
    from ftui.train.base import adapter_base

    base_name = source.base_model or adapter_base(source.path or "", Path(home))
    if not base_name:
        raise FtuiError(f"adapter {source.name} has no base model recorded",
                        "register it again with --base")
    if dtype not in DTYPES:
        raise FtuiError(f"unknown dtype {dtype!r}", f"use one of {', '.join(DTYPES)}")
    if not Path(source.path or "", "adapter_config.json").is_file():
        raise FtuiError(f"the adapter files of {source.name} are gone ({source.path})",
                        "train it again, or delete the registry entry")
    name = name or f"{source.name}-merged"
    check_name_free(store, name)
    out = Path(out_dir or Path(home) / "merged" / slug(name)).expanduser()
    if out.exists() and any(out.iterdir()):
        raise FtuiError(f"{out} exists and is not empty", "pass another --out, or remove it")

    tok, base = load_base(base_name, Path(home))
    merged = PeftModel.from_pretrained(base, source.path).merge_and_unload()
    if dtype == "auto":
        # keep the precision the base was published in (fp32 when it does not say)
        wanted = getattr(base.config, "dtype", None)
        dtype = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(wanted, "fp32")
    merged = merged.to({"fp32": torch.float32, "bf16": torch.bfloat16,
                        "fp16": torch.float16}[dtype])
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    tok.save_pretrained(out, save_jinja_files=False)
    config = json.loads((out / "tokenizer_config.json").read_text())
    if not config.get("chat_template"):
        raise FtuiError(f"the merged tokenizer in {out} lost its chat template",
                        "report this: the tokenizer did not save it into tokenizer_config.json")
    model = RegisteredModel(
        name=name, kind="merged", base_model=base_name, path=str(out.resolve()),
        run_id=source.run_id, dataset_id=source.dataset_id, dataset_hash=source.dataset_hash,
        slot=source.slot, params_json=source.params_json,
        metrics_json=json.dumps({k: v for k, v in source.metrics.items()
                                 if k not in ("eval", "eval_loss", "deployed")}),
        notes=f"merged from {source.name} (#{source.id}), {dtype}")
    return add_model(store, model, f"merged from {source.name}")
