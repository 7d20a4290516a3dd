"""Running one training run: transformers' Trainer with a peft LoRA adapter, and a callback that
writes progress, metrics and a heartbeat to the store and obeys cancel / pause requests."""

from __future__ import annotations

import json
import math
import os
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from ftui.curate import examples_of, get_dataset
from ftui.errors import FtuiError
from ftui.store import Store, db_now, utcnow
from ftui.train.config import RunConfig, attach_reporting
from ftui.train.distributed import broadcast, is_distributed, world
from ftui.train.runs import (
    disk_full_message,
    drop_incomplete_checkpoints,
    fail_run,
    get_run,
    log,
    rewind_metrics,
    speed,
    update_run,
    write_metrics,
)

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # they would draw over the TUI
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# ftui never downloads during a run; peft's save would otherwise ask the Hub about a base id
os.environ.setdefault("HF_HUB_OFFLINE", "1")
HEARTBEAT_S = 5
# A preference method's own curves, kept under TRL's names with "_" for "/" (rewards_margins,
# eval_rewards_accuracies: how often the implicit reward ranks chosen above rejected, kl, ...)
METHOD_CURVES = ("rewards", "eval_rewards", "kl", "eval_kl", "nll_loss", "eval_nll_loss",
                 "log_odds_ratio", "eval_log_odds_ratio")


def run_dir(home: Path, run_id: int) -> Path:
    return Path(home) / "runs" / f"run-{run_id}"


def latest_checkpoint(out: Path) -> str | None:
    points = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(points[-1]) if points else None


def pick_precision(requested: str) -> str:
    import torch

    if not torch.cuda.is_available():
        if requested in ("bf16", "fp16"):
            raise FtuiError(f"precision {requested} needs a GPU and none is visible",
                            "use precision = auto or fp32 on this machine")
        return "fp32"
    if requested != "auto":
        return requested
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _is_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


def oom_message(config: RunConfig, err: BaseException) -> str:
    import torch

    figure = ""
    if torch.cuda.is_available():
        used = torch.cuda.max_memory_allocated() / 2**30
        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        figure = f" (peak {used:.1f} GiB of {total:.1f} GiB on GPU 0)"
    tips = []
    if config.batch_size > 1:
        tips.append(f"batch_size {config.batch_size} -> {max(1, config.batch_size // 2)} with "
                    f"grad_accum {config.grad_accum * 2}")
    if not config.gradient_checkpointing:
        tips.append("gradient_checkpointing = true")
    if config.max_seq_len > 512:
        tips.append(f"max_seq_len {config.max_seq_len} -> {config.max_seq_len // 2}")
    if not config.qlora:
        tips.append("qlora = true (4-bit base, needs bitsandbytes and CUDA)")
    return f"out of memory{figure}: {str(err).splitlines()[0][:200]}. Try: " + "; ".join(tips)


