"""The data path out of the store: which reply a correction replaces, the one writer of training
data (redaction, corrections, status rules), and exports checked against other tools' rules."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from ftui.conversation import apply_correction, reply_index, reply_text
from ftui.curate import DatasetSpec, build_dataset, examples_of
from ftui.ingest import import_files, log_interaction
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
    assert apply_correction(only_calls, "4") == [only_calls[0], {"role": "assistant",
                                                                 "content": "4"}]
    said_and_called = [ENDS_IN_A_CALL[0], {**ENDS_IN_A_CALL[3], "content": "Checking."}]
    assert apply_correction(said_and_called, "Let me check.")[-1] == {
        **said_and_called[1], "content": "Let me check."}  # the call stays beside the text
    assert reply_index([{"role": "user", "content": "hi"}]) is None
    assert apply_correction(ENDS_IN_A_CALL, None) is None
    from ftui.ab.arena import _prompt_part  # the arena asks what evaluation asks

    assert _prompt_part(ENDS_IN_A_CALL) == ENDS_IN_A_CALL[:1]


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


# ---------------------------------------------------------------- the shapes, checked by rules

HARD_CASES = [
    # text and two parallel calls in one message, results without ids (matched by name)
    [{"role": "system", "content": "use tools"}, {"role": "user", "content": "Weather in Oslo and Rome?"},
     {"role": "assistant", "content": "Let me look both up.", "tool_calls": [
         {"type": "function", "function": {"name": "weather", "arguments": {"city": "Oslo"}}},
         {"type": "function", "function": {"name": "time", "arguments": "{\"city\": \"Rome\"}"}}]},
     {"role": "tool", "name": "time", "content": "14:00"},
     {"role": "tool", "name": "weather", "content": "3 C"},
     {"role": "assistant", "content": "Oslo: 3 C. Rome: 14:00."}],
    # a later system message, two user turns in a row, a call that ends the conversation
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
     {"role": "system", "content": "Now answer in French."},
     {"role": "user", "content": "weather?"}, {"role": "user", "content": "in Paris"},
     {"role": "assistant", "content": "", "tool_calls": [
         {"id": "abc", "type": "function", "function": {"name": "weather",
                                                        "arguments": {"city": "Paris"}}}]}],
    # the source's own ids, a call answered by id, text after the result
    [{"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": None, "tool_calls": [
         {"id": "c1", "type": "function", "function": {"name": "calc", "arguments": "{\"x\": \"2+2\"}"}}]},
     {"role": "tool", "tool_call_id": "c1", "content": "4"},
     {"role": "assistant", "content": "4"}],
]
TOOLS = [{"name": "weather", "description": "weather now",  # unwrapped, as glaive writes them
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
         {"type": "function", "function": {"name": "time", "parameters": {
             "type": "object", "properties": {"city": {"type": "string"}, "utc": {"type": "boolean"}}}}},
         {"type": "function", "function": {"name": "calc", "parameters": {
             "type": "object", "properties": {"x": {"type": "string"}}}}}]
FN_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def openai_problems(record: dict) -> list[str]:
    """OpenAI's chat fine-tuning format, as documented (fine-tuning guide, chat and function
    calling examples; the format-validation cookbook): what is wrong with one JSONL record."""
    bad = []
    if not set(record) <= {"messages", "tools", "parallel_tool_calls"}:
        bad.append(f"unknown keys {set(record) - {'messages', 'tools', 'parallel_tool_calls'}}")
    msgs = record.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return [*bad, "messages is not a non-empty list"]
    allowed = {"system": {"role", "content", "name"}, "user": {"role", "content", "name"},
               "assistant": {"role", "content", "name", "tool_calls", "weight"},
               "tool": {"role", "content", "tool_call_id"}}
    open_calls: list[str] = []
    seen_ids: set[str] = set()
    for i, m in enumerate(msgs):
        role = m.get("role")
        if role not in allowed:
            bad.append(f"{i}: role {role!r}")
            continue
        if not set(m) <= allowed[role]:
            bad.append(f"{i}: keys {set(m) - allowed[role]} not allowed on {role}")
        if role != "tool" and open_calls:
            bad.append(f"{i}: calls {open_calls} have no tool message before it")
            open_calls = []
        content = m.get("content")
        if role == "assistant" and m.get("tool_calls"):
            if content is not None and not isinstance(content, str):
                bad.append(f"{i}: content is not text")
            for call in m["tool_calls"]:
                fn = call.get("function") or {}
                if set(call) != {"id", "type", "function"} or call["type"] != "function":
                    bad.append(f"{i}: call {call} lacks id/type function")
                if not isinstance(call.get("id"), str) or not call["id"] or call["id"] in seen_ids:
                    bad.append(f"{i}: call id {call.get('id')!r} missing or repeated")
                if not FN_NAME.match(str(fn.get("name"))) or set(fn) != {"name", "arguments"}:
                    bad.append(f"{i}: function {fn}")
                try:
                    args = json.loads(fn.get("arguments"))
                    if not isinstance(args, dict):
                        bad.append(f"{i}: arguments are not a JSON object")
                except (TypeError, ValueError):
                    bad.append(f"{i}: arguments {fn.get('arguments')!r} are not a JSON string")
                if isinstance(call.get("id"), str):
                    seen_ids.add(call["id"])
                    open_calls.append(call["id"])
        elif not isinstance(content, str):
            bad.append(f"{i}: {role} content is not text")
        if role == "tool":
            if m.get("tool_call_id") not in open_calls:
                bad.append(f"{i}: tool_call_id {m.get('tool_call_id')!r} answers no earlier call")
            else:
                open_calls.remove(m["tool_call_id"])
    if not any(m.get("role") == "assistant" for m in msgs):
        bad.append("no assistant message")
    for tool in record.get("tools") or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") != "function" or not isinstance(fn, dict) \
                or not FN_NAME.match(str(fn.get("name"))) \
                or not isinstance(fn.get("parameters", {}), dict):
            bad.append(f"tool {tool} is not {{type: function, function: {{name, parameters}}}}")
    return bad


def _with_hard_cases(store):
    for msgs in HARD_CASES:
        log_interaction(store, msgs, mode="agent", rating=5, tools=TOOLS)
    spec = DatasetSpec(min_rating=None, include_unrated=True, near_dup=None, val=0.2,
                       statuses=("new", "accepted", "rejected"))
    version, result, _ = build_dataset(store, "everything", spec)
    return version, result


def test_every_openai_record_follows_the_fine_tuning_format(demo_store, tmp_path):
    from ftui.curate.export import export_dataset

    version, result = _with_hard_cases(demo_store)
    out = export_dataset(demo_store, version.id, "openai", tmp_path / "a")
    records = [json.loads(line) for path in out["files"].values()
               for line in Path(path).read_text(encoding="utf-8").splitlines()]
    problems = {i: p for i, rec in enumerate(records) if (p := openai_problems(rec))}
    assert problems == {}
    with_calls = [r for r in records if any(m.get("tool_calls") for m in r["messages"])]
    assert len(with_calls) >= 30  # the demo's agent traffic and the hard cases are all there
    rejected = sum(1 for e in result.examples
                   if q.get(demo_store, e.interaction_id).status == "rejected")
    assert len(records) == len(result.examples) - rejected
    # ids made up for calls without one are stable: the same export twice is the same bytes
    again = export_dataset(demo_store, version.id, "openai", tmp_path / "b")
    for split, path in out["files"].items():
        assert Path(path).read_bytes() == Path(again["files"][split]).read_bytes()
    parallel = next(r for r in records if "Oslo and Rome" in json.dumps(r))
    calls = {c["function"]["name"]: c["id"] for c in parallel["messages"][2]["tool_calls"]}
    assert [(m["tool_call_id"], m["content"]) for m in parallel["messages"][3:5]] == \
        [(calls["time"], "14:00"), (calls["weather"], "3 C")]
    assert parallel["messages"][2]["content"] == "Let me look both up."
    source_ids = next(r for r in records if "2+2?" in json.dumps(r))
    assert source_ids["messages"][1]["tool_calls"][0]["id"] == "c1"


def llamafactory_problems(example: dict, columns: dict) -> list[str]:
    """LLaMA-Factory's SharegptDatasetConverter and FunctionFormatter (src/llamafactory/data/
    converter.py, formatter.py; data/README.md), default tags, on one record."""
    bad = []
    messages = example[columns["messages"]]
    if messages and messages[0]["from"] == "system":
        messages = messages[1:]
    odd, even = ("human", "observation"), ("gpt", "function_call")
    for i, m in enumerate(messages):
        if set(m) != {"from", "value"} or not isinstance(m["value"], str):
            bad.append(f"{i}: turn {m} is not {{from, value: text}}")
        if m["from"] not in (odd, even)[i % 2]:
            bad.append(f"{i}: {m['from']} breaks the alternation (Invalid role tag)")
        if m["from"] == "function_call":
            content = m["value"]
            found = re.search(r"<tool_call>(.*?)</tool_call>", content, re.DOTALL)
            body = found.group(1) if found else content
            try:
                calls = json.loads(body)
            except ValueError:
                bad.append(f"{i}: function_call value is not JSON (Invalid JSON format)")
                continue
            for call in calls if isinstance(calls, list) else [calls]:
                if set(call) != {"name", "arguments"}:
                    bad.append(f"{i}: call {call} is not {{name, arguments}}")
                elif isinstance(call["arguments"], str):
                    bad.append(f"{i}: arguments double-encoded: {call['arguments']!r}")
    if len(messages) % 2 != 0 or not messages:
        bad.append("Invalid message count")
    system = example.get(columns.get("system", ""), "")
    if system is not None and not isinstance(system, str):
        bad.append("system is not text")
    tools = example.get(columns.get("tools", ""))
    if tools is not None:
        try:
            parsed = json.loads(tools)
            assert isinstance(parsed, list) and all(isinstance(t, dict) for t in parsed)
        except (ValueError, TypeError, AssertionError):
            bad.append("tools is not a JSON list of schemas (Invalid JSON format in tool description)")
    return bad


def test_every_sharegpt_record_follows_llamafactory_rules(demo_store, tmp_path):
    from ftui.curate.export import export_dataset

    version, result = _with_hard_cases(demo_store)
    out = export_dataset(demo_store, version.id, "sharegpt", tmp_path)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert {e["file_name"] for e in info.values()} == {Path(p).name for p in out["files"].values()}
    checked = 0
    for entry in info.values():
        assert entry["formatting"] == "sharegpt"
        for rec in json.loads((tmp_path / entry["file_name"]).read_text()):
            assert llamafactory_problems(rec, entry["columns"]) == [], rec
            checked += 1
    rejected = sum(1 for e in result.examples
                   if q.get(demo_store, e.interaction_id).status == "rejected")
    assert checked == len(result.examples) - rejected
    recs = [r for p in out["files"].values() for r in json.loads(Path(p).read_text())]
    parallel = next(r for r in recs if "Oslo and Rome" in json.dumps(r))
    call = parallel["conversations"][1]
    assert call["from"] == "function_call" and call["value"].startswith("Let me look both up.")
    assert parallel["conversations"][2]["value"] == \
        "3 C\n</tool_response>\n<tool_response>\n14:00"  # results in the order of the calls
    french = next(r for r in recs if "French" in json.dumps(r))
    assert french["conversations"][2] == {"from": "human",
                                          "value": "Now answer in French.\n\nweather?\n\nin Paris"}


def test_sharegpt_hard_cases_reimport_to_the_same_calls(store, tmp_path):
    from ftui.curate.export import export_dataset
    from ftui.store import open_store

    version, _ = _with_hard_cases(store)
    out = export_dataset(store, version.id, "sharegpt", tmp_path)
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert import_files(fresh, list(out["files"].values())).skipped == 0
    rows = [q.get(fresh, r.id) for r in q.page_first(fresh, q.InteractionFilter(), 100)]
    parallel = next(r.messages for r in rows if "Oslo and Rome" in json.dumps(r.messages))
    assert parallel[2]["content"] == "Let me look both up."
    assert [c["function"]["arguments"] for c in parallel[2]["tool_calls"]] == \
        [{"city": "Oslo"}, {"city": "Rome"}]  # objects, whatever the source had
    assert [(m["role"], m["content"], m["name"]) for m in parallel[3:5]] == \
        [("tool", "3 C", "weather"), ("tool", "14:00", "time")]


def test_llamafactory_own_file_comes_back_as_it_was(store, tmp_path):
    """glaive_toolcall_en_demo.json (LLaMA-Factory's own): imported, built and exported, every
    conversation is one of the file's own (the store keeps JSON with sorted keys, so calls are
    compared decoded)."""
    from conftest import REALDATA

    from ftui.curate.export import export_dataset

    source = REALDATA / "glaive_toolcall_en_demo.json"
    if not source.exists():
        pytest.skip(f"{source} is absent (a fresh checkout has no ../shared/realdata)")
    assert import_files(store, [source]).skipped == 0
    spec = DatasetSpec(min_rating=None, include_unrated=True, near_dup=None, val=0.0,
                       redact="off")
    version, result, _ = build_dataset(store, "glaive", spec)
    out = export_dataset(store, version.id, "sharegpt", tmp_path, redact="off")
    columns = json.loads((tmp_path / "dataset_info.json").read_text())["glaive_train"]["columns"]
    exported = json.loads(Path(out["files"]["train"]).read_text())
    def decoded(turns: list[dict]) -> str:
        return json.dumps([json.loads(t["value"]) if t["from"] == "function_call" else t
                           for t in turns], sort_keys=True)

    originals = {decoded(r["conversations"]) for r in json.loads(source.read_text())}
    assert len(exported) == len(result.examples) > 250
    for rec in exported:
        assert llamafactory_problems(rec, columns) == []
        assert decoded(rec["conversations"]) in originals


# ---------------------------------------------------------------- parquet: datasets and TRL

# A ChatML template that renders tool calls and tools the way Hermes-style templates do
# (arguments and parameters through tojson): objects render as JSON, strings would be escaped.
TOOL_TEMPLATE = (
    "{%- if tools %}{{- '<|im_start|>system\\n<tools>' + tools | tojson + '</tools><|im_end|>\\n' }}"
    "{%- endif %}{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n' + (message.content or '') }}"
    "{%- for call in message.tool_calls or [] %}{{- '<tool_call>' + {'name': call.function.name,"
    " 'arguments': call.function.arguments} | tojson + '</tool_call>' }}{%- endfor %}"
    "{{- '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")


def test_parquet_loads_with_datasets_and_trains_with_trl(demo_store, tmp_path, home):
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from ftui.curate.export import export_dataset
    from ftui.train.base import load_base

    version, result = _with_hard_cases(demo_store)
    out = export_dataset(demo_store, version.id, "hf", tmp_path / "hf")
    ds = datasets.load_dataset("parquet", data_files=out["files"],
                               cache_dir=str(tmp_path / "cache"))["train"]
    assert ds.num_rows == result.splits["train"] - sum(
        1 for e in result.examples if e.split == "train"
        and q.get(demo_store, e.interaction_id).status == "rejected")
    at = next(i for i, r in enumerate(ds) if "Oslo and Rome" in json.dumps(r["messages"]))
    call_row = ds[at]
    call = call_row["messages"][2]["tool_calls"][1]
    assert call["function"]["arguments"] == {"city": "Rome"}  # an object, not JSON text
    assert call_row["tools"][0]["function"]["parameters"]["properties"] == {
        "city": {"type": "string"}}
    tok, model = load_base("tiny", home)
    tok.chat_template = TOOL_TEMPLATE
    cfg = trl.SFTConfig(output_dir=str(tmp_path / "run"), max_steps=1, per_device_train_batch_size=2,
                        max_length=1024, report_to=[], save_strategy="no", use_cpu=True,
                        dataset_num_proc=None, logging_steps=1)
    few = ds.select(sorted({at, 0}))  # two rows, one step: enough, and fast
    trainer = trl.SFTTrainer(model=model, args=cfg, train_dataset=few, processing_class=tok)
    rendered = [tok.decode(r["input_ids"]) for r in trainer.train_dataset]
    with_call = next(t for t in rendered if "Oslo and Rome" in t)
    assert '<tool_call>{"name": "time", "arguments": {"city": "Rome"}}</tool_call>' in with_call
    assert '"parameters": {"properties": {"city"' in with_call  # a schema, not escaped text
    assert trainer.train().global_step == 1
    assert all(math.isfinite(h["loss"]) for h in trainer.state.log_history if "loss" in h)


def test_import_reads_old_json_text_parquet_and_new_struct_parquet(demo_store, store, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from ftui.curate.export import export_dataset
    from ftui.store import open_store

    old = tmp_path / "old.parquet"  # the layout ftui wrote before: JSON text columns
    pq.write_table(pa.table({"messages": [json.dumps(HARD_CASES[0])],
                             "tools": [json.dumps(TOOLS)], "reasoning_mode": ["agent"]}), old)
    version, _ = _with_hard_cases(demo_store)
    new = export_dataset(demo_store, version.id, "hf", tmp_path / "hf")["files"]["train"]
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    report = import_files(fresh, [old, Path(new)])
    assert report.skipped == 0 and report.imported >= 2
    rows = [q.get(fresh, r.id) for r in q.page_first(fresh, q.InteractionFilter(), 10_000)]
    oslo = [r for r in rows if "Oslo and Rome" in json.dumps(r.messages)]
    assert len(oslo) == 2  # one from each file (the ids and argument text differ)
    assert all(r.tools and r.tools[-1]["function"]["parameters"]["properties"] == {
        "x": {"type": "string"}} for r in oslo)


def _call(name="f", args=None, cid=None):
    call = {"type": "function", "function": {"name": name, "arguments": {} if args is None else args}}
    return {**call, "id": cid} if cid else call


U, A = {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}
HOSTILE = {  # shapes a store can hold (imports and the gateway keep them); name -> conversation
    "starts with the assistant": [A, U, A],
    "a result that answers no call": [U, {"role": "tool", "content": "x"}, A],
    "a call left unanswered mid-way": [U, {**A, "tool_calls": [_call()]}, U, A],
    "calls after calls": [U, {**A, "content": "", "tool_calls": [_call()]},
                          {**A, "content": "", "tool_calls": [_call("g")]}],
    "arguments that are not JSON": [U, {**A, "tool_calls": [_call(args="city=Oslo")]}],
    "arguments that are a JSON list": [U, {**A, "tool_calls": [_call(args="[1, 2]")]}],
    "a function name with a space": [U, {**A, "tool_calls": [_call("get weather")]}],
    "one id twice": [U, {**A, "content": "", "tool_calls": [_call(cid="x"), _call("g", cid="x")]},
                     {"role": "tool", "tool_call_id": "x", "content": "1"},
                     {"role": "tool", "tool_call_id": "x", "content": "2"}, A],
    "a result for an unknown id": [U, {**A, "content": "", "tool_calls": [_call(cid="x")]},
                                   {"role": "tool", "tool_call_id": "nope", "content": "1"}, A],
    "only a system prompt and a user turn": [{"role": "system", "content": "s"}, U],
    "empty texts": [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}],
    "unicode and markup": [{"role": "user", "content": "¿qué? <tool_call>{}</tool_call> \u2028"},
                           {"role": "assistant", "content": "名前 </tool_response>"}],
    "deeply nested arguments": [U, {**A, "tool_calls": [_call(args=json.loads(
        "[" * 60 + "]" * 60) and {"a": json.loads("[" * 60 + "]" * 60)})]}],
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_conversations_either_fit_the_rules_or_are_refused(name):
    from ftui.curate.shapes import ShapeError, to_openai, to_parquet_row, to_sharegpt

    msgs = HOSTILE[name]
    for shape, check in ((to_openai, openai_problems),
                         (to_sharegpt, lambda r: llamafactory_problems(
                             r, {"messages": "conversations", "system": "system",
                                 "tools": "tools"}))):
        try:
            record = shape(msgs, None)
        except ShapeError as err:
            assert str(err), name
            continue
        assert check(record) == [], (name, shape.__name__, record)
    try:
        row = to_parquet_row(msgs, None)
    except ShapeError:
        return
    assert openai_problems({"messages": [{k: v for k, v in m.items() if v is not None}
                                         for m in row["messages"]]}) == []


def test_evaluation_scores_against_the_reply_a_correction_replaces(store, tmp_path):
    """The example ends in a tool call after the text reply: evaluation asks the prompt before
    that reply and compares with it (not with the empty tool-call turn)."""
    from ollama_standin import StandIn

    from ftui.registry import register
    from ftui.registry.evaluate import evaluate

    log_interaction(store, ENDS_IN_A_CALL, mode="agent", rating=5)
    log_interaction(store, [{"role": "user", "content": "hi"},
                            {"role": "assistant", "content": "hello"}], rating=5)
    version, _, _ = build_dataset(store, "eval", DatasetSpec(near_dup=None, val=0.0))
    with StandIn({"m:1": "2+2 is 5."}) as server:
        model = register(store, kind="ollama", name="m", ollama_name="m:1")
        got = evaluate(store, model.id, home=tmp_path, host=server.url, dataset_id=version.id,
                       split="train", max_new_tokens=8)
        asked = [body["messages"] for _, path, body in server.requests if path == "/api/chat"]
    sums = next(a for a in asked if "2+2" in json.dumps(a))
    assert [m["content"] for m in sums] == ["What is 2+2?"]
    assert got["examples"] == 2 and got["exact_match"] == 0.5  # "2+2 is 5." matched its reply
