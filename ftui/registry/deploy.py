"""Deploy a registered model to Ollama through its HTTP API (the `ollama create` command line
cannot import a PEFT folder).

- adapter: upload adapter_model.safetensors + adapter_config.json as blobs, then
  create(model=, from_=<the base as Ollama knows it>, adapters={file: digest}). Ollama converts
  safetensors adapters only for llama (mistral bases are llama in Ollama) and gemma2 bases; on
  any other base ftui writes the adapter as one GGUF LoRA (ftui/registry/gguf.py, what
  llama.cpp's converter writes) and uploads that: adapters={name.gguf: digest}.
- merged / hf folder: upload config, tokenizer files and weights, then create(files=...,
  quantize=...); the chat template comes from tokenizer_config.json, and for ChatML models ftui
  also passes it as an Ollama template so nothing depends on Ollama recognising the Jinja.
- gguf: upload the file, create(files={name: digest}).

Stop tokens are always set (the tokenizer's end-of-turn token): a model without them can talk
past its turn. What Ollama cannot import is refused before anything is uploaded.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ftui.errors import FtuiError
from ftui.registry.merge import slug
from ftui.store import RegisteredModel, Store

ADAPTER_ARCHS = ("llama", "gemma2")
ADAPTER_TARGETS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
SMOKE_PROMPT = "Say hello in one short sentence."
CHATML_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n")

OnLine = Callable[[str], None]


def digest_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise FtuiError(f"cannot read {path}: {err}", "check the model files are complete") from err


def base_config(base_model: str, home: Path) -> dict[str, Any]:
    from ftui.train.base import resolve_base

    where, extra = resolve_base(base_model, home)
    if extra.get("gguf"):
        return _gguf_base_config(Path(where))
    cfg = Path(where) / "config.json"
    if not cfg.is_file():
        raise FtuiError(f"cannot check the base {base_model!r}: no config.json found locally",
                        "use a local base model folder")
    return _read_json(cfg)


def _gguf_base_config(path: Path) -> dict[str, Any]:
    """The config.json fields ftui uses, from a GGUF base's own metadata."""
    import gguf

    try:
        fields = gguf.GGUFReader(path).fields
    except (OSError, ValueError, KeyError, IndexError) as err:  # gguf-py's errors on bad files
        raise FtuiError(f"cannot read the GGUF base {path}: {err}", "check the file") from err

    def value(key: str) -> Any:
        field = fields.get(key)
        return field.contents() if field is not None else None

    arch = value("general.architecture") or "llama"
    return {"model_type": arch, "hidden_size": value(f"{arch}.embedding_length"),
            "num_hidden_layers": value(f"{arch}.block_count"),
            "num_attention_heads": value(f"{arch}.attention.head_count"),
            "num_key_value_heads": value(f"{arch}.attention.head_count_kv")}


def ollama_converts(base_cfg: dict[str, Any]) -> bool:
    """Whether Ollama converts a safetensors adapter on this base (else ftui sends GGUF)."""
    arch = {**base_cfg, **(base_cfg.get("text_config") or {})}.get("model_type")
    return ARCH_ALIASES.get(arch, arch) in ADAPTER_ARCHS


def adapter_problems(adapter_dir: Path, base_cfg: dict[str, Any]) -> list[str]:
    """Why Ollama would refuse this safetensors adapter (empty when it can import it)."""
    problems = []
    cfg = _read_json(adapter_dir / "adapter_config.json")
    arch = base_cfg.get("model_type")
    if not ollama_converts(base_cfg):
        problems.append(f"the base architecture is {arch!r}; Ollama converts safetensors adapters "
                        f"only for {' and '.join(ADAPTER_ARCHS)}: merge it and deploy the merged "
                        "model instead")
    targets = cfg.get("target_modules") or []
    targets = [targets] if isinstance(targets, str) else list(targets)
    odd = sorted(set(targets) - ADAPTER_TARGETS)
    if odd:
        problems.append(f"target modules {', '.join(odd)} are not among the ones Ollama imports "
                        f"({', '.join(sorted(ADAPTER_TARGETS))}): merge it instead")
    if cfg.get("use_dora"):
        problems.append("DoRA adapters cannot be imported by Ollama: merge it instead")
    if cfg.get("modules_to_save"):
        problems.append("the adapter also saves full modules (modules_to_save), which Ollama "
                        "cannot import: merge it instead")
    if not (adapter_dir / "adapter_model.safetensors").is_file():
        problems.append(f"{adapter_dir} holds no adapter_model.safetensors")
    return problems