class _Beat:
    """Keeps the heartbeat fresh while nothing else does (loading a model can take minutes)."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store, self.run_id = store, run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="ftui-heartbeat")

    def _loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                update_run(self.store, self.run_id, heartbeat_at=db_now())
            except Exception:  # noqa: BLE001 - a full disk, a lock: the run itself reports it
                continue

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_S + 1)


def make_callback(store: Store, run_id: int, is_main: bool, counter: dict[str, Any]):
    from transformers import TrainerCallback

    class StoreCallback(TrainerCallback):
        """Writes what the Trainer logs to the store and obeys the run's cancel / pause flags."""

        def __init__(self) -> None:
            self.last_log_t = time.perf_counter()
            self.last_tokens = 0
            self.last_samples = 0
            self.cancelled = False
            self.segment_start: float | None = None  # this process's training, not waiting
            self.paused_s = 0.0

        def running_seconds(self) -> float:
            """Training time over all resumes: the checkpoint's figure plus this segment,
            less the time spent paused."""
            here = (time.perf_counter() - self.segment_start - self.paused_s
                    if self.segment_start is not None else 0.0)
            return counter["seconds_before"] + here

        def trained_tokens(self) -> int:
            return int(counter["tokens_before"] + counter["tokens"] * world()[1])

        def carried(self) -> dict[str, float]:
            return {"trained_tokens": self.trained_tokens(),
                    "running_seconds": round(self.running_seconds(), 3)}

        def on_train_begin(self, args, state, control, **kw):
            self.segment_start = self.last_log_t = time.perf_counter()
            if is_main:
                update_run(store, run_id, total_steps=state.max_steps, heartbeat_at=db_now())
                log(store, run_id, f"training: {state.max_steps} steps")

        def on_step_end(self, args, state, control, **kw):
            stop = self._check_store(state) if is_main else False
            if broadcast(stop):  # every rank stops at the same step, or they would hang
                self.cancelled = True
                control.should_save = True  # keep this step as the last checkpoint
                control.should_training_stop = True

        def _check_store(self, state) -> bool:
            """Rank 0: write progress and heartbeat; obey pause (here) and cancel (returned)."""
            figures = self.carried()
            figures["tokens_per_second"] = speed(figures["trained_tokens"],
                                                 figures["running_seconds"])
            update_run(store, run_id, step=state.global_step, epoch=float(state.epoch or 0),
                       total_steps=state.max_steps, heartbeat_at=db_now(),
                       train_tokens=figures["trained_tokens"], summary_json=json.dumps(figures))
            run = get_run(store, run_id)
            paused_since = time.perf_counter()
            while run.pause_requested and not run.cancel_requested:
                if run.status != "paused":
                    update_run(store, run_id, status="paused")
                    log(store, run_id, f"paused at step {state.global_step}")
                time.sleep(0.5)
                update_run(store, run_id, heartbeat_at=db_now())
                run = get_run(store, run_id)
            self.paused_s += time.perf_counter() - paused_since
            if run.status == "paused":
                update_run(store, run_id, status="running")
                log(store, run_id, f"resumed at step {state.global_step}")
            return bool(run.cancel_requested)

        def on_log(self, args, state, control, logs=None, **kw):
            if not is_main or not logs:
                return
            now = time.perf_counter()
            dt = max(now - self.last_log_t, 1e-6)
            values: dict[str, float] = {}
            for key, name in (("loss", "train_loss"), ("eval_loss", "eval_loss"),
                              ("learning_rate", "learning_rate"), ("grad_norm", "grad_norm"),
                              ("epoch", "epoch")):
                if key in logs and logs[key] is not None:
                    values[name] = float(logs[key])
            for key, value in logs.items():
                if key.split("/")[0] in METHOD_CURVES and isinstance(value, int | float):
                    values[key.replace("/", "_")] = float(value)
            if "eval_loss" in values:
                values["perplexity"] = math.exp(min(values["eval_loss"], 50))
                best = get_run(store, run_id).best_eval_loss
                if best is None or values["eval_loss"] < best:
                    update_run(store, run_id, best_eval_loss=values["eval_loss"])
            if "train_loss" in values:
                # Each rank counts its own batches; ranks see same-sized shards.
                tokens = (counter["tokens"] - self.last_tokens) * world()[1]
                samples = (counter["samples"] - self.last_samples) * world()[1]
                values["tokens_per_second"] = tokens / dt
                values["samples_per_second"] = samples / dt
                values["peak_memory_mb"] = _peak_memory_mb()
                values.update(self.carried())
                self.last_tokens, self.last_samples, self.last_log_t = (
                    counter["tokens"], counter["samples"], now)
            write_metrics(store, run_id, state.global_step, values)

        def on_save(self, args, state, control, **kw):
            if is_main:  # what a resume from this checkpoint carries on from
                write_metrics(store, run_id, state.global_step, self.carried())

    return StoreCallback()


