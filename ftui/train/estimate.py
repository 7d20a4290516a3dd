"""What a run will cost, before it starts: steps and tokens from the dataset's statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ftui.store import Dataset
from ftui.train.config import RunConfig


@dataclass
class Estimate:
    train_examples: int
    steps_per_epoch: int
    total_steps: int
    tokens_per_epoch: int
    tokens_exact: bool


def estimate(dataset: Dataset, config: RunConfig) -> Estimate:
    report = dataset.report
    train = report["stats"]["train"]
    n = train["examples"]
    per_epoch = max(1, math.ceil(n / (config.batch_size * config.grad_accum)))
    total = config.max_steps if config.max_steps > 0 else math.ceil(per_epoch * config.epochs)
    return Estimate(n, per_epoch, total, int(train["tokens"]["total"]),
                    bool(report.get("exact_tokens")))