def ollama_base_of(base_model: str | None, given: str | None) -> str:
    from ftui.train.base import DEMO_OLLAMA

    if given:
        return given
    if base_model == "demo":
        return DEMO_OLLAMA
    raise FtuiError(f"ftui does not know the Ollama name of the base {base_model!r}",
                    "pass --from NAME:TAG, the same model as pulled in Ollama "
                    "(e.g. llama3.2:3b)")


def blob_present(host: str, digest: str, timeout_s: float = 30.0) -> bool:
    """Whether Ollama holds the blob already: `HEAD /api/blobs/<digest>` answers 200. The ollama
    client has no public call for it (its create_blob always uploads), so ask over plain HTTP."""
    import httpx

    base = host if "://" in host else f"http://{host}"
    return httpx.head(f"{base.rstrip('/')}/api/blobs/{digest}", timeout=timeout_s).status_code == 200


def _upload(client, host: str, path: Path, on_line: OnLine) -> str:
    """Upload one blob unless Ollama has it already (HEAD first: weights are large)."""
    digest = digest_of(path)
    if blob_present(host, digest):
        on_line(f"blob {path.name}: already in Ollama")
        return digest
    on_line(f"uploading {path.name} ({path.stat().st_size / 1e6:.1f} MB)")
    got = client.create_blob(path)
    if got != digest:
        raise FtuiError(f"{path.name} changed while uploading", "deploy again")
    return digest


def _stop_tokens(tok_cfg: dict[str, Any]) -> list[str]:
    stops = []
    eos = tok_cfg.get("eos_token")
    if isinstance(eos, dict):
        eos = eos.get("content")
    if eos:
        stops.append(eos)
    if "<|im_end|>" in (tok_cfg.get("chat_template") or "") and "<|im_end|>" not in stops:
        stops.append("<|im_end|>")
    return stops


def plan_deploy(model: RegisteredModel, home: Path, ollama_base: str | None,
                quantize: str | None) -> dict[str, Any]:
    """What will be uploaded and created, checked up front (nothing is sent yet)."""
    if model.kind == "ollama":
        raise FtuiError(f"{model.name} is an Ollama model already ({model.ollama_name})",
                        "nothing to deploy: use it as is")
    if model.kind == "adapter":
        folder = Path(model.path or "")
        from ftui.train.base import adapter_base

        base_cfg = base_config(model.base_model or adapter_base(folder, home) or "", home)
        as_gguf = not ollama_converts(base_cfg)
        if as_gguf:  # Ollama loads a GGUF LoRA on any base llama.cpp knows
            from ftui.registry.gguf import gguf_problems

            problems = gguf_problems(folder, base_cfg)
        else:
            problems = adapter_problems(folder, base_cfg)
        if problems:
            raise FtuiError(f"Ollama cannot import {model.name}: " + "; ".join(problems),
                            f"run: ftui models merge {model.id}, then deploy the merged model")
        tok_cfg = _read_json(folder / "tokenizer_config.json") \
            if (folder / "tokenizer_config.json").is_file() else {}
        files = [] if as_gguf else [folder / "adapter_model.safetensors",
                                    folder / "adapter_config.json"]
        return {"mode": "adapter", "from": ollama_base_of(model.base_model, ollama_base),
                "files": files, "gguf_from": folder if as_gguf else None,
                "stop": _stop_tokens(tok_cfg), "template": None, "quantize": None,
                "base_config": base_cfg}
    if model.kind == "gguf":
        path = Path(model.path or "")
        return {"mode": "merged", "from": None, "files": [path], "stop": [], "template": None,
                "quantize": None}
    folder = Path(model.path or "")
    weights = sorted(folder.glob("model*.safetensors"))
    if not weights:
        raise FtuiError(f"{folder} holds no model*.safetensors", "merge the adapter again")
    tok_cfg = _read_json(folder / "tokenizer_config.json")
    if not tok_cfg.get("chat_template"):
        raise FtuiError(f"{folder}/tokenizer_config.json has no chat_template: Ollama would "
                        "answer without a template and never stop",
                        "merge again with ftui (it writes the template there)")
    names = ["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
             "special_tokens_map.json", "model.safetensors.index.json"]
    files = [folder / n for n in names if (folder / n).is_file()] + weights
    if not (folder / "tokenizer.json").is_file():
        raise FtuiError(f"{folder} holds no tokenizer.json", "save the fast tokenizer with it")
    chatml = "<|im_start|>" in tok_cfg["chat_template"]
    return {"mode": "merged", "from": None, "files": files, "stop": _stop_tokens(tok_cfg),
            "template": CHATML_TEMPLATE if chatml else None, "quantize": quantize}