def _peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _counting_trainer(counter: dict[str, Any]):
    from transformers import Trainer

    class CountingTrainer(Trainer):
        """Counts trained tokens (labels that are not masked), the honest tokens/s figure."""

        def compute_loss(self, model, inputs, *args, **kwargs):
            if model.training:
                counter["tokens"] += int((inputs["labels"] != -100).sum())
                counter["samples"] += int(inputs["labels"].shape[0])
            return super().compute_loss(model, inputs, *args, **kwargs)

    return CountingTrainer


def execute_run(store: Store, run_id: int, home: Path) -> str:
    """Run (or continue) one claimed run to its end; returns the final status. Never raises for
    a failure of the run itself: that is recorded in the run with its message."""
    run = get_run(store, run_id)
    is_main = world()[0] == 0
    try:
        with _Beat(store, run_id) if is_main else _nullcontext():
            status = _train(store, run, home, is_main)
    except FtuiError as err:
        status = "failed"
        if is_main:
            drop_incomplete_checkpoints(run_dir(home, run_id))
            fail_run(store, run_id, str(err))
    except Exception as err:  # a crash of the run must not take the app down
        config = RunConfig.from_dict(run.config)
        status = "failed"
        if is_main:
            message = (disk_full_message(err, run_dir(home, run_id), run_id)
                       or (oom_message(config, err) if _is_oom(err)
                           else f"{type(err).__name__}: {err}"))
            # A half-written checkpoint goes: it frees the room the store needs to record the
            # failure on a full disk, and a resume restarts from a whole one.
            drop_incomplete_checkpoints(run_dir(home, run_id))
            fail_run(store, run_id, message, traceback.format_exc()[-4000:])
    return status


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def _train(store: Store, run, home: Path, is_main: bool) -> str:
    import transformers
    from peft import LoraConfig, get_peft_model
    from transformers import EarlyStoppingCallback, TrainingArguments

    from ftui.train.base import load_base
    from ftui.train.data import Collator, ListDataset, check_trainable, encode

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    for module in ("transformers", "peft", "torch", "accelerate"):  # they would print over the TUI
        warnings.filterwarnings("ignore", module=module)
    config = RunConfig.from_dict(run.config).validate()
    if config.method != "sft":  # dpo / kto / orpo: TRL builds the trainer, the rest is shared
        from ftui.train.methods.preference import train_preference

        return train_preference(store, run, home, is_main)
    if config.qlora:
        _check_qlora()
    precision = pick_precision(config.precision)
    out = run_dir(home, run.id)
    out.mkdir(parents=True, exist_ok=True)
    note = (lambda *a, **k: None) if not is_main else log  # only rank 0 writes to the store
    if is_main:
        update_run(store, run.id, output_dir=str(out))
    note(store, run.id, f"loading base model {run.base_model} ({precision})"
         + (f" on {world()[1]} processes" if is_distributed() else ""))
    if is_distributed():
        prepare_base_on_rank0(run.base_model, home, is_main)
    tokenizer, model = load_base(run.base_model, home, "fp32" if precision == "fp32" else precision,
                                 quantize_4bit=config.qlora,
                                 progress=lambda line: note(store, run.id, line))
    if config.qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.gradient_checkpointing)
    dataset = get_dataset(store, run.dataset_id)
    sets = {}
    for split in ("train", "validation"):
        sets[split] = [encode(tokenizer, ex.messages, max_len=config.max_seq_len,
                              train_on=config.train_on,
                              source=f"{split} example {ex.position} (interaction {ex.interaction_id})")
                       for ex in examples_of(store, dataset.id, split)]
    if not sets["train"]:
        raise FtuiError(f"dataset {dataset.id} has no train examples", "build it with more data")
    check_trainable(sets["train"] + sets["validation"])
    present = {name.split(".")[-1] for name, _ in model.named_modules()}
    targets = [m for m in config.target_modules if m in present]
    if not targets:
        raise FtuiError(f"none of the target modules {', '.join(config.target_modules)} exist in "
                        f"{run.base_model}", "set target_modules to names of its linear layers")
    model = get_peft_model(model, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                             lora_dropout=config.lora_dropout,
                                             target_modules=targets, task_type="CAUSAL_LM"))
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    has_eval = bool(sets["validation"])
    args = TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.schedule,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio of the total steps
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        logging_steps=config.logging_steps,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.keep_checkpoints,
        load_best_model_at_end=bool(config.early_stopping_patience and has_eval),
        metric_for_best_model="eval_loss",
        seed=config.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=precision == "fp32" and not cuda_available(),
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )
    counter = {"tokens": 0, "samples": 0, "tokens_before": 0, "seconds_before": 0.0}
    callback = make_callback(store, run.id, is_main, counter)
    callbacks = [callback]
    if config.early_stopping_patience and has_eval:
        callbacks.append(EarlyStoppingCallback(config.early_stopping_patience))
    train_set = ListDataset(sets["train"])
    trainer = _counting_trainer(counter)(
        model=model, args=args, train_dataset=train_set,
        eval_dataset=ListDataset(sets["validation"]) if has_eval else None,
        data_collator=Collator(tokenizer.pad_token_id), callbacks=callbacks,
    )
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for noisy in (PrinterCallback, ProgressCallback):  # they print over the TUI
        trainer.remove_callback(noisy)
    attach_reporting(trainer, config, out)  # report_to: TensorBoard, MLflow
    resume = latest_checkpoint(out) if run.step > 0 else None
    if resume:
        note(store, run.id, f"resuming from {Path(resume).name}")
        if is_main:  # the steps after the checkpoint are redone: their figures go
            carried = rewind_metrics(store, run.id, int(Path(resume).name.split("-")[-1]))
            counter["tokens_before"] = carried["trained_tokens"]
            counter["seconds_before"] = carried["running_seconds"]
    trainer.train(resume_from_checkpoint=resume)
    if not is_main:
        return "completed"
    return finish_run(store, run, home, model, trainer, tokenizer, dataset, config, callback,
                      targets=targets)


