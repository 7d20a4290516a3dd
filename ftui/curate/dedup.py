"""Exact and near-duplicate detection.

Exact: the normalized text (lower case, collapsed whitespace) of every turn, hashed.
Near: MinHash over word 3-gram shingles with LSH, then the exact Jaccard similarity of the two
shingle sets for every candidate, so MinHash only proposes and never decides. Examples are fed
best-first and an example is a near copy when an earlier *kept* one is similar enough.

Speed (issue 16): `add` only keeps the text's words as one byte string; `duplicates` hashes
every word of every example at once with numpy (a polynomial hash of its bytes: the same on
every run and machine), then the 3-grams, and `rensa` (MinHash in Rust) sketches them all in
one call. rensa's LSH index flags the examples that share an LSH band with any other: the rest
(most of a real log) cannot be near copies and cost nothing more. The flagged ones give every
pair that shares a band (numpy, sorting each band), the MinHash estimate screens the pairs,
and the exact Jaccard decides, best-first, in Python over the few pairs left. Big buckets of
look-alikes (more pairs than PAIR_BUDGET) go through the sequential pass instead, which only
compares with kept examples. Deterministic: same data, same decisions, on every run.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

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


def normalized_text(messages: Iterable[dict]) -> str:
    # a list and + rather than a generator and an f-string: a quarter faster on 100k examples
    return "\n".join([m["role"] + ": " + " ".join(m.get("content", "").lower().split())
                      for m in messages])


def exact_key(messages: list[dict]) -> bytes:
    return hashlib.sha1(normalized_text(messages).encode()).digest()


def _words(text: str) -> bytes | list[str]:
    """ASCII text (or text that becomes ASCII once common punctuation is a space): its bytes with
    every non-word byte a space, lower case. Else its words, as `\\w+` finds them."""
    if not text.isascii():
        for c in _NON_WORD:  # the commonest first; isascii() is O(1) (CPython keeps a flag)
            if c in text:
                text = text.replace(c, " ")
                if text.isascii():
                    break
        else:
            return _WORD.findall(text.lower())
    return text.encode("ascii").translate(_WORD_BYTES)


def words_of(text: str) -> list[bytes] | list[str]:
    """The words of text, lower case, as `\\w+` finds them (bytes for ASCII text, else str)."""
    words = _words(text)
    return words.split() if isinstance(words, bytes) else words


_PAD_WORDS = (b"!a", b"!b", b"!c")  # stand-ins for missing words: "!" is in no word
_PRIME = 0x100000001B3  # odd, so invertible modulo 2**64
_CHUNK_BYTES = 1 << 20  # texts hashed together: numpy's arrays stay in the CPU's cache


def word_bytes(text: str) -> bytes:
    """The words of text (as `words_of`), UTF-8, separated by spaces; at least SHINGLE of them
    (stand-ins fill a shorter text up)."""
    words = _words(text)
    out = words if isinstance(words, bytes) else " ".join(words).encode("utf-8", "surrogatepass")
    found = len(out.split(None, SHINGLE - 1))
    if found < SHINGLE:
        out = b" ".join([out, *_PAD_WORDS[found:]]) if found else b" ".join(_PAD_WORDS)
    return out


def _fmix(h):
    """Murmur3's 64-bit finalizer, in place on a numpy uint64 array."""
    import numpy as np

    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


class _Powers:
    """P**i and P**-i modulo 2**64 for i < n, grown on demand (shared: they never change; a
    new pair is made whole before it replaces the old one, so threads can share them)."""

    def __init__(self) -> None:
        self.pair = None

    def get(self, n: int):
        import numpy as np

        pair = self.pair
        if pair is None or len(pair[0]) < n:
            size = max(n, _CHUNK_BYTES + 1)
            up = np.full(size, _PRIME, dtype=np.uint64)
            down = np.full(size, pow(_PRIME, -1, 1 << 64), dtype=np.uint64)
            up[0] = down[0] = 1
            with np.errstate(over="ignore"):  # wraps modulo 2**64, as meant
                np.cumprod(up, out=up)
                np.cumprod(down, out=down)
            pair = self.pair = (up, down)
        return pair[0][:n], pair[1][:n]


_POWERS = _Powers()


