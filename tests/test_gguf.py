"""GGUF LoRA adapters (ftui/registry/gguf.py): files read back with gguf-py's own GGUFReader
carry llama.cpp's converter metadata and tensor names, and every LoRA delta B.A.scale equals
peft's, per layer and projection, after undoing llama.cpp's q/k row permutation on llama bases.
Bases are tiny random models built in-process (hidden 64, 2 layers, 4 heads, 2 KV heads, so
k_proj's permutation differs from q_proj's); `tiny` itself is ftui's llama."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from ollama_standin import StandIn

from ftui import registry
from ftui.cli import main
from ftui.errors import FtuiError
from ftui.registry.deploy import deploy
from ftui.registry.gguf import unpermute_rows, write_gguf_adapter
from ftui.train.base import resolve_base

SHAPE = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=128, max_position_embeddings=256,
             pad_token_id=0, bos_token_id=1, eos_token_id=2)
ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# what llama.cpp calls each Hugging Face projection (its tensor_mapping.py)
GGUF_NAMES = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
              "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down",
              "qkv_proj": "attn_qkv", "gate_up_proj": "ffn_up"}


def tiny_base(model_type: str, folder: Path | None = None):
    import transformers

    classes = {"llama": "Llama", "qwen2": "Qwen2", "mistral": "Mistral", "gemma2": "Gemma2",
               "phi3": "Phi3", "qwen3": "Qwen3"}
    config = getattr(transformers, f"{classes[model_type]}Config")(
        **SHAPE, **({"head_dim": 16} if model_type in ("gemma2", "qwen3") else {}))
    torch.manual_seed(0)
    model = getattr(transformers, f"{classes[model_type]}ForCausalLM")(config)
    if folder:
        model.save_pretrained(folder)
    return model


def lora_on(model, folder: Path, targets: list[str], seed: int = 1, **extra):
    """A peft LoRA with random non-zero B (peft starts B at zero: the deltas would be 0)."""
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=targets,
                                                  **extra))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.1)
    peft_model.save_pretrained(folder)
    return peft_model


def peft_deltas(peft_model) -> dict[tuple[int, str], np.ndarray]:
    """(layer, projection) -> the delta peft adds to the weight (its own get_delta_weight)."""
    from peft.tuners.lora import LoraLayer

    out = {}
    for name, module in peft_model.named_modules():
        if isinstance(module, LoraLayer) and "default" in module.lora_A:
            layer = int(name.split(".layers.")[1].split(".")[0])
            out[(layer, name.rsplit(".", 1)[-1])] = module.get_delta_weight(
                "default").detach().float().numpy()
    return out


def read_back(path: Path):
    reader = gguf.GGUFReader(path)
    meta = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    types = {k: f.types[0] for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    tensors = {t.name: t for t in reader.tensors}
    return meta, types, tensors


def gguf_deltas(tensors, alpha: float, arch: str, heads: tuple[int, int], permuted=True):
    out = {}
    for name, t in tensors.items():
        if not name.endswith(".lora_a"):
            continue
        stem = name[: -len(".lora_a")]
        a = np.asarray(t.data, dtype=np.float32)
        b = np.asarray(tensors[stem + ".lora_b"].data, dtype=np.float32)
        layer, kind = int(stem.split(".")[1]), stem.split(".")[2]
        if arch == "llama" and permuted and kind in ("attn_q", "attn_k"):
            b = unpermute_rows(b, heads[0] if kind == "attn_q" else heads[1])
        out[(layer, kind)] = b @ a * (alpha / a.shape[0])
    return out


# A llama.cpp source tree (a checkout, or vendor/llama.cpp in llama-cpp-python's sdist): where
# set, ftui's file is compared with the one llama.cpp's own convert_lora_to_gguf.py writes.
LLAMA_CPP = os.environ.get("FTUI_LLAMA_CPP")

ARCH_CASES = [("llama", "llama", ALL), ("mistral", "llama", ALL), ("qwen2", "qwen2", ALL),
              ("qwen3", "qwen3", ALL), ("gemma2", "gemma2", ALL),
              ("phi3", "phi3", ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])]


@pytest.mark.parametrize(("model_type", "arch", "targets"), ARCH_CASES,
                         ids=[c[0] for c in ARCH_CASES])
def test_metadata_names_and_every_delta_match_peft(tmp_path, model_type, arch, targets):
    model = tiny_base(model_type)
    peft_model = lora_on(model, tmp_path / "adapter", targets)
    out = write_gguf_adapter(tmp_path / "adapter", tmp_path / "a.gguf", model.config.to_dict(),
                             name="my adapter")
    meta, types, tensors = read_back(tmp_path / "a.gguf")
    assert meta["general.architecture"] == arch == out["architecture"]
    assert meta["general.type"] == "adapter" and meta["adapter.type"] == "lora"
    assert meta["general.name"] == "my adapter"
    assert meta["adapter.lora.alpha"] == 16.0
    assert types["adapter.lora.alpha"] == gguf.GGUFValueType.FLOAT32
    assert meta["general.quantization_version"] == gguf.GGML_QUANT_VERSION
    expected = {f"blk.{i}.{GGUF_NAMES[t]}.weight.lora_{ab}" for i in range(2) for t in targets
                for ab in "ab"}
    assert set(tensors) == expected and out["tensors"] == len(expected)
    for name, t in tensors.items():  # f32 (the converter's default), GGUF's reversed dims
        assert t.tensor_type == gguf.GGMLQuantizationType.F32
        a_name = name.replace("lora_b", "lora_a")
        if name.endswith("lora_a"):
            assert list(t.shape) == [t.data.shape[1], 8]  # ne = [in, r]
        else:
            assert list(t.shape) == [8, t.data.shape[0]]  # ne = [r, out]
            assert tensors[a_name].shape[1] == t.shape[0]  # llama.cpp: a->ne[1] == b->ne[0]
    ours = gguf_deltas(tensors, 16.0, arch, (4, 2))
    theirs = peft_deltas(peft_model)
    assert len(ours) == len(theirs) == 2 * len(targets)
    for (layer, proj), delta in theirs.items():
        assert np.abs(delta).max() > 1e-3  # non-trivial
        np.testing.assert_allclose(ours[(layer, GGUF_NAMES[proj])], delta, atol=1e-6, rtol=1e-5)
    if arch == "llama":  # the rows really were permuted: read as is, q and k differ from peft
        raw = gguf_deltas(tensors, 16.0, arch, (4, 2), permuted=False)
        for proj in ("q_proj", "k_proj"):
            assert not np.allclose(raw[(0, GGUF_NAMES[proj])], theirs[(0, proj)], atol=1e-4)


def test_tiny_f16_rslora_and_patterns_fold_into_lora_b(tmp_path, home):
    """ftui's `tiny` (a llama); f16 on request; rsLoRA and per-module rank / alpha patterns are
    scaled the way peft scales them although llama.cpp only knows alpha / r."""
    from transformers import AutoModelForCausalLM

    where, _ = resolve_base("tiny", home)
    model = AutoModelForCausalLM.from_pretrained(where)
    peft_model = lora_on(model, tmp_path / "adapter", ALL, use_rslora=True,
                         rank_pattern={"down_proj": 4}, alpha_pattern={"v_proj": 5})
    write_gguf_adapter(tmp_path / "adapter", tmp_path / "a.gguf", model.config.to_dict(),
                       dtype="f16")
    meta, _, tensors = read_back(tmp_path / "a.gguf")
    assert meta["general.architecture"] == "llama" and meta["adapter.lora.alpha"] == 16.0
    assert {t.tensor_type for t in tensors.values()} == {gguf.GGMLQuantizationType.F16}
    assert tensors["blk.0.ffn_down.weight.lora_a"].shape[1] == 4  # its own rank
    ours = gguf_deltas(tensors, 16.0, "llama", (4, 2))
    for (layer, proj), delta in peft_deltas(peft_model).items():
        np.testing.assert_allclose(ours[(layer, GGUF_NAMES[proj])], delta, atol=2e-3,
                                   rtol=1e-2)  # fp16 tolerance


def test_writing_twice_gives_the_same_bytes(tmp_path):
    """Deploy relies on it: the same adapter is the same blob, not uploaded again."""
    model = tiny_base("qwen2")
    lora_on(model, tmp_path / "adapter", ["q_proj", "v_proj"])
    for name in ("one.gguf", "two.gguf"):
        write_gguf_adapter(tmp_path / "adapter", tmp_path / name, model.config.to_dict())
    assert (tmp_path / "one.gguf").read_bytes() == (tmp_path / "two.gguf").read_bytes()


def _copy_with(adapter: Path, dest: Path, **config) -> Path:
    dest.mkdir()
    for f in adapter.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((dest / "adapter_config.json").read_text())
    cfg.update(config)
    (dest / "adapter_config.json").write_text(json.dumps(cfg))
    return dest


def test_hostile_adapters_are_refused_with_a_fix_and_no_file(tmp_path):
    model = tiny_base("qwen2")
    cfg = model.config.to_dict()
    adapter = tmp_path / "adapter"
    lora_on(model, adapter, ["q_proj", "v_proj"])
    cases = {
        "dora": (_copy_with(adapter, tmp_path / "dora", use_dora=True), cfg, "DoRA"),
        "saves": (_copy_with(adapter, tmp_path / "saves", modules_to_save=["lm_head"]), cfg,
                  "modules_to_save"),
        "bias": (_copy_with(adapter, tmp_path / "bias", bias="all"), cfg, "biases"),
        "ia3": (_copy_with(adapter, tmp_path / "ia3", peft_type="IA3"), cfg, "IA3"),
        "arch": (adapter, {**cfg, "model_type": "gpt2"}, "'gpt2'"),
        "fewer layers": (adapter, {**cfg, "num_hidden_layers": 1}, "1 layers"),
        "heads": (adapter, {**cfg, "model_type": "llama", "num_attention_heads": 3}, "3 heads"),
    }
    broken = _copy_with(adapter, tmp_path / "broken")
    (broken / "adapter_model.safetensors").write_bytes(b"\x00garbage")
    cases["garbage"] = (broken, cfg, "cannot read")
    no_json = _copy_with(adapter, tmp_path / "nojson")
    (no_json / "adapter_config.json").write_text("[1, 2")
    cases["bad json"] = (no_json, cfg, "adapter_config.json")
    embed = tmp_path / "embed"
    lora_on(tiny_base("qwen2"), embed, ["q_proj", "embed_tokens"])
    cases["embedding"] = (embed, cfg, "embed_tokens")
    for label, (folder, base_cfg, words) in cases.items():
        with pytest.raises(FtuiError) as err:
            write_gguf_adapter(folder, tmp_path / f"{label}.gguf", base_cfg)
        assert words in err.value.message, label
        assert err.value.hint, label
        assert not list(tmp_path.glob(f"*{label}.gguf*")), label


def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    model = tiny_base("qwen2")
    lora_on(model, tmp_path / "adapter", ["q_proj"])

    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", full_disk)
    with pytest.raises(FtuiError, match="No space left") as err:
        write_gguf_adapter(tmp_path / "adapter", tmp_path / "out" / "a.gguf",
                           model.config.to_dict())
    assert "--out" in err.value.hint
    assert list((tmp_path / "out").iterdir()) == []


QWEN_IN_OLLAMA = "qwen-tiny:latest"
QWEN_INFO = {"general.architecture": "qwen2", "qwen2.embedding_length": 64,
             "qwen2.block_count": 2}


@pytest.fixture
def qwen_world(tmp_path, store, home):
    base = tmp_path / "qwen-base"
    model = tiny_base("qwen2", base)
    adapter = tmp_path / "qwen-adapter"
    peft_model = lora_on(model, adapter, ALL)
    registered = registry.register(store, kind="adapter", name="qwen lora", path=str(adapter),
                                   base_model=str(base))
    return store, home, registered, peft_model


def test_deploy_on_a_qwen2_base_goes_through_one_gguf_adapter(qwen_world):
    store, home, adapter, peft_model = qwen_world
    lines: list[str] = []
    with StandIn(models={QWEN_IN_OLLAMA: "base"}, model_info={QWEN_IN_OLLAMA: QWEN_INFO}) as s:
        out = deploy(store, adapter.id, home=home, host=s.url, ollama_base=QWEN_IN_OLLAMA,
                     on_line=lines.append)
        create = next(b for m, p, b in s.requests if p == "/api/create")
        assert create["from"] == QWEN_IN_OLLAMA and "files" not in create
        assert list(create["adapters"]) == ["qwen-lora-F32-LoRA.gguf"]
        assert set(s.blobs) == set(create["adapters"].values())  # one blob: the GGUF file
        blob = home / "uploaded.gguf"  # what Ollama received, read back as a file
        blob.write_bytes(s.blobs[create["adapters"]["qwen-lora-F32-LoRA.gguf"]])
        meta, _, tensors = read_back(blob)
        assert meta["general.type"] == "adapter" and meta["general.architecture"] == "qwen2"
        ours = gguf_deltas(tensors, 16.0, "qwen2", (4, 2))
        for (layer, proj), delta in peft_deltas(peft_model).items():
            np.testing.assert_allclose(ours[(layer, GGUF_NAMES[proj])], delta, atol=1e-6)
        assert out["adapter_format"] == "gguf" and out["smoke_ok"] is True
        assert any("writing the adapter as GGUF" in line for line in lines)
        posts = sum(1 for m, p, _ in s.requests if m == "POST" and "/blobs/" in p)
        deploy(store, adapter.id, home=home, host=s.url, ollama_base=QWEN_IN_OLLAMA,
               smoke_prompt=None)  # the same bytes: Ollama has the blob, nothing re-sent
        assert posts == sum(1 for m, p, _ in s.requests if m == "POST" and "/blobs/" in p)
    history = registry.history(store, adapter.id)
    assert "GGUF" in next(e.note for e in history if e.action == "created")


def test_the_stand_in_refuses_what_ollama_refuses(qwen_world):
    """The stand-in is honest about the limit this works around: safetensors on a qwen2 base is
    refused, and a GGUF adapter of another architecture does not load."""
    import ollama

    store, home, adapter, _ = qwen_world
    folder = Path(adapter.path)
    with StandIn(models={QWEN_IN_OLLAMA: "base", "llama-base:1": "b"},
                 model_info={QWEN_IN_OLLAMA: QWEN_INFO,
                             "llama-base:1": {"general.architecture": "llama"}}) as s:
        client = ollama.Client(host=s.url)
        digest = client.create_blob(folder / "adapter_model.safetensors")
        with pytest.raises(ollama.ResponseError, match="unsupported architecture"):
            list(client.create(model="x", from_=QWEN_IN_OLLAMA, stream=True,
                               adapters={"adapter_model.safetensors": digest}))
        gguf_file = write_gguf_adapter(folder, home / "q.gguf", tiny_base("qwen2").config
                                       .to_dict())["path"]
        digest = client.create_blob(gguf_file)
        list(client.create(model="y", from_="llama-base:1", stream=True,
                           adapters={"q.gguf": digest}))  # created, but llama.cpp won't load it
        with pytest.raises(ollama.ResponseError):
            client.chat(model="y", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(FtuiError, match="does not fit"):  # ftui says so before uploading
            deploy(store, adapter.id, home=home, host=s.url, ollama_base="llama-base:1")


def test_cli_export_gguf(qwen_world, capsys, monkeypatch, tmp_path):
    store, home, adapter, _ = qwen_world
    monkeypatch.setenv("FTUI_HOME", str(home))
    code = main(["--db", store.url, "models", "export", str(adapter.id), "--gguf",
                 "--out", str(tmp_path / "exports"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and Path(out["path"]).parent == tmp_path / "exports"
    assert read_back(Path(out["path"]))[0]["general.architecture"] == "qwen2"
    code = main(["--db", store.url, "models", "export", str(adapter.id), "--gguf"])
    text = capsys.readouterr().out
    assert code == 0 and "--lora" in text
    assert (Path(adapter.path) / "qwen-lora-F32-LoRA.gguf").is_file()  # converter's default
    ollama_model = registry.register(store, kind="ollama", name="o", ollama_name="x:1")
    code = main(["--db", store.url, "models", "export", str(ollama_model.id), "--gguf"])
    err = capsys.readouterr().err
    assert code == 2 and "not a LoRA adapter" in err and "fix:" in err


def test_a_mistral_adapter_goes_to_ollama_as_safetensors(tmp_path, store, home):
    """Ollama documents Mistral adapters as supported: its converter keys on the base's GGUF
    architecture, and Ollama's Mistral 7B is a `llama` model, so ftui no longer refuses it."""
    base = tmp_path / "mistral-base"
    lora_on(tiny_base("mistral", base), tmp_path / "adapter", ALL)
    model = registry.register(store, kind="adapter", name="m", path=str(tmp_path / "adapter"),
                              base_model=str(base))
    info = {"mistral:tiny": {"general.architecture": "llama", "llama.embedding_length": 64,
                             "llama.block_count": 2}}
    with StandIn(models={"mistral:tiny": "b"}, model_info=info) as s:
        out = deploy(store, model.id, home=home, host=s.url, ollama_base="mistral:tiny")
        create = next(b for m, p, b in s.requests if p == "/api/create")
    assert set(create["adapters"]) == {"adapter_model.safetensors", "adapter_config.json"}
    assert out["adapter_format"] == "safetensors" and out["smoke_ok"] is True


