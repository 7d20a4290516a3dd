"""Token counts for length rules and statistics, with the fast (Rust) tokenizer in batches.

A tokenizer is named by a path to a `tokenizer.json` (or a folder holding one), a Hugging Face
model id already in the local cache, or `approx` (about four characters a token; no download,
no dependency; the statistics say it is approximate).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from ftui.errors import FtuiError

BATCH = 1024


class ApproxTokenizer:
    name = "approx"
    exact = False

    def count(self, texts: Sequence[str]) -> list[int]:
        return [(len(t) + 3) // 4 for t in texts]


class FastTokenizer:
    exact = True

    def __init__(self, name: str, tokenizer) -> None:
        self.name, self._tok = name, tokenizer

    def count(self, texts: Sequence[str]) -> list[int]:
        out: list[int] = []
        for i in range(0, len(texts), BATCH):
            encs = self._tok.encode_batch(list(texts[i:i + BATCH]), add_special_tokens=False)
            out.extend(len(e.ids) for e in encs)
        return out


@lru_cache(maxsize=8)
def load_tokenizer(name: str | None):
    if not name or name == "approx":
        return ApproxTokenizer()
    try:
        from tokenizers import Tokenizer
    except ImportError as err:  # pragma: no cover - tokenizers is a dependency
        raise FtuiError("the tokenizers package is missing", "pip install tokenizers") from err
    path = Path(name).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
    if path.suffix == ".json" or path.exists():
        if not path.is_file():
            raise FtuiError(f"no tokenizer file at {path}",
                            "pass a tokenizer.json, a folder holding one, or approx")
        return FastTokenizer(str(path), Tokenizer.from_file(str(path)))
    try:
        return FastTokenizer(name, Tokenizer.from_pretrained(name))
    except Exception as err:  # the hub client raises many kinds; all mean "not available"
        raise FtuiError(
            f"cannot load the tokenizer {name!r}: not a file and not in the local model cache "
            f"({type(err).__name__})",
            "pass the path of the base model's tokenizer.json (or its folder), or --tokenizer "
            "approx",
        ) from err