def _chunk_shingles(chunk: list[bytes]):
    """The shingle hashes of a few texts (word buffers), one flat array, and each text's count.
    A word's hash is a polynomial hash of its bytes (the same on every run and machine), all
    words at once: prefix sums of byte * P**position, then P**-start."""
    import numpy as np

    joined = b" ".join(chunk) + b" "  # the last space ends the last word
    a = np.frombuffer(joined, dtype=np.uint8)
    up, down = _POWERS.get(a.size + 1)
    is_word = (a != 32).view(np.int8)
    edges = np.diff(is_word, prepend=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    with np.errstate(over="ignore"):
        sums = np.empty(a.size + 1, dtype=np.uint64)
        sums[0] = 0
        np.cumsum((a - np.uint8(32)).astype(np.uint64) * up[:a.size], out=sums[1:])
        words = (sums[ends] - sums[starts]) * down[starts]
        words += (ends - starts).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        _fmix(words)
        grams = _mix(words[:-2], words[1:-1], words[2:])
    text_starts = np.cumsum([0] + [len(t) + 1 for t in chunk[:-1]])
    first_word = np.searchsorted(starts, text_starts)
    words_in = np.diff(first_word, append=starts.size)  # >= SHINGLE: see word_bytes
    row = np.repeat(np.arange(len(chunk)), words_in)
    flat = grams[row[:-2] == row[2:]]  # the 3 words in one text
    return flat, words_in - (SHINGLE - 1)


def _done(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def _mix(a, b, c):
    """A 64-bit hash of three word hashes, order-sensitive (numpy arrays)."""
    import numpy as np

    h = (a * np.uint64(0x9E3779B97F4A7C15)) ^ (b * np.uint64(0xC2B2AE3D27D4EB4F)) \
        ^ (c * np.uint64(0x165667B19E3779F9))
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    return h ^ (h >> np.uint64(33))


def _band_pairs(band_keys, budget: int):
    """Every pair (i < j) of rows that share a band value, once: (i, j) as two arrays. None when
    there would be more than `budget` before duplicates are dropped."""
    import numpy as np

    n = len(band_keys)
    found = []
    total = 0
    for band in range(band_keys.shape[1]):
        order = np.argsort(band_keys[:, band], kind="stable")
        keys = band_keys[order, band]
        new_group = np.empty(n, dtype=bool)
        new_group[0] = True
        np.not_equal(keys[1:], keys[:-1], out=new_group[1:])
        group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
        before = np.arange(n) - group_start  # members of the group ahead of this one
        count = int(before.sum())
        total += count
        if total > budget:
            return None
        if not count:
            continue
        later = np.repeat(np.arange(n), before)
        first = np.repeat(group_start, before) + (
            np.arange(count) - np.repeat(np.cumsum(before) - before, before))
        a, b = order[first], order[later]
        found.append(np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b))
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    unique = np.unique(np.concatenate(found))
    return unique // n, unique % n


class NearDuplicates:
    """`add` every example best-first, then `duplicates()` says which ones are near copies
    (exact Jaccard >= threshold) of an earlier example that was kept."""

    SCREEN_MARGIN = 0.12  # estimated Jaccard this far below the threshold still gets checked
    PAIR_BUDGET = 4_000_000  # candidate pairs met at once; beyond, the sequential pass

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._texts: list[bytes] = []
        # Chunks of texts already handed to threads (numpy lets go of the GIL on big arrays):
        # while the build goes on with the next examples, another core hashes these.
        self._chunks: list[Future] = []
        self._queued = 0  # texts in those chunks
        self._pending = 0  # bytes of the texts not in a chunk yet
        self._pool: ThreadPoolExecutor | None = None

    def __len__(self) -> int:
        return len(self._texts)

    def add(self, text: str) -> None:
        words = word_bytes(text)
        self._texts.append(words)
        self._pending += len(words) + 1
        if self._pending >= _CHUNK_BYTES:
            self._queue()

    def _queue(self) -> None:
        chunk = self._texts[self._queued:]
        self._queued, self._pending = len(self._texts), 0
        if self._pool is None:
            if (os.cpu_count() or 1) < 2:  # one core: no one to hand it to
                self._chunks.append(_done(_chunk_shingles(chunk)))
                return
            self._pool = ThreadPoolExecutor(min(4, os.cpu_count() or 1),
                                            thread_name_prefix="ftui-shingles")
        self._chunks.append(self._pool.submit(_chunk_shingles, chunk))

    def _shingles(self):
        """Every example's shingle hashes, one flat uint64 array, and the row offsets."""
        import numpy as np

        if self._queued < len(self._texts):
            self._queue()
        try:
            done = [chunk.result() for chunk in self._chunks]
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
            self._pool, self._chunks, self._queued = None, [], 0
        offsets = np.zeros(len(self._texts) + 1, dtype=np.uint64)
        np.cumsum(np.concatenate([count for _, count in done]), out=offsets[1:])
        return np.concatenate([flat for flat, _ in done]), offsets

    def duplicates(self) -> list[bool]:
        import numpy as np
        from rensa import RMinHash, RMinHashLSH

        n = len(self._texts)
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

        floor = self.threshold - self.SCREEN_MARGIN
        pairs = _band_pairs(band_keys, self.PAIR_BUDGET)
        if pairs is None:  # big buckets of look-alikes: compare with kept examples only
            self._sequential(band_keys, sigs, shingle_set, floor, flagged, out)
            return out
        lo, hi = pairs
        estimates = np.empty(lo.size)
        for a in range(0, lo.size, 65536):  # bounded memory: 64k pairs of signatures at a time
            b = a + 65536
            estimates[a:b] = (sigs[lo[a:b]] == sigs[hi[a:b]]).mean(axis=1)
        near = estimates >= floor
        lo, hi, estimates = lo[near], hi[near], estimates[near]
        # By later example, then best estimate first: the same checks as the sequential pass
        # (each example against the kept examples sharing a band with it), in one order.
        order = np.lexsort((-estimates, hi))
        copy = [False] * len(flagged)
        for i, k in zip(lo[order].tolist(), hi[order].tolist(), strict=True):
            if copy[k] or copy[i]:
                continue
            mine, theirs = shingle_set(k), shingle_set(i)
            inter = len(mine & theirs)
            if inter / (len(mine) + len(theirs) - inter) >= self.threshold:
                copy[k] = True
        for k in np.flatnonzero(copy).tolist():
            out[int(flagged[k])] = True
        return out

    def _sequential(self, band_keys, sigs, shingle_set, floor, flagged, out) -> None:
        tables: list[dict[int, list[int]]] = [{} for _ in range(BANDS)]
        for k, keys in enumerate(band_keys.tolist()):
            hits = [hit for hit in map(dict.get, tables, keys) if hit]
            if hits and self._near_copy(k, {c for hit in hits for c in hit}, sigs, shingle_set,
                                        floor):
                out[int(flagged[k])] = True
                continue
            for table, key in zip(tables, keys, strict=True):
                table.setdefault(key, []).append(k)

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
