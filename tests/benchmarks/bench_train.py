"""Training throughput on the demo model (SmolLM2-135M) on this machine.

1. Overhead: the same config and data through ftui's worker and through a plain `Trainer`
   script written here (same model, encoded data, collator and LoRA config; no store, no
   callbacks), alternated over --rounds: ftui's trained tokens/s must be >= 0.97x. Each run's
   rate is the median of its per-step rates from step 2 on (step 1 pays one-time warm-up), and
   the ratio compares the medians over all rounds.
2. Efficiency: ftui's default batching (length-grouped, padded to the batch's longest) against
   naive padding (random order, every batch padded to max_seq_len, like padding="max_length"),
   same batch size: trained tokens/s must be >= 1.5x. Random order with dynamic padding is shown
   too.
3. Model FLOP utilization against a measured fp32 matmul peak: FLOPs per processed token taken as
   6N (the usual full-training estimate) and 4N (LoRA: no weight gradients for the frozen base).

    python tests/benchmarks/bench_train.py [--steps 4] [--rounds 2] [--batch 8]

4. --method dpo: ftui's DPO run against a plain TRL `DPOTrainer` script on the same pairs (a
   preference version of the demo set), LoRA and DPOConfig, alternated over --rounds: ftui's
   trained pairs/s (median of per-step rates from step 2 on) must be >= 0.97x.

    python tests/benchmarks/bench_train.py --method dpo [--steps 6] [--rounds 2] [--batch 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from ftui.curate import DatasetSpec, build_dataset, examples_of  # noqa: E402
from ftui.demo import load_demo  # noqa: E402
from ftui.store import open_store  # noqa: E402
from ftui.train import runs  # noqa: E402
from ftui.train.base import load_base  # noqa: E402
from ftui.train.config import RunConfig  # noqa: E402
from ftui.train.data import Collator, ListDataset, encode  # noqa: E402
from ftui.train.worker import run_worker  # noqa: E402


def matmul_peak_gflops() -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(2):
        a @ b
    t, n = time.perf_counter(), 10
    for _ in range(n):
        a @ b
    return 2 * 2048**3 * n / (time.perf_counter() - t) / 1e9


def plain_trainer(home: Path, store, dataset_id: int, cfg: RunConfig, pad_to: int | None,
                  grouped: bool) -> tuple[float, int, int, list[float]]:
    """(seconds, trained tokens, processed tokens, per-step trained tokens/s) of a plain run."""
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainerCallback, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    tok, model = load_base("demo", home)
    enc = [encode(tok, ex.messages, max_len=cfg.max_seq_len)
           for ex in examples_of(store, dataset_id, "train")]
    model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                                             lora_dropout=cfg.lora_dropout,
                                             target_modules=list(cfg.target_modules),
                                             task_type="CAUSAL_LM"))
    base = Collator(tok.pad_token_id)
    seen = {"trained": 0, "processed": 0}

    def collate(batch):
        if pad_to:  # naive: pad every batch to max_seq_len
            batch = [{"input_ids": b["input_ids"] + [tok.pad_token_id] * (pad_to - len(b["input_ids"])),
                      "labels": b["labels"] + [-100] * (pad_to - len(b["labels"]))} for b in batch]
        out = base(batch)
        seen["trained"] += int((out["labels"] != -100).sum())
        seen["processed"] += out["input_ids"].numel()
        return out

    with tempfile.TemporaryDirectory() as out_dir:
        args = TrainingArguments(
            output_dir=out_dir, per_device_train_batch_size=cfg.batch_size, max_steps=cfg.max_steps,
            learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.schedule,
            warmup_steps=cfg.warmup_ratio, logging_steps=1, save_strategy="no", report_to="none",
            disable_tqdm=True, remove_unused_columns=False, use_cpu=True, seed=cfg.seed,
            train_sampling_strategy="group_by_length" if grouped else "random")
        marks: list[tuple[float, int]] = []
        stepped = {"trained": 0}

        class CountingTrainer(Trainer):
            """Counts trained tokens where ftui counts them (in compute_loss), so per-step rates
            of both sides mean the same thing. Measurement only: no store, no callbacks."""

            def compute_loss(self, model, inputs, *a, **k):
                if model.training:
                    stepped["trained"] += int((inputs["labels"] != -100).sum())
                return super().compute_loss(model, inputs, *a, **k)

        class StepTimer(TrainerCallback):
            def on_step_begin(self, *a, **k):
                if not marks:
                    marks.append((time.perf_counter(), 0))

            def on_step_end(self, *a, **k):
                marks.append((time.perf_counter(), stepped["trained"]))

        trainer = CountingTrainer(model=model, args=args, train_dataset=ListDataset(enc),
                                  data_collator=collate, callbacks=[StepTimer()])
        trainer.remove_callback(PrinterCallback)
        t = time.perf_counter()
        trainer.train()
        rates = [(marks[i][1] - marks[i - 1][1]) / (marks[i][0] - marks[i - 1][0])
                 for i in range(2, len(marks))]  # from step 2: step 1 pays the warm-up
        return time.perf_counter() - t, seen["trained"], seen["processed"], rates


def ftui_run(home: Path, store, dataset_id: int, cfg: RunConfig) -> list[float]:
    """Per-step trained tokens/s of an ftui run, from step 2 on, as its store metrics say."""
    run = runs.create_run(store, dataset_id, "demo", cfg)
    run_worker(store, home, once=True, only=run.id)
    done = runs.get_run(store, run.id)
    assert done.status == "completed", done.error
    return [v for step, v in runs.metric_series(store, run.id, "tokens_per_second") if step >= 2]


def plain_dpo(home: Path, store, dataset_id: int, cfg: RunConfig) -> list[float]:
    """Per-step pairs/s of a plain TRL DPOTrainer script: same pairs, LoRA and settings as
    ftui's run; no store, no callbacks."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOConfig, DPOTrainer

    from ftui.curate.preference import preference_examples

    tok, model = load_base("demo", home)
    rows = [{"prompt": ex.prompt, "chosen": [ex.reply], "rejected": [ex.rejected]}
            for ex in preference_examples(store, dataset_id, "train")]
    marks: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            if not marks:
                marks.append(time.perf_counter())

        def on_step_end(self, *a, **k):
            marks.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out_dir:
        args = DPOConfig(
            output_dir=out_dir, per_device_train_batch_size=cfg.batch_size,
            max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
            lr_scheduler_type=cfg.schedule, warmup_steps=cfg.warmup_ratio, logging_steps=1,
            save_strategy="no", report_to="none", disable_tqdm=True, use_cpu=not torch.cuda
            .is_available(), seed=cfg.seed, beta=cfg.beta, loss_type=[cfg.loss_type],
            max_length=cfg.max_seq_len, dataloader_num_workers=0,
            # TRL's configs default to gradient checkpointing on; ftui's run config to off
            gradient_checkpointing=cfg.gradient_checkpointing)
        peft = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          target_modules=list(cfg.target_modules), task_type="CAUSAL_LM")
        trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                             processing_class=tok, peft_config=peft, callbacks=[StepTimer()])
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    return [cfg.batch_size / (marks[i] - marks[i - 1]) for i in range(2, len(marks))]