def test_a_gguf_base_gives_its_shape_from_its_own_metadata(tmp_path, home):
    from ftui.registry.deploy import base_config

    writer = gguf.GGUFWriter(tmp_path / "base.gguf", "qwen2")
    writer.add_block_count(2)
    writer.add_embedding_length(64)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_tensor("token_embd.weight", np.zeros((8, 64), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    cfg = base_config(str(tmp_path / "base.gguf"), home)
    assert cfg == {"model_type": "qwen2", "hidden_size": 64, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 2}


@pytest.mark.skipif(not LLAMA_CPP, reason="set FTUI_LLAMA_CPP to a llama.cpp source tree to "
                    "compare with its own converter")
@pytest.mark.parametrize(("model_type", "arch", "targets"), ARCH_CASES,
                         ids=[c[0] for c in ARCH_CASES])
def test_the_same_file_as_llama_cpps_own_converter(tmp_path, model_type, arch, targets):
    model = tiny_base(model_type, tmp_path / "base")
    lora_on(model, tmp_path / "adapter", targets)
    write_gguf_adapter(tmp_path / "adapter", tmp_path / "ours.gguf", model.config.to_dict())
    subprocess.run([sys.executable, str(Path(LLAMA_CPP) / "convert_lora_to_gguf.py"), "--base",
                    str(tmp_path / "base"), "--outfile", str(tmp_path / "theirs.gguf"),
                    str(tmp_path / "adapter")], check=True, capture_output=True, timeout=300)
    ours, theirs = read_back(tmp_path / "ours.gguf"), read_back(tmp_path / "theirs.gguf")
    for key in ("general.architecture", "general.type", "adapter.type", "adapter.lora.alpha",
                "general.quantization_version"):
        assert ours[0][key] == theirs[0][key] and ours[1][key] == theirs[1][key], key
    assert list(ours[2]) == list(theirs[2])  # the same tensors in the same order
    for name, t in theirs[2].items():
        mine = ours[2][name]
        assert (mine.tensor_type, list(mine.shape)) == (t.tensor_type, list(t.shape)), name
        assert np.asarray(mine.data).tobytes() == np.asarray(t.data).tobytes(), name


def test_llama_cpp_applies_the_adapter_as_peft_does(tmp_path, home, monkeypatch):
    """The engine check, where llama.cpp's Python binding is installed (llama-cpp-python): on
    `demo` (SmolLM2: llama, 9 heads, 3 KV heads; llama.cpp runs its Q4_1 GGUF) a q/k-only LoRA
    moves llama.cpp's logits the way it moves peft's, which it does only with the rows
    permuted (without: correlation ~0.2)."""
    llama_cpp = pytest.importorskip("llama_cpp")
    from transformers import AutoModelForCausalLM

    from ftui.train.base import demo_gguf_path

    where, _ = resolve_base("demo", home)
    model = AutoModelForCausalLM.from_pretrained(where, torch_dtype=torch.float32)
    ids = list(range(200, 232))
    with torch.no_grad():
        base = model(torch.tensor([ids])).logits[0].numpy()
        peft_model = lora_on(model, tmp_path / "adapter", ["q_proj", "k_proj"], seed=3)
        tuned = peft_model(torch.tensor([ids])).logits[0].numpy()
    write_gguf_adapter(tmp_path / "adapter", tmp_path / "a.gguf", model.config.to_dict())

    def engine(lora: Path | None) -> np.ndarray:
        llm = llama_cpp.Llama(model_path=str(demo_gguf_path()), logits_all=True, n_ctx=64,
                              lora_path=str(lora) if lora else None, verbose=False)
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)])

    def agreement(lora: Path) -> float:
        effect = engine(lora) - engine(None)
        return np.corrcoef(effect.ravel(), (tuned - base).ravel())[0, 1]

    assert agreement(tmp_path / "a.gguf") > 0.95
    monkeypatch.setattr("ftui.registry.gguf.permute_rows", lambda b, heads: b)
    write_gguf_adapter(tmp_path / "adapter", tmp_path / "wrong.gguf", model.config.to_dict())
    assert agreement(tmp_path / "wrong.gguf") < 0.5  # the check tells a wrong file apart