def finish_run(store: Store, run, home: Path, model, trainer, tokenizer, dataset,
               config: RunConfig, callback, *, targets: list[str], adapters: list[str] | None = None,
               extra_summary=None, label: str = "") -> str:
    """The end of a run on rank 0, for every method: a cancelled run keeps its checkpoint; a
    finished one saves its adapter (only `adapters`, when given), records its base, writes the
    last figures, summary (plus `extra_summary(store, run_id)`, read after them) and model
    card, and is registered as a candidate model."""
    if callback.cancelled:
        update_run(store, run.id, status="cancelled", finished_at=utcnow(),
                   step=trainer.state.global_step)
        log(store, run.id, f"cancelled at step {trainer.state.global_step}; checkpoint kept")
        return "cancelled"
    adapter = run_dir(home, run.id) / "adapter"
    # safetensors: adapter_model.safetensors + adapter_config.json (only the LoRA layers)
    saving: dict[str, Any] = {"save_embedding_layers": False}
    if adapters:
        saving["selected_adapters"] = adapters
    model.save_pretrained(adapter, **saving)
    tokenizer.save_pretrained(adapter)
    from ftui.train.base import describe_base

    base = describe_base(run.base_model, home)
    _record_base(adapter, base["recorded"])
    tokens, seconds = callback.trained_tokens(), callback.running_seconds()
    write_metrics(store, run.id, trainer.state.global_step, callback.carried())
    summary = _summary(store, run.id, tokens, seconds)
    if extra_summary is not None:
        summary.update(extra_summary(store, run.id))
    (adapter / "README.md").write_text(_model_card(run, dataset, config, targets, summary, base),
                                       encoding="utf-8")
    update_run(store, run.id, status="completed", finished_at=utcnow(), adapter_dir=str(adapter),
               step=trainer.state.global_step, summary_json=json.dumps(summary),
               train_tokens=tokens)
    log(store, run.id, f"completed{label}: adapter in {adapter}")
    from ftui.registry import register_run

    registered = register_run(store, get_run(store, run.id))
    log(store, run.id, f"registered as model {registered.id} ({registered.name}), stage candidate")
    return "completed"


