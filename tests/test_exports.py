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


def test_train_on_last_labels_the_reply_a_correction_replaces(home):
    from ftui.train.base import load_base
    from ftui.train.data import IGNORE, encode

    tok, _ = load_base("tiny", home)
    enc = encode(tok, ENDS_IN_A_CALL, max_len=512, train_on="last")
    trained = tok.decode([t for t, lab in zip(enc.input_ids, enc.labels, strict=True)
                          if lab != IGNORE])
    assert trained == "2+2 is 5.<|im_end|>"


# ---------------------------------------------------------------- one writer: redaction, status

SECRETS = {"EMAIL": "jane.doe@example.com", "AWS_ACCESS_KEY": "AKIAIOSFODNN7EXAMPLE",
           "CREDIT_CARD": "4111 1111 1111 1111", "PHONE": "+1 415 555 0132"}


def _pii_pairs_store(store):
    prompt = [{"role": "user", "content": f"I am {SECRETS['EMAIL']}, key {SECRETS['AWS_ACCESS_KEY']}."
                                          " What now?"}]
    good = log_interaction(store, [*prompt, {"role": "assistant", "content":
                                             f"Charge card {SECRETS['CREDIT_CARD']} now."}],
                           rating=5)
    bad = log_interaction(store, [*prompt, {"role": "assistant", "content":
                                            f"Call me at {SECRETS['PHONE']}."}], rating=1)
    return good, bad


def test_dataset_pairs_redacts_by_default_4_of_4(store, tmp_path, capsys):
    from ftui.cli import main

    _pii_pairs_store(store)
    out = tmp_path / "pairs.jsonl"
    assert main(["--db", store.url, "dataset", "pairs", "--out", str(out), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    text = out.read_text()
    assert got["pairs"] == 1 and len(text.splitlines()) == 1
    leaked = [kind for kind, secret in SECRETS.items() if secret in text]
    assert leaked == []
    assert all(f"<{kind}>" in text for kind in SECRETS)
    assert set(got["redacted"]) >= set(SECRETS)
    assert main(["--db", store.url, "dataset", "pairs", "--out", str(out), "--redact", "drop",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pairs"] == 0 and out.read_text() == ""
    assert main(["--db", store.url, "dataset", "pairs", "--out", str(out), "--redact", "off"]) == 0
    assert all(secret in out.read_text() for secret in SECRETS.values())


def test_arena_pairs_redact_by_default(store, tmp_path, capsys):
    from ftui.ab.arena import record_vote
    from ftui.cli import main

    record_vote(store, model_a="m1", model_b="m2", left="A", winner="A",
                messages=[{"role": "user", "content": f"mail {SECRETS['EMAIL']}"}],
                answer_a=f"key {SECRETS['AWS_ACCESS_KEY']} card {SECRETS['CREDIT_CARD']}",
                answer_b=f"phone {SECRETS['PHONE']}")
    out = tmp_path / "arena.jsonl"
    assert main(["--db", store.url, "ab", "pairs", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pairs"] == 1
    text = out.read_text()
    assert [kind for kind, secret in SECRETS.items() if secret in text] == []
    assert main(["--db", store.url, "ab", "pairs", "--out", str(out), "--redact", "drop"]) == 0
    assert out.read_text() == ""


def test_a_rejected_reply_is_never_the_chosen_side(store):
    from ftui.curate.export import preference_pairs

    prompt = [{"role": "user", "content": "Name a prime."}]
    rejected = log_interaction(store, [*prompt, {"role": "assistant", "content": "9"}], rating=5)
    q.set_status(store, rejected.id, "rejected")
    fair = log_interaction(store, [*prompt, {"role": "assistant", "content": "7"}], rating=3)
    (pair,) = preference_pairs(store)
    assert pair["chosen"][0]["content"] == "7" and pair["rejected"][0]["content"] == "9"
    q.set_status(store, fair.id, "rejected")  # nothing left that may be chosen: no pair
    assert preference_pairs(store) == []


def test_a_correction_is_chosen_over_the_reply_it_replaces(store):
    from ftui.curate.export import preference_pairs

    row = log_interaction(store, ENDS_IN_A_CALL, rating=2)
    q.set_correction(store, row.id, "2+2 is 4.")
    (pair,) = preference_pairs(store)
    assert pair["prompt"] == ENDS_IN_A_CALL[:1]
    assert pair["chosen"] == [{"role": "assistant", "content": "2+2 is 4."}]
    assert pair["rejected"] == [{"role": "assistant", "content": "2+2 is 5."}]


def test_export_leaves_out_rejected_replies_and_redacts(store, tmp_path):
    from ftui.curate.export import export_dataset

    log_interaction(store, [{"role": "user", "content": "hi"}, {
        "role": "assistant", "content": f"write to {SECRETS['EMAIL']}"}], rating=5)
    bad = log_interaction(store, [{"role": "user", "content": "hello"},
                                  {"role": "assistant", "content": "go away"}], rating=5)
    spec = DatasetSpec(near_dup=None, val=0.0, redact="off",
                       statuses=("new", "accepted", "rejected"))
    version, _, _ = build_dataset(store, "all", spec)
    q.set_status(store, bad.id, "rejected")
    out = export_dataset(store, version.id, "openai", tmp_path)
    lines = (tmp_path / "train.jsonl").read_text().splitlines()
    assert len(lines) == 1 and "go away" not in lines[0] and SECRETS["EMAIL"] not in lines[0]
    assert out["skipped"] == {"train": 1} and "rejected" in out["note"]
    q.set_correction(store, bad.id, "Hello! How can I help?")  # not in the frozen version
    assert export_dataset(store, version.id, "openai", tmp_path)["skipped"] == {"train": 1}
    version, _, _ = build_dataset(store, "all", spec)  # rebuilt: the correction is the target
    assert export_dataset(store, version.id, "openai", tmp_path, redact="off")["skipped"] == {}
    text = (tmp_path / "train.jsonl").read_text()
    assert "How can I help" in text and "go away" not in text and SECRETS["EMAIL"] in text
