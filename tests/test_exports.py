"""The data path out of the store: which reply a correction replaces, the one writer of training
data (redaction, corrections, status rules), and exports checked against other tools' rules."""

from __future__ import annotations

import json

from ftui.conversation import apply_correction, reply_index, reply_text
from ftui.curate import DatasetSpec, build_dataset, examples_of
from ftui.ingest import log_interaction
from ftui.store import interactions as q

ENDS_IN_A_CALL = [
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "2+2 is 5."},
    {"role": "user", "content": "Check it with the calculator."},
    {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "calc", "arguments": {"x": "2+2"}}}]},
]


def test_the_reply_is_the_last_assistant_text_not_a_later_tool_call():
    assert reply_index(ENDS_IN_A_CALL) == 1
    assert reply_text(ENDS_IN_A_CALL) == "2+2 is 5."
    fixed = apply_correction(ENDS_IN_A_CALL, "2+2 is 4.")
    assert fixed == [ENDS_IN_A_CALL[0], {"role": "assistant", "content": "2+2 is 4."}]
    only_calls = ENDS_IN_A_CALL[:1] + ENDS_IN_A_CALL[3:]
    assert reply_index(only_calls) == 1 and reply_text(only_calls) == ""
    assert reply_index([{"role": "user", "content": "hi"}]) is None
    assert apply_correction(ENDS_IN_A_CALL, None) is None


def test_build_puts_the_correction_into_the_turn_the_editor_showed(store):
    row = log_interaction(store, ENDS_IN_A_CALL, mode="agent", rating=5)
    q.set_correction(store, row.id, "2+2 is 4.")
    version, result, _ = build_dataset(store, "fix", DatasetSpec(near_dup=None, val=0.0))
    (ex,) = examples_of(store, version.id)
    text = json.dumps(ex.messages)
    assert "2+2 is 5." not in text
    assert ex.messages[-1] == {"role": "assistant", "content": "2+2 is 4."}
    assert "tool_calls" not in text  # the call answered the replaced reply: dropped with it
    assert result.changed["corrected"] == 1