def ftui_dpo(home: Path, store, dataset_id: int, cfg: RunConfig) -> list[float]:
    run = runs.create_run(store, dataset_id, "demo", cfg)
    run_worker(store, home, once=True, only=run.id)
    done = runs.get_run(store, run.id)
    assert done.status == "completed", done.error
    return [v for step, v in runs.metric_series(store, run.id, "samples_per_second")
            if step >= 2]


def bench_dpo(args) -> None:
    import statistics

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = open_store(f"sqlite:///{home / 'bench.db'}")
        load_demo(store)
        version, result, _ = build_dataset(store, "bench-pairs", DatasetSpec(
            kind="preference", min_rating_gap=1, val=0.0, near_dup=None))
        cfg = RunConfig(method="dpo", max_steps=args.steps, batch_size=args.batch,
                        max_seq_len=512, save_steps=10_000, eval_steps=10_000,
                        warmup_ratio=0.0).validate()
        load_base("demo", home)  # build the de-quantized copy once, outside the timings
        ftui_pps, plain_pps = [], []
        for r in range(args.rounds):
            for who in (("plain", "ftui") if r % 2 == 0 else ("ftui", "plain")):
                if who == "ftui":
                    ftui_pps += ftui_dpo(home, store, version.id, cfg)
                else:
                    plain_pps += plain_dpo(home, store, version.id, cfg)
    ftui_rate, plain_rate = statistics.median(ftui_pps), statistics.median(plain_pps)
    ratio = ftui_rate / plain_rate
    device = "GPU" if torch.cuda.is_available() else "CPU"
    print(f"demo (SmolLM2-135M), {device}, DPO, {result.splits['train']} train pairs, batch "
          f"{args.batch}, {args.steps} steps, {args.rounds} rounds")
    print(f"{'plain TRL DPOTrainer script':<34}{plain_rate:>10.2f} pairs/s")
    print(f"{'ftui worker (store, callbacks)':<34}{ftui_rate:>10.2f} pairs/s   "
          f"ratio {ratio:.3f} (>= 0.97)")
    print(json.dumps({"bench": "train-dpo", "ftui_pairs_per_s": round(ftui_rate, 3),
                      "plain_pairs_per_s": round(plain_rate, 3), "ratio": round(ratio, 3),
                      "pass": ratio >= 0.97}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--skip-batching", action="store_true", help="only the overhead comparison")
    ap.add_argument("--method", choices=["sft", "dpo"], default="sft")
    args = ap.parse_args()
    if args.method == "dpo":
        bench_dpo(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = open_store(f"sqlite:///{home / 'bench.db'}")
        load_demo(store)
        version, _, _ = build_dataset(store, "bench", DatasetSpec(
            min_rating=None, include_unrated=True, val=0.0, near_dup=None))
        cfg = RunConfig(max_steps=args.steps, batch_size=args.batch, max_seq_len=512,
                        save_steps=10_000, eval_steps=10_000, warmup_ratio=0.0).validate()
        load_base("demo", home)  # build the de-quantized copy once, outside the timings
        ftui_tps, plain_tps = [], []
        for r in range(args.rounds):
            order = ("plain", "ftui") if r % 2 == 0 else ("ftui", "plain")
            for who in order:
                if who == "ftui":
                    ftui_tps += ftui_run(home, store, version.id, cfg)
                else:
                    plain_tps += plain_trainer(home, store, version.id, cfg, None, True)[3]
        if args.skip_batching:
            naive = dynamic = grouped = (1.0, 1, 1, [])
        else:
            naive = plain_trainer(home, store, version.id, cfg, cfg.max_seq_len, False)
            dynamic = plain_trainer(home, store, version.id, cfg, None, False)
            grouped = plain_trainer(home, store, version.id, cfg, None, True)
        peak = matmul_peak_gflops()
        n_params = 134_515_008  # SmolLM2-135M
    import statistics

    best_ftui, best_plain = statistics.median(ftui_tps), statistics.median(plain_tps)
    overhead = best_ftui / best_plain
    rate = {name: tr / sec for name, (sec, tr, _, _) in
            (("naive", naive), ("dynamic", dynamic), ("grouped", grouped))}
    processed = {name: pr / sec for name, (sec, _, pr, _) in
                 (("naive", naive), ("dynamic", dynamic), ("grouped", grouped))}
    efficiency = rate["grouped"] / rate["naive"]
    mfu6 = processed["grouped"] * 6 * n_params / 1e9 / peak
    mfu4 = processed["grouped"] * 4 * n_params / 1e9 / peak
    print(f"demo (SmolLM2-135M), CPU, batch {args.batch}, {args.steps} steps, {args.rounds} rounds")
    print(f"{'overhead (median per-step rate)':<34}{'trained tok/s':>14}")
    print(f"{'plain Trainer script':<34}{best_plain:>14.1f}")
    print(f"{'ftui worker (store, callbacks)':<34}{best_ftui:>14.1f}   ratio {overhead:.3f} (>= 0.97)")
    if args.skip_batching:
        print("(batching comparison and MFU skipped)")
    else:
        print(f"\n{'batching':<34}{'trained tok/s':>14}{'processed tok/s':>17}")
        for name, label in (("naive", "naive: random, pad to max_seq_len"),
                            ("dynamic", "random, pad to batch max"),
                            ("grouped", "ftui default: length-grouped")):
            print(f"{label:<34}{rate[name]:>14.1f}{processed[name]:>17.1f}")
        print(f"length-grouped / naive: {efficiency:.2f}x (>= 1.5)")
        print(f"\nmatmul peak {peak:.0f} GFLOP/s; MFU {mfu6:.0%} (6N/token), "
              f"{mfu4:.0%} (4N/token, LoRA)")
    print(json.dumps({
        "bench": "train", "ftui_tokens_per_s": round(best_ftui, 1),
        "plain_tokens_per_s": round(best_plain, 1), "overhead_ratio": round(overhead, 3),
        "batching_tokens_per_s": {k: round(v, 1) for k, v in rate.items()},
        "efficiency_ratio": round(efficiency, 2), "matmul_peak_gflops": round(peak, 1),
        "mfu_6n": round(mfu6, 3), "mfu_4n": round(mfu4, 3),
        "pass": overhead >= 0.97 and (args.skip_batching or efficiency >= 1.5),
    }))


if __name__ == "__main__":
    main()
