"""DPO, KTO and ORPO runs on TRL 1.16 with a LoRA adapter, through the same run machinery as
SFT (store callback, heartbeat, pause/cancel, checkpoints and resume, registry).

The reference model is never a second full copy: on a fresh adapter it is the base with the
adapter disabled; when continuing an SFT adapter (`from_model`) TRL copies that adapter into a
frozen "ref" adapter beside the trained one (trl/trainer/dpo_trainer.py), so the reference is
the SFT model and the deployed base stays the same.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from ftui.errors import FtuiError
from ftui.store import Store
from ftui.train.config import RunConfig, attach_reporting
from ftui.train.distributed import is_distributed, world
from ftui.train.runs import log, rewind_metrics, update_run


def _trl(method: str):
    """(config class, trainer class), imported only when a run needs them (about 8 s cold)."""
    if method == "dpo":
        from trl import DPOConfig, DPOTrainer

        return DPOConfig, DPOTrainer
    if method == "kto":
        from trl import KTOConfig, KTOTrainer

        return KTOConfig, KTOTrainer
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # its notice would print over the TUI
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return ORPOConfig, ORPOTrainer


# ---------------------------------------------------------------- data


def _fit_prompt(tokenizer, prompt: list[dict], replies: list[dict], max_len: int) -> list[dict]:
    """Drop the oldest turns of a long prompt (never a leading system prompt, never the final
    exchange) until prompt and its longest reply fit max_len: TRL would cut the end instead."""
    def length(msgs: list[dict]) -> int:
        return max(len(tokenizer.apply_chat_template([*msgs, r], tokenize=False)) // 3
                   for r in replies)  # cheap upper estimate, refined below when close

    def exact(msgs: list[dict]) -> int:
        return max(len(tokenizer(tokenizer.apply_chat_template([*msgs, r], tokenize=False),
                                 add_special_tokens=False)["input_ids"]) for r in replies)

    if length(prompt) <= max_len // 2 or exact(prompt) <= max_len:
        return prompt
    start = 1 if prompt and prompt[0]["role"] == "system" else 0
    last_user = max((i for i, m in enumerate(prompt) if m["role"] == "user"), default=start)
    cut = start
    while cut < last_user:
        cut += 1
        while cut < last_user and prompt[cut]["role"] != "user":
            cut += 1  # whole turns: resume at a user message
        if exact(prompt[:start] + prompt[cut:]) <= max_len:
            break
    return prompt[:start] + prompt[cut:]


def _rows(store: Store, dataset_id: int, split: str, method: str, tokenizer,
          max_len: int) -> tuple[list[dict[str, Any]], int]:
    """TRL's conversational rows for the split, and how many prompts were shortened."""
    from ftui.curate.preference import preference_examples
    from ftui.train.data import _inline_tool_calls

    template = tokenizer.chat_template or ""

    def plain(msgs: list[dict]) -> list[dict]:
        return _inline_tool_calls(msgs, template)

    rows, shortened = [], 0
    for ex in preference_examples(store, dataset_id, split):
        replies = [plain([ex.reply])[0]] + ([plain([ex.rejected])[0]] if ex.rejected else [])
        prompt = plain(ex.prompt)
        fitted = _fit_prompt(tokenizer, prompt, replies, max_len)
        shortened += len(fitted) < len(prompt)
        if method == "kto":
            if ex.rejected is not None:  # a pair: its chosen is desirable, its rejected not
                rows.append({"prompt": fitted, "completion": [replies[0]], "label": True})
                rows.append({"prompt": fitted, "completion": [replies[1]], "label": False})
            else:
                rows.append({"prompt": fitted, "completion": [replies[0]],
                             "label": bool(ex.label)})
        else:
            rows.append({"prompt": fitted, "chosen": [replies[0]], "rejected": [replies[1]]})
    return rows, shortened


def kto_weights(rows: list[dict[str, Any]], config: RunConfig) -> tuple[float, float]:
    """(desirable, undesirable) weights: the ones set, else from the balance so that both
    sides weigh the same in total (the minority side is weighted up)."""
    if config.desirable_weight and config.undesirable_weight:
        return config.desirable_weight, config.undesirable_weight
    good = sum(1 for r in rows if r["label"])
    bad = len(rows) - good
    if not good or not bad:
        raise FtuiError(f"KTO needs desirable and undesirable replies; the train split has "
                        f"{good} desirable and {bad} undesirable",
                        "rebuild the version with more signals of the missing side, or loosen "
                        "--desirable-min-rating / --undesirable-max-rating")
    return (max(1.0, bad / good), max(1.0, good / bad))


# ---------------------------------------------------------------- the run


def _counting(trainer_cls, counter: dict[str, Any]):
    class CountingTrainer(trainer_cls):
        """Counts the reply tokens trained on (both sides of a pair) and the examples."""

        def compute_loss(self, model, inputs, *args, **kwargs):
            if model.training:
                if "completion_mask" in inputs:  # dpo (chosen and rejected rows), kto
                    counter["tokens"] += int(inputs["completion_mask"].sum())
                    rows = int(inputs["completion_mask"].shape[0])
                    counter["samples"] += rows // 2 if "label" not in inputs else rows
                elif "chosen_labels" in inputs:  # orpo
                    for side in ("chosen_labels", "rejected_labels"):
                        counter["tokens"] += int((inputs[side] != -100).sum())
                    counter["samples"] += int(inputs["chosen_labels"].shape[0])
            return super().compute_loss(model, inputs, *args, **kwargs)

    return CountingTrainer