ARCH_ALIASES = {"mistral": "llama"}  # Ollama imports these under the llama architecture


def _shape(arch: Any, width: Any, layers: Any, width_name: str) -> str:
    return f"{arch or '?'}, {width_name} {width or '?'}, {layers or '?'} layers"


def check_base_fits(base_model: str, base_cfg: dict[str, Any], ollama_name: str,
                    model_info: dict[str, Any] | None) -> None:
    """Refuse an Ollama base whose architecture, width or depth differs from the base the
    adapter was trained on (a real Ollama would create the model and fail when it loads)."""
    info = model_info or {}
    arch = info.get("general.architecture")
    if not arch:
        return  # an Ollama that does not report it: nothing to compare
    cfg = {**(base_cfg.get("text_config") or {}), **base_cfg}
    model_type = cfg.get("model_type")
    ours = (ARCH_ALIASES.get(model_type, model_type), cfg.get("hidden_size"),
            cfg.get("num_hidden_layers"))
    theirs = (arch, info.get(f"{arch}.embedding_length"), info.get(f"{arch}.block_count"))
    if all(a is None or b is None or a == b for a, b in zip(ours, theirs, strict=True)):
        return
    raise FtuiError(
        f"the adapter was trained on {base_model} ({_shape(*ours, 'hidden size')}), but "
        f"Ollama's {ollama_name} is {_shape(*theirs, 'embedding length')}: it does not fit",
        "pass --from the Ollama model of the very base it was trained on (for demo: "
        f"{_demo_ollama()}), or merge it and deploy the merged model")


def _write_gguf(model: RegisteredModel, plan: dict[str, Any], scratch: Path,
                on_line: OnLine) -> Path:
    """The adapter as one GGUF LoRA in `scratch` (the same bytes each time, so a second deploy
    finds the blob in Ollama already)."""
    from ftui.registry.gguf import default_name, write_gguf_adapter

    path = scratch / default_name(slug(model.name))
    on_line(f"writing the adapter as GGUF ({path.name}): Ollama converts safetensors adapters "
            "only for llama and gemma2 bases")
    write_gguf_adapter(plan["gguf_from"], path, plan["base_config"], name=model.name)
    return path


def _demo_ollama() -> str:
    from ftui.train.base import DEMO_OLLAMA

    return DEMO_OLLAMA


def _record(store: Store, model_id: int, deployed: dict[str, Any], action: str,
            note: str) -> None:
    from ftui.registry import _event

    with store.session() as s:
        row = s.get(RegisteredModel, model_id)
        row.ollama_name = deployed["ollama_name"]
        metrics = row.metrics
        metrics["deployed"] = deployed
        row.metrics_json = json.dumps(metrics)
        _event(s, row, action, note=note)
        s.commit()


