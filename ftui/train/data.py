"""Chat-template rendering with assistant-only labels, masked by position.

Never by token id: with SmolLM2 (and `tiny`) pad == eos == <|im_end|>, so masking the pad id would
also mask the end-of-turn token that closes every reply, and the model would never learn to stop.
Each assistant turn is located by rendering the conversation up to it: the tokens between "all
before it plus the generation prompt" and "all up to and including it" are the reply, its
end-of-turn token included, and only those carry labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ftui.conversation import reply_index
from ftui.errors import FtuiError

IGNORE = -100


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    source: str  # which example, for messages

    @property
    def trained_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def _inline_tool_calls(messages: list[dict[str, Any]], template: str) -> list[dict[str, Any]]:
    """Templates that do not render tool calls would drop them; write them into the content
    (Hermes-style tags) so the model still sees and learns them."""
    if "tool_calls" in (template or ""):
        return messages
    out = []
    for msg in messages:
        if msg.get("tool_calls"):
            calls = "\n".join(
                "<tool_call>\n" + json.dumps({"name": c["function"]["name"],
                                              "arguments": c["function"].get("arguments", {})},
                                             ensure_ascii=False) + "\n</tool_call>"
                for c in msg["tool_calls"])
            content = (msg.get("content") or "").strip()
            msg = {"role": "assistant", "content": f"{content}\n{calls}".strip()}
        elif msg["role"] == "tool":
            msg = {"role": "tool", "content": msg["content"]}
        out.append(msg)
    return out


def encode(tokenizer, messages: list[dict[str, Any]], *, max_len: int, train_on: str = "assistant",
           source: str = "") -> Encoded:
    msgs = _inline_tool_calls(messages, tokenizer.chat_template)

    def ids_of(conv: list[dict[str, Any]], gen: bool = False) -> list[int]:
        text = tokenizer.apply_chat_template(conv, tokenize=False, add_generation_prompt=gen)
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    full = ids_of(msgs)
    labels = [IGNORE] * len(full)
    if train_on == "all":
        labels = list(full)
    else:
        turns = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
        if train_on == "last":  # the reply: the same turn a correction replaces and eval scores
            reply = reply_index(messages)  # _inline_tool_calls keeps one message per message
            turns = [] if reply is None else [reply]
        eot = tokenizer.eos_token_id
        for i in turns:
            prefix = ids_of(msgs[:i], gen=True) if i else []
            start, end = len(prefix), len(ids_of(msgs[: i + 1]))
            if full[:start] != prefix:
                raise FtuiError(f"{source}: the chat template does not render turn by turn",
                                "use a model whose chat template renders prefixes identically")
            stop = end
            for j in range(start, end):  # keep the end-of-turn token, not what follows it
                if full[j] == eot:
                    stop = j + 1
                    break
            labels[start:stop] = full[start:stop]
    return Encoded(full[:max_len], labels[:max_len], source)


def check_trainable(encoded: list[Encoded]) -> None:
    """Fail before training when some example would train on nothing (all labels masked)."""
    empty = [e.source for e in encoded if e.trained_tokens == 0]
    if empty:
        shown = ", ".join(empty[:10]) + (f" and {len(empty) - 10} more" if len(empty) > 10 else "")
        raise FtuiError(
            f"{len(empty)} example(s) would train on no token (the reply is cut off by "
            f"max_seq_len, or there is no assistant turn): {shown}",
            "raise max_seq_len, or rebuild the dataset with --max-tokens below it")


class Collator:
    """Pads a batch to its longest example: labels with IGNORE, attention 0 on padding."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: list[dict[str, list[int]]]):
        import torch

        width = max(len(b["input_ids"]) for b in batch)
        ids, labels, mask = [], [], []
        for b in batch:
            n = len(b["input_ids"])
            ids.append(b["input_ids"] + [self.pad_id] * (width - n))
            labels.append(b["labels"] + [IGNORE] * (width - n))
            mask.append([1] * n + [0] * (width - n))
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                "attention_mask": torch.tensor(mask)}


class ListDataset:
    """What Trainer needs: len, indexing, and the lengths for length-grouped batching."""

    def __init__(self, encoded: list[Encoded]) -> None:
        self.rows = [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]
        self.lengths = [len(e.input_ids) for e in encoded]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.rows[i]
