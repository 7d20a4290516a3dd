"""Issue 16, the rest: the faster select and freeze give the very result of the plain path, and
F2's preview answers sooner and highlights every placeholder redaction writes."""

from __future__ import annotations

import hashlib
import re

import pytest

from ftui.conversation import canonical_json
from ftui.curate import DatasetSpec, build_dataset, examples_of
from ftui.curate.build import run_pipeline, select_candidates
from ftui.curate.redact import KINDS, redact
from ftui.prompts import system_prompts
from ftui.store import interactions as q


def plain_key(messages, tools_json) -> str:
    """The example key as defined: sha256 of the canonical JSON and the tools."""
    raw = canonical_json(messages) + "\x1f" + (tools_json or "")
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


SPECS = {
    "as logged": DatasetSpec(min_rating=None, include_unrated=True, near_dup=None, val=0.2),
    "mode prompts, truncated": DatasetSpec(min_rating=None, include_unrated=True, val=0.2,
                                           system_prompt="mode", max_tokens=60,
                                           over_length="truncate"),
    "pii kept": DatasetSpec(min_rating=None, include_unrated=True, redact="off"),
}


@pytest.mark.parametrize("name", SPECS)
def test_keys_and_stored_json_are_those_of_the_final_conversation(demo_store, name):
    # a correction, redactions (the demo has PII) and untouched conversations side by side
    row = q.page_first(demo_store, q.InteractionFilter(rating_min=5), 1)[0]
    q.set_correction(demo_store, row.id, "Corrected, with jane.doe@example.com inside.")
    version, result, _ = build_dataset(demo_store, "keys-" + re.sub(r"[^A-Za-z0-9._:-]+", "-", name), SPECS[name])
    assert result.changed.get("corrected") == 1
    if name != "pii kept":
        assert result.changed.get("redacted_examples", 0) > 0
    for ex in result.examples:
        assert ex.key == plain_key(ex.messages, ex.tools_json)
        assert ex.messages_json == canonical_json(ex.messages)
    frozen = {e.example_key: e.messages for e in examples_of(demo_store, version.id)}
    assert frozen == {e.key: e.messages for e in result.examples}


def test_the_preview_sample_is_the_best_matches_in_order(demo_store):
    spec = DatasetSpec(min_rating=None, include_unrated=True)
    every = list(select_candidates(demo_store, spec))
    assert len(every) > 100
    for limit in (1, 37, 100):
        assert list(select_candidates(demo_store, spec, limit=limit)) == every[:limit]


def test_a_limited_pipeline_equals_the_full_one_on_the_same_rows(demo_store):
    spec = DatasetSpec(min_rating=None, include_unrated=True, val=0.2)
    rows = list(select_candidates(demo_store, spec))[:120]
    a = run_pipeline(rows, spec, system_prompts())
    b = run_pipeline(select_candidates(demo_store, spec, limit=120), spec, system_prompts())
    assert a.content_hash == b.content_hash


def test_every_placeholder_is_highlighted():
    from ftui.screens.datasets import highlight_redactions

    assert {"PASSWORD", "TOKEN"} <= set(KINDS)
    for kind in KINDS:
        text = f"before <{kind}> after"
        spans = highlight_redactions(text).spans
        assert [(s.start, s.end) for s in spans] == [(7, 9 + len(kind))], kind
    # what redaction writes for a password in a URL and a bearer token is highlighted
    written, found = redact("postgres://bob:hunter2x@db.example.com/x and "
                            "Authorization: Bearer abc123def456ghi789")
    assert set(found) == {"PASSWORD", "TOKEN"}
    assert len(highlight_redactions(written).spans) == 2


def test_the_preview_debounce_is_short():
    from ftui.screens.datasets import PREVIEW_DELAY_S

    assert 0.05 <= PREVIEW_DELAY_S <= 0.2
