"""Datasets: rules, cleaning, dedup of planted near-duplicates, split, export round-trips."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from ftui.cli import main
from ftui.curate import DatasetSpec, build_dataset, examples_of, preview
from ftui.curate.export import export_dataset, preference_pairs
from ftui.errors import FtuiError
from ftui.ingest import import_files
from ftui.prompts import system_prompts
from ftui.resources import asset_path
from ftui.store import interactions as q

EVERYTHING = DatasetSpec(min_rating=None, include_unrated=True,
                         statuses=("new", "accepted", "rejected"), near_dup=None, val=0.0)


def keys(store, version):
    return [json.dumps(ex.messages, sort_keys=True) for ex in examples_of(store, version.id)]


def test_rating_status_and_unrated_rules(demo_store):
    stats = q.stats(demo_store)
    _, everything, _ = build_dataset(demo_store, "all", EVERYTHING.__class__(
        **{**EVERYTHING.as_dict(), "redact": "off"}))
    assert everything.matched == stats["total"]
    _, r, _ = build_dataset(demo_store, "good", DatasetSpec(min_rating=4, near_dup=None))
    assert r.examples and all(e.rating >= 4 for e in r.examples)
    ids = {e.interaction_id for e in r.examples}
    statuses = {q.get(demo_store, i).status for i in ids}
    assert "rejected" not in statuses
    _, r2, _ = build_dataset(demo_store, "good-and-unrated",
                             DatasetSpec(min_rating=4, include_unrated=True, near_dup=None))
    assert any(e.rating is None for e in r2.examples)
    assert all(e.rating is None or e.rating >= 4 for e in r2.examples)


def test_correction_replaces_the_reply_and_system_policy(demo_store):
    row = q.page_first(demo_store, q.InteractionFilter(rating_min=5, statuses=("new",)), 1)[0]
    q.set_correction(demo_store, row.id, "The corrected answer.")
    spec = DatasetSpec(min_rating=5, near_dup=None, system_prompt="mode", val=0.0)
    _, r, _ = build_dataset(demo_store, "corrected", spec)
    ex = next(e for e in r.examples if e.interaction_id == row.id)
    assert ex.messages[-1] == {"role": "assistant", "content": "The corrected answer."}
    assert ex.messages[0] == {"role": "system", "content": system_prompts()[ex.mode]}
    assert r.changed["corrected"] >= 1


def test_redaction_modes(demo_store):
    base = dict(min_rating=None, include_unrated=True, near_dup=None, val=0.0,
                tags=("contains-pii",), statuses=("new", "accepted", "rejected"))
    _, kept, _ = build_dataset(demo_store, "pii-redacted", DatasetSpec(**base, redact="redact"))
    text = " ".join(json.dumps(e.messages) for e in kept.examples)
    for secret in ("jane.doe@example.com", "AKIAIOSFODNN7EXAMPLE", "192.168.10.42",
                   "4111 1111 1111 1111", "ghp_R4nd0m"):
        assert secret not in text
    assert "<EMAIL>" in text and "<AWS_ACCESS_KEY>" in text
    dropped = preview(demo_store, DatasetSpec(**base, redact="drop"))
    assert dropped.removed["pii"] == kept.matched - len(dropped.examples)
    assert dropped.removed["pii"] >= 6
    with pytest.raises(FtuiError, match="no example is left"):  # nothing to freeze: said so
        build_dataset(demo_store, "pii-dropped", DatasetSpec(**base, redact="drop"))


def test_planted_near_duplicates_are_found(demo_store):
    planted = [json.loads(x) for x in asset_path("demo_interactions.jsonl").read_text().splitlines()
               if "near-duplicate" in x]
    assert len(planted) >= 8
    spec = DatasetSpec(min_rating=None, include_unrated=True, val=0.0,
                       statuses=("new", "accepted", "rejected"))
    _, r, _ = build_dataset(demo_store, "dedup", spec)
    prompts = Counter(m["content"].removeprefix("Hi! ") for e in r.examples
                      for m in e.messages if m["role"] == "user" and e.mode == "standard")
    for rec in planted:
        user = rec["messages"][1]["content"].removeprefix("Hi! ")
        # the planted copy and its original never both survive
        planted_reply = rec["messages"][-1]["content"]
        original_reply = planted_reply.removesuffix("\n\nHope this helps!")
        good_answers = [e for e in r.examples if e.mode == "standard"
                        and e.messages[1]["content"].removeprefix("Hi! ") == user
                        and e.messages[-1]["content"] in (planted_reply, original_reply)]
        assert len(good_answers) <= 1, user
    assert r.removed["near_duplicate"] >= len(planted)
    assert prompts  # the set is not empty


def test_split_is_deterministic_and_stratified(demo_store):
    spec = DatasetSpec(min_rating=None, include_unrated=True, val=0.2, test=0.1, seed=7)
    v1, r1, created1 = build_dataset(demo_store, "split", spec)
    v2, r2, created2 = build_dataset(demo_store, "split", spec)
    assert created1 and not created2 and v1.id == v2.id and r1.content_hash == r2.content_hash
    again = preview(demo_store, spec, sample=100_000)
    assert again.content_hash == r1.content_hash
    for mode, n in Counter(e.mode for e in r1.examples).items():
        val = sum(1 for e in r1.examples if e.mode == mode and e.split == "validation")
        test = sum(1 for e in r1.examples if e.mode == mode and e.split == "test")
        assert abs(val - 0.2 * n) <= 1 and abs(test - 0.1 * n) <= 1, mode
    other = preview(demo_store, DatasetSpec(**{**spec.as_dict(), "seed": 8}), sample=100_000)
    assert sorted(e.key for e in other.examples) == sorted(e.key for e in r1.examples)
    assert [e.split for e in sorted(other.examples, key=lambda e: e.key)] != \
        [e.split for e in sorted(r1.examples, key=lambda e: e.key)]


@pytest.fixture
def tokenizer_file(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    texts = [line for line in asset_path("demo_interactions.jsonl").read_text().splitlines()]
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=500, special_tokens=["[UNK]"]))
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    return str(path)


def test_length_rules_with_a_real_tokenizer(demo_store, tokenizer_file):
    base = dict(min_rating=None, include_unrated=True, near_dup=None, val=0.0,
                tokenizer=tokenizer_file, statuses=("new", "accepted", "rejected"))
    full = preview(demo_store, DatasetSpec(**base), sample=100_000)
    assert full.exact_tokens and full.tokenizer == tokenizer_file
    limit = sorted(e.tokens for e in full.examples)[len(full.examples) // 2]
    dropped = preview(demo_store, DatasetSpec(**base, max_tokens=limit), sample=100_000)
    assert all(e.tokens <= limit for e in dropped.examples)
    assert dropped.removed["too_long"] == sum(e.tokens > limit for e in full.examples)
    cut = preview(demo_store, DatasetSpec(**base, max_tokens=limit, over_length="truncate"),
                  sample=100_000)
    assert cut.changed.get("truncated", 0) >= 1
    by_id = {e.interaction_id: e for e in full.examples}
    for ex in cut.examples:
        orig = by_id[ex.interaction_id]
        assert ex.tokens <= limit
        assert ex.messages[-1] == orig.messages[-1]  # the final reply is never cut
        last_user = max(i for i, m in enumerate(orig.messages) if m["role"] == "user")
        assert ex.messages[-(len(orig.messages) - last_user):] == orig.messages[last_user:]


def test_unknown_tokenizer_is_a_clear_error(demo_store, tmp_path):
    with pytest.raises(FtuiError, match="no tokenizer file"):
        preview(demo_store, DatasetSpec(tokenizer=str(tmp_path / "missing.json")))


def same_meaning(messages: list[dict]) -> str:
    """A conversation without what a format adds or cannot carry: call ids (OpenAI's are made up
    when the source had none), arguments as JSON text or object, which call a result answers."""
    out = []
    for m in messages:
        calls = [{"name": c["function"]["name"], "arguments": json.loads(a) if isinstance(
            a := c["function"].get("arguments", {}), str) else a} for c in m.get("tool_calls") or []]
        out.append({"role": m["role"], "content": m.get("content") or "",
                    **({"tool_calls": calls} if calls else {})})
    return json.dumps(out, sort_keys=True)


@pytest.mark.parametrize("fmt", ["openai", "sharegpt", "alpaca"])
def test_export_reimports_to_the_same_conversations(demo_store, tmp_path, fmt):
    from ftui.store import open_store

    spec = DatasetSpec(min_rating=None, include_unrated=True, val=0.1)
    version, result, _ = build_dataset(demo_store, "rt", spec)
    out = export_dataset(demo_store, version.id, fmt, tmp_path / fmt)
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    report = import_files(fresh, list(out["files"].values()))
    assert report.skipped == 0, report.errors[:3]
    exported = {same_meaning(e.messages) for e in result.examples
                if fmt != "alpaca" or (not e.tools_json and len(
                    [m for m in e.messages if m["role"] != "system"]) == 2)}
    imported = {same_meaning(q.get(fresh, r.id).messages)
                for r in q.page_first(fresh, q.InteractionFilter(), 10_000)}
    assert imported == exported
    if fmt == "alpaca":
        assert sum(out["skipped"].values()) == len(result.examples) - len(exported) > 0


def test_hf_parquet_export(demo_store, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    version, result, _ = build_dataset(demo_store, "hf", DatasetSpec(min_rating=4))
    out = export_dataset(demo_store, version.id, "hf", tmp_path)
    table = pq.read_table(out["files"]["train"])
    assert table.num_rows == result.splits["train"]
    assert set(table.column_names) >= {"messages", "tools", "reasoning_mode", "rating", "tokens"}
    from ftui.store import open_store

    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    report = import_files(fresh, list(out["files"].values()))
    assert report.skipped == 0 and report.imported == len(result.examples)
    rows = [q.get(fresh, r.id) for r in q.page_first(fresh, q.InteractionFilter(), 10_000)]
    assert {same_meaning(r.messages) for r in rows} == \
        {same_meaning(e.messages) for e in result.examples}
    tools = {json.dumps(r.tools, sort_keys=True) for r in rows if r.tools}
    assert tools and tools == {json.dumps(json.loads(e.tools_json), sort_keys=True)
                               for e in result.examples if e.tools_json}
    modes = {q.get(fresh, r.id).reasoning_mode for r in q.page_first(fresh, q.InteractionFilter(), 10_000)}
    assert modes == {e.mode for e in result.examples}


def test_preference_pairs(demo_store):
    pairs = preference_pairs(demo_store)
    assert pairs
    for pair in pairs:
        kind, _, chosen_id = pair["chosen_source"].partition(":")
        if kind == "interaction":  # a correction beats every logged reply, its own included
            assert pair["chosen_rating"] > (pair["rejected_rating"] or 0)
            assert q.get(demo_store, int(chosen_id)).status != "rejected"
        assert pair["prompt"][-1]["role"] in ("user", "tool")
        assert pair["chosen"][0]["content"] != pair["rejected"][0]["content"]


def test_cli_dataset_export_redacts_unless_told(demo_store, tmp_path, capsys):
    spec = DatasetSpec(min_rating=None, include_unrated=True, near_dup=None, val=0.0,
                       tags=("contains-pii",), statuses=("new", "accepted"), redact="off")
    version, result, _ = build_dataset(demo_store, "pii", spec)
    db = demo_store.url
    for mode, leaks in (("redact", False), ("off", True)):
        out = tmp_path / mode
        assert main(["--db", db, "dataset", "export", str(version.id), "--format", "openai",
                     "--out", str(out), "--redact", mode, "--json"]) == 0
        text = (out / "train.jsonl").read_text()
        assert ("jane.doe@example.com" in text) is leaks, mode
    assert main(["--db", db, "dataset", "export", str(version.id), "--format", "openai",
                 "--out", str(tmp_path / "d"), "--redact", "drop", "--json"]) == 0
    got = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (tmp_path / "d" / "train.jsonl").read_text() == ""
    assert got["skipped"] == {"train": len(result.examples)} and "PII" in got["note"]


def test_cli_build_json_contract_and_same_hash(demo_store, capsys):
    db = demo_store.url
    assert main(["--db", db, "dataset", "build", "cli", "--min-rating", "3", "--test", "0.1",
                 "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert set(first) >= {"id", "hash", "splits", "removed"}
    assert set(first["splits"]) == {"train", "validation", "test"}
    assert first["splits"]["test"] > 0
    assert main(["--db", db, "dataset", "build", "cli", "--min-rating", "3", "--test", "0.1",
                 "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["id"], second["hash"], second["created"]) == (first["id"], first["hash"], False)
    assert main(["--db", db, "dataset", "build", "bad", "--val", "1.5"]) == 2
    assert "validation and test fractions" in capsys.readouterr().err
    assert main(["--db", db, "dataset", "diff", str(first["id"]), str(first["id"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["added"] == 0


def test_tag_rules_compare_tags_as_they_are_stored(demo_store):
    spec = dict(min_rating=None, include_unrated=True, near_dup=None, val=0.0,
                statuses=("new", "accepted", "rejected"))
    tagged = preview(demo_store, DatasetSpec(**spec, tags=("Contains PII",)))
    assert tagged.matched == 7
    rest = preview(demo_store, DatasetSpec(**spec, exclude_tags=("CONTAINS-PII",)))
    assert rest.matched == q.stats(demo_store)["total"] - 7


def _near_dup_corpus() -> list[str]:
    """Demo answers, near copies of them (a word changed, a line added) and look-alikes (a
    quarter of the words changed: below the threshold), in a fixed shuffled order."""
    import random

    from ftui.curate.dedup import normalized_text

    rng = random.Random(5)
    answers = sorted({json.loads(x)["messages"][-1]["content"] for x in
                      asset_path("demo_interactions.jsonl").read_text().splitlines()})[:150]
    docs = []
    for a in answers:
        words = a.split()
        docs.append(a)
        if len(words) > 12:
            copy = list(words)
            copy[rng.randrange(len(copy))] = "changed"
            docs.append(" ".join(copy) + rng.choice(["", " Hope this helps!"]))
            alike = [w if rng.random() > 0.25 else f"w{rng.randrange(99)}" for w in words]
            docs.append(" ".join(alike))
    rng.shuffle(docs)
    return [normalized_text([{"role": "assistant", "content": d}]) for d in docs]


def test_near_duplicates_are_the_exact_greedy_choice():
    """rensa proposes, the exact Jaccard decides: the result is the best-first greedy choice over
    exact shingle sets (brute force here), and agrees with today's datasketch path."""
    from ftui.curate.dedup import SHINGLE, NearDuplicates, words_of

    texts = _near_dup_corpus()
    index = NearDuplicates(0.85)
    for t in texts:
        index.add(t)
    got = index.duplicates()

    def grams(t):
        w = words_of(t)
        return {tuple(w)} if len(w) <= SHINGLE else \
            {tuple(w[i:i + SHINGLE]) for i in range(len(w) - SHINGLE + 1)}

    kept, expected = [], []
    for t in texts:
        g = grams(t)
        dup = any(len(g & k) / len(g | k) >= 0.85 for k in kept)
        expected.append(dup)
        if not dup:
            kept.append(g)
    assert sum(expected) >= 100  # the corpus really plants copies
    assert got == expected

    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).parent / "benchmarks" / "reference_dedup.py"
    spec = importlib.util.spec_from_file_location("reference_dedup", path)
    sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(sys.modules[spec.name])
    old = sys.modules[spec.name].NearDuplicates(0.85)
    before = [old.seen_before(i, t) is not None for i, t in enumerate(texts)]
    differ = sum(a != b for a, b in zip(before, got, strict=True))
    assert differ <= 0.005 * sum(before) + 1, differ


@pytest.mark.parametrize("text", ["Hello, World! it's 3.14 — ok_go", "ascii only: a-b c_d 42",
                                  "jürgen — Ünïcode wörds", "用户 说 你好", "", "   "])
def test_words_of_is_the_word_regex(text):
    import re

    from ftui.curate.dedup import words_of

    want = re.findall(r"\w+", text.lower())
    assert [w.decode() if isinstance(w, bytes) else w for w in words_of(text)] == want


def test_near_duplicates_do_not_depend_on_how_texts_are_chunked(monkeypatch):
    """Words are hashed a chunk of texts at a time, chunks on threads: chunks of one text or
    fewer (a text longer than a chunk, an empty text) give the same decisions as one chunk."""
    import ftui.curate.dedup as dedup

    texts = _near_dup_corpus() + ["", "one", "two words", "x " * 5000]
    texts += texts[-4:]

    def decide() -> list[bool]:
        index = dedup.NearDuplicates(0.85)
        for t in texts:
            index.add(t)
        return index.duplicates()

    whole = decide()
    monkeypatch.setattr(dedup, "_CHUNK_BYTES", 64)
    assert decide() == whole
    assert whole[-4:] == [True] * 4 and sum(whole) >= 100