def deploy(store: Store, ref: int | str, *, home: Path, host: str, name: str | None = None,
           ollama_base: str | None = None, quantize: str | None = None,
           smoke_prompt: str | None = SMOKE_PROMPT, on_line: OnLine | None = None,
           timeout_s: float = 600.0) -> dict[str, Any]:
    """Create the model in Ollama, then ask it one smoke prompt. The create and the smoke result
    are recorded apart: a model Ollama created but that does not answer is not "deployed"
    (smoke_ok False, smoke_error says why); that is returned, not raised."""
    import httpx
    import ollama

    from ftui.inference import _ollama_error, ollama_generate
    from ftui.registry import get_model

    say = on_line or (lambda _line: None)
    model = get_model(store, ref)
    from ftui.train.runs import require_model_files

    require_model_files(store, model, "deploy")  # trained on another machine: say where
    plan = plan_deploy(model, Path(home), ollama_base, quantize)
    target = name or f"ftui-{slug(model.name)}"
    client = ollama.Client(host=host, timeout=timeout_s)
    progress: list[str] = []
    scratch = tempfile.TemporaryDirectory(prefix="ftui-deploy-")
    try:
        if plan["from"]:  # before uploading: the base must be in Ollama, and be the right one
            shown = client.show(plan["from"])
            check_base_fits(model.base_model or "?", plan["base_config"], plan["from"],
                            shown.modelinfo)
        if plan.get("gguf_from"):
            plan["files"] = [_write_gguf(model, plan, Path(scratch.name), say)]
        blobs = {p.name: _upload(client, host, p, say) for p in plan["files"]}
        request: dict[str, Any] = {"model": target, "stream": True}
        if plan["mode"] == "adapter":
            request.update(from_=plan["from"], adapters=blobs)
        else:
            request.update(files=blobs, quantize=plan["quantize"], template=plan["template"])
        if plan["stop"]:
            request["parameters"] = {"stop": plan["stop"]}
        for line in client.create(**{k: v for k, v in request.items() if v is not None}):
            text = line.status or ""
            if text and (not progress or progress[-1] != text):
                progress.append(text)
                say(text)
    except (ollama.ResponseError, httpx.HTTPError, ConnectionError, TimeoutError) as err:
        if isinstance(err, ollama.ResponseError) and err.status_code == 404 and plan["from"]:
            raise FtuiError(f"Ollama has no base model {plan['from']!r} to put the adapter on",
                            f"pull it first: ollama pull {plan['from']}") from err
        raise _ollama_error(err, target, host) from err
    finally:
        scratch.cleanup()
    adapter_format = ("gguf" if plan.get("gguf_from") else "safetensors") \
        if plan["mode"] == "adapter" else None
    deployed: dict[str, Any] = {"ollama_name": target, "mode": plan["mode"], "from": plan["from"],
                                "adapter_format": adapter_format,
                                "host": host, "smoke_ok": None, "smoke_error": None,
                                "smoke_reply": None}
    on_base = f" on {plan['from']}" if plan["from"] else ""
    _record(store, model.id, deployed, "created",
            f"in Ollama as {target} ({plan['mode']}"
            f"{', GGUF' if adapter_format == 'gguf' else ''}{on_base})")
    if smoke_prompt:
        say(f"smoke test: {smoke_prompt}")
        try:
            reply = ollama_generate(host, target, [{"role": "user", "content": smoke_prompt}],
                                    options={"num_predict": 64}, timeout_s=timeout_s).text
            deployed.update(smoke_ok=bool(reply.strip()), smoke_reply=reply,
                            smoke_error=None if reply.strip() else "it answered with nothing")
        except FtuiError as err:
            deployed.update(smoke_ok=False, smoke_error=err.message)
        say(f"answer: {deployed['smoke_reply']}" if deployed["smoke_ok"]
            else f"smoke test failed: {deployed['smoke_error']}")
        _record(store, model.id, deployed, "smoke-ok" if deployed["smoke_ok"] else "smoke-failed",
                f"answered {deployed['smoke_reply'][:60]!r}" if deployed["smoke_ok"]
                else deployed["smoke_error"])
    return {"ollama_name": target, "mode": plan["mode"], "smoke_reply": deployed["smoke_reply"],
            "smoke_ok": deployed["smoke_ok"], "smoke_error": deployed["smoke_error"],
            "blobs": blobs, "progress": progress, "from": plan["from"],
            "adapter_format": adapter_format}
