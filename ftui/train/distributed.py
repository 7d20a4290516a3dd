"""Data-parallel runs under `torchrun` / `accelerate launch`: rank 0 owns the run record (creates
it, writes every metric); the other ranks only train. Decisions taken from the store (cancel) are
broadcast from rank 0 so that every rank stops at the same step."""

from __future__ import annotations

import os
from typing import Any


def world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def is_distributed() -> bool:
    return world()[1] > 1


def init_if_needed() -> None:
    if not is_distributed():
        return
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")


def broadcast(value: Any) -> Any:
    """Rank 0's value, on every rank (the identity when not distributed)."""
    if not is_distributed():
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def finish() -> None:
    """Tear the process group down on every rank before exiting: gloo's threads still running at
    interpreter shutdown abort the process ("terminate called without an active exception")."""
    if not is_distributed():
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
