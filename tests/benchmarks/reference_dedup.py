"""Exact and near-duplicate detection.

Exact: the normalized text (lower case, collapsed whitespace) of every turn, hashed.
Near: MinHash over word 3-gram shingles with LSH (datasketch), so each new example is compared
only with the few candidates that share an LSH band: linear in the number of examples. Shingles
are hashed with crc32, not Python's salted hash(), so results are the same on every run.
"""

# Today's path, kept for bench_dataset.py and the equivalence tests: ftui's near-duplicate detection
# before issue 16 (ftui/curate at commit e675bde). Not used by ftui itself; do not change it.

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable

NUM_PERM = 128
SHINGLE = 3  # word 3-grams: short chat texts, where an edit at each end must not dominate
_WORD = re.compile(r"\w+")


def normalized_text(messages: Iterable[dict]) -> str:
    return "\n".join(
        f"{m['role']}: {' '.join(m.get('content', '').lower().split())}" for m in messages
    )


def exact_key(messages: list[dict]) -> bytes:
    return hashlib.sha1(normalized_text(messages).encode()).digest()


def _crc(data: bytes) -> int:
    return zlib.crc32(data)


def shingles(text: str) -> list[bytes]:
    words = _WORD.findall(text.lower())
    if len(words) <= SHINGLE:
        return [" ".join(words).encode()] if words else [b""]
    return [" ".join(words[i:i + SHINGLE]).encode() for i in range(len(words) - SHINGLE + 1)]


class NearDuplicates:
    """Feed examples best-first; `seen_before` says whether one is a near copy of an earlier one.

    LSH is queried at a looser threshold than asked (fewer missed pairs). Candidates are screened
    at once by comparing MinHash signatures in one numpy operation, and the few that come close
    are checked with the exact Jaccard similarity of the two shingle sets (no false matches from
    MinHash's estimate). Dense clusters of look-alikes just under the threshold then cost one
    vector comparison each, not one set intersection each."""

    SCREEN_MARGIN = 0.12  # estimated Jaccard this far below the threshold still gets checked

    def __init__(self, threshold: float) -> None:
        from datasketch import MinHash, MinHashLSH  # imported here: not at the app's start

        self._MinHash = MinHash
        self.threshold = threshold
        self.lsh = MinHashLSH(threshold=max(0.5, threshold - 0.15), num_perm=NUM_PERM)
        self._sets: dict = {}  # key -> sorted unique shingle hashes (numpy array)
        self._sigs: dict = {}  # key -> MinHash signature
        self._template = MinHash(num_perm=NUM_PERM, seed=1, hashfunc=_crc)

    def seen_before(self, key: int, text: str) -> int | None:
        """The key of an earlier near copy (Jaccard >= threshold), else None; in that case the
        example is remembered for the ones that follow."""
        import numpy as np

        grams = shingles(text)
        hashes = np.unique(np.fromiter((zlib.crc32(g) for g in grams), dtype=np.uint32,
                                       count=len(grams)))
        m = self._MinHash(num_perm=NUM_PERM, seed=1, hashfunc=_crc, scheme=self._template.scheme,
                    permutations=self._template.permutations)  # reuse: no per-example setup
        m.update_batch(grams)
        candidates = self.lsh.query(m)
        if candidates:
            sigs = np.stack([self._sigs[c] for c in candidates])
            estimates = (sigs == m.hashvalues).mean(axis=1)
            for i in np.argsort(-estimates):
                if estimates[i] < self.threshold - self.SCREEN_MARGIN:
                    break
                theirs = self._sets[candidates[i]]
                inter = np.intersect1d(hashes, theirs, assume_unique=True).size
                if inter / (hashes.size + theirs.size - inter) >= self.threshold:
                    return candidates[i]
        self.lsh.insert(key, m, check_duplication=False)
        self._sets[key] = hashes
        self._sigs[key] = m.hashvalues
        return None