def _start_adapter(store: Store, model, config: RunConfig):
    """The trained model: the SFT adapter to continue (trainable), or None for a fresh one."""
    if not config.from_model:
        return None
    from peft import PeftModel

    from ftui.registry import get_model

    start = get_model(store, config.from_model)
    if start.kind != "adapter" or not start.path or not Path(start.path).is_dir():
        raise FtuiError(f"model {start.id} ({start.name}) is not an adapter folder ftui can "
                        "continue", "pass --from-model an adapter trained by ftui (ftui models "
                        "list)")
    return PeftModel.from_pretrained(model, start.path, is_trainable=True)


def train_preference(store: Store, run, home: Path, is_main: bool) -> str:
    import transformers
    from datasets import Dataset
    from peft import LoraConfig

    from ftui.curate import get_dataset
    from ftui.curate.preference import dataset_kind
    from ftui.train import trainer as sft
    from ftui.train.base import load_base
    from ftui.train.methods import check_method_fits

    transformers.utils.logging.set_verbosity_error()
    for module in ("transformers", "peft", "torch", "accelerate", "trl", "datasets"):
        warnings.filterwarnings("ignore", module=module)
    import datasets as hf_datasets

    hf_datasets.disable_progress_bars()
    hf_datasets.logging.set_verbosity_error()
    config = RunConfig.from_dict(run.config).validate()
    dataset = get_dataset(store, run.dataset_id)
    check_method_fits(config.method, dataset_kind(dataset), dataset.id)
    precision = sft.pick_precision(config.precision)
    out = sft.run_dir(home, run.id)
    out.mkdir(parents=True, exist_ok=True)
    note = (lambda *a, **k: None) if not is_main else log
    if is_main:
        update_run(store, run.id, output_dir=str(out))
    note(store, run.id, f"loading base model {run.base_model} ({precision}) for {config.method}")
    if is_distributed():  # only rank 0 builds tiny / demo; the others wait for it
        sft.prepare_base_on_rank0(run.base_model, home, is_main)
    tokenizer, model = load_base(run.base_model, home, precision,
                                 progress=lambda line: note(store, run.id, line))
    sets, shortened = {}, 0
    for split in ("train", "validation"):
        sets[split], n = _rows(store, dataset.id, split, config.method, tokenizer,
                               config.max_seq_len)
        shortened += n
    if not sets["train"]:
        raise FtuiError(f"dataset {dataset.id} has no train examples", "build it with more data")
    if shortened:
        note(store, run.id, f"{shortened} long prompts lost their oldest turns to fit "
                            f"max_seq_len {config.max_seq_len}")
    peft_config = None
    started = _start_adapter(store, model, config)
    if started is not None:
        model = started
        note(store, run.id, f"continuing adapter of model {config.from_model}; the reference "
                            "is that model (a frozen copy of its adapter)")
    else:
        present = {name.split(".")[-1] for name, _ in model.named_modules()}
        targets = [m for m in config.target_modules if m in present]
        if not targets:
            raise FtuiError(f"none of the target modules {', '.join(config.target_modules)} "
                            f"exist in {run.base_model}",
                            "set target_modules to names of its linear layers")
        peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                 lora_dropout=config.lora_dropout, target_modules=targets,
                                 task_type="CAUSAL_LM")
    has_eval = bool(sets["validation"])
    cfg_cls, trainer_cls = _trl(config.method)
    extra: dict[str, Any] = {"beta": config.beta, "max_length": config.max_seq_len}
    if config.method == "dpo":
        extra["loss_type"] = [config.loss_type]
    if config.method == "kto":
        good, bad = kto_weights(sets["train"], config)
        extra.update(desirable_weight=good, undesirable_weight=bad)
        note(store, run.id, f"kto weights: desirable {good:.2f}, undesirable {bad:.2f}")
    args = cfg_cls(
        output_dir=str(out),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.schedule,
        warmup_steps=config.warmup_ratio,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        logging_steps=config.logging_steps,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.keep_checkpoints,
        seed=config.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=precision == "fp32" and not sft.cuda_available(),
        gradient_checkpointing=config.gradient_checkpointing,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        **extra,
    )
    counter = {"tokens": 0, "samples": 0, "tokens_before": 0, "seconds_before": 0.0}
    callback = sft.make_callback(store, run.id, is_main, counter)
    trainer = _counting(trainer_cls, counter)(
        model=model, args=args, train_dataset=Dataset.from_list(sets["train"]),
        eval_dataset=Dataset.from_list(sets["validation"]) if has_eval else None,
        processing_class=tokenizer, peft_config=peft_config, callbacks=[callback])
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    attach_reporting(trainer, config, out)  # report_to: TensorBoard, MLflow
    resume = sft.latest_checkpoint(out) if run.step > 0 else None
    if resume:
        note(store, run.id, f"resuming from {Path(resume).name}")
        if is_main:
            carried = rewind_metrics(store, run.id, int(Path(resume).name.split("-")[-1]))
            counter["tokens_before"] = carried["trained_tokens"]
            counter["seconds_before"] = carried["running_seconds"]
    trainer.train(resume_from_checkpoint=resume)
    if world()[0] != 0:
        return "completed"
    model = trainer.model
    # only the trained adapter: TRL's frozen "ref" copy (when continuing) stays behind
    return sft.finish_run(store, run, home, model, trainer, tokenizer, dataset, config, callback,
                          targets=sorted(model.peft_config["default"].target_modules or []),
                          adapters=["default"], extra_summary=_method_summary,
                          label=f" ({config.method})")


def _method_summary(store: Store, run_id: int) -> dict[str, float]:
    from ftui.train.runs import metric_series

    out = {}
    for name in ("rewards_margins", "rewards_accuracies", "eval_rewards_accuracies",
                 "eval_rewards_margins", "kl"):
        series = metric_series(store, run_id, name)
        if series:
            out[f"final_{name}"] = series[-1][1]
    return out
