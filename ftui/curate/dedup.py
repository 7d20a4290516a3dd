"""Exact and near-duplicate detection.

Exact: the normalized text (lower case, collapsed whitespace) of every turn, hashed.
Near: MinHash over word 3-gram shingles with LSH, then the exact Jaccard similarity of the two
shingle sets for every candidate, so MinHash only proposes and never decides. Examples are fed
best-first and an example is a near copy when an earlier *kept* one is similar enough.

Speed (issue 16): words become 64-bit ids (blake2b of the word, cached), the 3-grams of all
examples are hashed at once with numpy, and `rensa` (MinHash in Rust) sketches them all in one
call. rensa's LSH index then flags the examples that share an LSH band with any other: the rest
(most of a real log) cannot be near copies and cost nothing more. Only the flagged ones go
through the best-first pass, in Python, with the same bands. Deterministic: same data, same
decisions, on every run.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections.abc import Iterable

# 16 bands of 10 values: P(candidate) is 0.970 at Jaccard 0.85, 0.999 at 0.9 (datasketch's choice
# for ftui's old index, 14 bands of 9, gave 0.975 and 0.999) and 0.09 at 0.6 (0.13), which keeps the
# share of flagged examples (those that go on to the pass in Python) small.
BANDS, ROWS = 16, 10
NUM_PERM = BANDS * ROWS
SEED = 1
SHINGLE = 3  # word 3-grams: short chat texts, where an edit at each end must not dominate
_WORD = re.compile(r"\w+")
# ASCII text: lower case, and every byte that \w does not match becomes a space (then split)
_WORD_BYTES = bytes(
    (c + 32) if 65 <= c <= 90 else c if (48 <= c <= 57 or 97 <= c <= 122 or c == 95) else 32
    for c in range(256))
# Common non-word characters outside ASCII (dashes, quotes, bullets, arrows): a space in their
# place changes no word, and often leaves ASCII text for the fast path.
_NON_WORD = tuple("\u2014\u2013\u2012\u2010\u2011\u2018\u2019\u201c\u201d\u2026\u2022\u00b7"
                  "\u00a0\u2192\u2190\u00d7\u00ab\u00bb\u2212\u2248\u2264\u2265\u00b0")
assert not any(_WORD.match(c) for c in _NON_WORD)
_PAD = (0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0)  # stand-ins for no word
_MASK = (1 << 64) - 1


def normalized_text(messages: Iterable[dict]) -> str:
    # a list and + rather than a generator and an f-string: a quarter faster on 100k examples
    return "\n".join([m["role"] + ": " + " ".join(m.get("content", "").lower().split())
                      for m in messages])


def exact_key(messages: list[dict]) -> bytes:
    return hashlib.sha1(normalized_text(messages).encode()).digest()


def words_of(text: str) -> list[bytes]:
    """The words of text, lower case, as `\\w+` finds them (bytes for ASCII text, else str)."""
    if not text.isascii():
        for c in _NON_WORD:
            if c in text:
                text = text.replace(c, " ")
        if not text.isascii():
            return _WORD.findall(text.lower())
    return text.encode("ascii").translate(_WORD_BYTES).split()


class _Vocabulary(dict):
    """word -> 64-bit id (blake2b of its UTF-8: the same on every run and machine, unlike
    hash(), and the same for a word met as bytes or as str)."""

    def __missing__(self, word: bytes | str) -> int:
        raw = word if isinstance(word, bytes) else word.encode("utf-8", "surrogatepass")
        value = self[word] = int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little")
        return value


# Shared by every index: a word's id never changes, so the live preview, asked again after each
# rule change, finds the words of the last one already there. Bounded: emptied when it grows big.
_VOCABULARY = _Vocabulary()
_VOCABULARY_LIMIT = 2_000_000


def _mix(a, b, c):
    """A 64-bit hash of three word ids, order-sensitive (numpy arrays or ints)."""
    import numpy as np

    h = (a * np.uint64(0x9E3779B97F4A7C15)) ^ (b * np.uint64(0xC2B2AE3D27D4EB4F)) \
        ^ (c * np.uint64(0x165667B19E3779F9))
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    return h ^ (h >> np.uint64(33))


class NearDuplicates:
    """`add` every example best-first, then `duplicates()` says which ones are near copies
    (exact Jaccard >= threshold) of an earlier example that was kept."""

    SCREEN_MARGIN = 0.12  # estimated Jaccard this far below the threshold still gets checked

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._words = array("Q")
        self._ends: list[int] = []
        if len(_VOCABULARY) > _VOCABULARY_LIMIT:
            _VOCABULARY.clear()
        self._vocab = _VOCABULARY

    def __len__(self) -> int:
        return len(self._ends)

    def add(self, text: str) -> None:
        self._words.extend(map(self._vocab.__getitem__, words_of(text)))
        self._ends.append(len(self._words))

    def _shingles(self):
        """Every example's shingle hashes, one flat uint64 array, and the row offsets."""
        import numpy as np

        words = np.frombuffer(self._words, dtype=np.uint64) if self._words else \
            np.zeros(0, dtype=np.uint64)
        ends = np.asarray(self._ends, dtype=np.int64)
        counts = np.diff(ends, prepend=0)
        long = counts >= SHINGLE
        per_row = np.where(long, counts - (SHINGLE - 1), 1)
        offsets = np.concatenate(([0], np.cumsum(per_row))).astype(np.uint64)
        flat = np.empty(int(offsets[-1]), dtype=np.uint64)
        in_long_row = np.repeat(long, per_row)
        if words.size >= SHINGLE:
            with np.errstate(over="ignore"):
                grams = _mix(words[:-2], words[1:-1], words[2:])
            row_end = np.repeat(ends, counts)[:-2]
            flat[in_long_row] = grams[np.arange(words.size - 2) + 2 < row_end]
        short = np.flatnonzero(~long)
        if short.size:  # fewer than 3 words: one shingle of what there is
            starts = ends - counts
            values = []
            for i in short.tolist():
                ids = [*self._words[starts[i]:ends[i]], *_PAD][:3]
                ids[2] = _PAD[2]
                with np.errstate(over="ignore"):
                    values.append(int(_mix(*(np.uint64(x) for x in ids))))
            flat[~in_long_row] = np.asarray(values, dtype=np.uint64)
        return flat, offsets

    def duplicates(self) -> list[bool]:
        import numpy as np
        from rensa import RMinHash, RMinHashLSH

        n = len(self._ends)
        if n < 2:
            return [False] * n
        flat, offsets = self._shingles()
        digests = RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, NUM_PERM, SEED)
        index = RMinHashLSH(threshold=self.threshold, num_perm=NUM_PERM, num_bands=BANDS)
        # An example that shares no band with any other can be no one's near copy: done.
        flagged = np.flatnonzero(index.query_duplicate_flags_matrix_one_shot(digests))
        out = [False] * n
        if not flagged.size:
            return out
        counts = np.diff(offsets.astype(np.int64))
        take = np.repeat(np.isin(np.arange(n), flagged), counts)
        sub_offsets = np.concatenate(([0], np.cumsum(counts[flagged]))).astype(np.uint64)
        sigs = np.array(RMinHash.digest_matrix_from_flat_token_hashes(
            flat[take], sub_offsets, NUM_PERM, SEED).to_rows(), dtype=np.uint32)
        # one 64-bit key per band (a band matches when all its ROWS values do)
        parts = sigs.astype(np.uint64).reshape(len(sigs), BANDS, ROWS)
        band_keys = np.zeros((len(sigs), BANDS), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for r in range(ROWS):
                band_keys = _mix(band_keys, parts[:, :, r], np.uint64(r))
        starts = offsets[:-1].astype(np.int64)
        sets: dict[int, frozenset] = {}

        def shingle_set(k: int) -> frozenset:
            found = sets.get(k)
            if found is None:
                i = int(flagged[k])
                found = sets[k] = frozenset(flat[starts[i]:starts[i] + counts[i]].tolist())
            return found

        tables: list[dict[tuple, list[int]]] = [{} for _ in range(BANDS)]
        floor = self.threshold - self.SCREEN_MARGIN
        for k, keys in enumerate(band_keys.tolist()):
            hits = [hit for hit in map(dict.get, tables, keys) if hit]
            if hits and self._near_copy(k, {c for hit in hits for c in hit}, sigs, shingle_set,
                                        floor):
                out[int(flagged[k])] = True
                continue
            for table, key in zip(tables, keys, strict=True):
                table.setdefault(key, []).append(k)
        return out

    def _near_copy(self, k, candidates, sigs, shingle_set, floor) -> bool:
        """Candidates best estimate first (one numpy comparison for all of them, so a dense
        cluster of look-alikes stays cheap); the exact Jaccard of the shingle sets decides."""
        import numpy as np

        order = list(candidates)
        estimates = (sigs[order] == sigs[k]).mean(axis=1)
        mine = shingle_set(k)
        for i in np.argsort(-estimates, kind="stable").tolist():
            if estimates[i] < floor:
                break
            c = order[i]
            theirs = shingle_set(c)
            inter = len(mine & theirs)
            if inter / (len(mine) + len(theirs) - inter) >= self.threshold:
                return True
        return False