def prepare_base_on_rank0(base: str, home: Path, is_main: bool) -> None:
    """Only rank 0 builds `tiny` / `demo` (transformers' save_pretrained on another rank of a
    distributed job leaves files out); the others wait for its outcome, error included, so a
    failure cannot leave them waiting forever."""
    from ftui.train.base import resolve_base

    failure = None
    if is_main:
        try:
            resolve_base(base, home)
        except FtuiError as err:
            failure = str(err)
    failure = broadcast(failure)
    if failure:
        raise FtuiError(failure.split("\n  fix: ")[0], "see the error on rank 0")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _check_qlora() -> None:
    import torch

    if not torch.cuda.is_available():
        raise FtuiError("QLoRA (4-bit) needs a CUDA GPU and none is visible",
                        "set qlora = false on this machine")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as err:
        raise FtuiError("QLoRA needs the bitsandbytes package", "pip install bitsandbytes") from err


def _record_base(adapter: Path, recorded: str) -> None:
    """adapter_config.json names the base portably (relative to $FTUI_HOME, a Hub id or a bare
    name), not by this machine's absolute path; ftui.train.base.adapter_base reads it back."""
    path = adapter / "adapter_config.json"
    cfg = json.loads(path.read_text())
    cfg["base_model_name_or_path"] = recorded
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def _summary(store: Store, run_id: int, tokens: int, elapsed: float) -> dict[str, Any]:
    from ftui.train.runs import metric_series

    train = metric_series(store, run_id, "train_loss")
    evals = metric_series(store, run_id, "eval_loss")
    return {
        "first_train_loss": train[0][1] if train else None,
        "final_train_loss": train[-1][1] if train else None,
        "final_eval_loss": evals[-1][1] if evals else None,
        "best_eval_loss": min(v for _, v in evals) if evals else None,
        "trained_tokens": tokens,
        "seconds": round(elapsed, 2),  # running time only (see runs.running_seconds)
        "running_seconds": round(elapsed, 2),
        "tokens_per_second": round(speed(tokens, elapsed), 1) if speed(tokens, elapsed) else None,
    }


def _model_card(run, dataset, config: RunConfig, targets: list[str], summary: dict,
                base: dict[str, Any]) -> str:
    """README.md with the Hugging Face YAML header (base_model, library_name, tags), and a body
    that says what the base really was."""
    from huggingface_hub import ModelCardData

    header = ModelCardData(base_model=base["card_base"], library_name="peft",
                           pipeline_tag="text-generation",
                           tags=["ftui", "lora", "peft", "transformers"]).to_yaml()
    rows = "\n".join(f"| {k} | {v} |" for k, v in config.as_dict().items())
    figures = "\n".join(f"| {k} | {v} |" for k, v in summary.items())
    named = run.base_model if run.base_model in ("tiny", "demo") else base["recorded"]
    return (
        f"---\n{header}\n---\n\n"
        f"# LoRA adapter from ftui run {run.id}\n\n"
        f"- base model: {base['description']}\n"
        f"  (`--base {named}` in ftui; adapter_config.json records `{base['recorded']}`)\n"
        f"- dataset: {dataset.name} (version {dataset.id}, hash `{dataset.content_hash}`)\n"
        f"- target modules: {', '.join(targets)}\n\n"
        f"## Hyper-parameters\n\n| key | value |\n|---|---|\n{rows}\n\n"
        f"## Final metrics\n\n| metric | value |\n|---|---|\n{figures}\n"
    )
