"""Import: every format, good and bad records, idempotence, the CLI contract."""

from __future__ import annotations

import json

import pytest
from conftest import REALDATA, write_lines

from ftui.cli import main
from ftui.errors import FtuiError
from ftui.ingest import import_files, log_interaction
from ftui.store import interactions as q

GOOD_OPENAI = {
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "What is "}, {"type": "text", "text": "2+2?"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "calc", "arguments": "{\"x\": \"2+2\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "calc", "content": "4"},
        {"role": "assistant", "content": "4"},
    ],
    "tools": [{"type": "function", "function": {"name": "calc", "parameters": {}}}],
    "model": "llama3.2:3b",
    "rating": 5,
}


@pytest.fixture
def store(any_store):
    """Every import test here runs on a SQLite file and on a real PostgreSQL database."""
    return any_store


def _distinct_records(n: int, start: int = 0) -> list[str]:
    return [json.dumps({"messages": [{"role": "user", "content": f"question {i}"},
                                     {"role": "assistant", "content": f"answer {i}"}]})
            for i in range(start, start + n)]


def test_reimport_counts_what_was_really_inserted(store, tmp_path):
    # More records than one insert batch, so the count spans several batches.
    path = write_lines(tmp_path / "many.jsonl", _distinct_records(2_500))
    first = import_files(store, [path])
    assert (first.imported, first.duplicates) == (2_500, 0)
    again = import_files(store, [path])
    assert (again.imported, again.duplicates) == (0, 2_500)
    # Half old, half new, and each new record twice in the file: counted once.
    new = _distinct_records(1_000, start=2_000)
    mixed = write_lines(tmp_path / "mixed.jsonl", new + new[-500:])
    third = import_files(store, [mixed])
    assert (third.imported, third.duplicates) == (500, 1_000)
    assert q.count(store, q.InteractionFilter()) == 3_000


def test_big_file_path_parsed_in_a_worker_counts_the_same(store, tmp_path, monkeypatch):
    from ftui.ingest import importer

    # The path big files take (parsed in a worker process, chunk by chunk), on a small file.
    monkeypatch.setattr(importer, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(importer, "CHUNK_BYTES", 8_000)
    records = _distinct_records(400)
    path = write_lines(tmp_path / "big.jsonl", records + ["{oops"] + records[:100])
    first = import_files(store, [path])
    assert (first.imported, first.duplicates, first.skipped) == (400, 100, 1)
    assert first.errors[0]["where"] == "big.jsonl:401"
    again = import_files(store, [path])
    assert (again.imported, again.duplicates) == (0, 500)
    # Ids follow the file's order.
    oldest = q.page_first(store, q.InteractionFilter(), 400)[-1]
    assert q.get(store, oldest.id).messages[0]["content"] == "question 0"


def test_cli_reimport_reports_duplicates(store, tmp_path, capsys):
    path = write_lines(tmp_path / "a.jsonl", _distinct_records(999))
    counts = []
    for _ in range(2):
        assert main(["--db", store.url, "import", str(path), "--json"]) == 0
        out = json.loads(capsys.readouterr().out.splitlines()[-1])
        counts.append((out["imported"], out["duplicates"]))
    assert counts == [(999, 0), (0, 999)]


def test_nul_characters_do_not_fail_the_import(store, tmp_path):
    # PostgreSQL text cannot hold NUL (SQLite's can): one such record failed the whole import.
    nul = {"messages": [{"role": "user", "content": "a\u0000b"},
                        {"role": "assistant", "content": "ok\u0000"}],
           "model": "m\u0000", "user_id": "u\u0000", "notes": "n\u0000", "tags": ["t\u0000"]}
    path = write_lines(tmp_path / "nul.jsonl", [json.dumps(nul)] + _distinct_records(3))
    report = import_files(store, [path])
    assert (report.imported, report.skipped) == (4, 0), report.errors
    stored = [q.get(store, i.id).messages for i in q.page_first(store, q.InteractionFilter(), 10)]
    texts = [[m["content"] for m in msgs] for msgs in stored if msgs[0]["content"][0] == "a"]
    assert texts == [["a\x00b", "ok\x00"]]
    log_interaction(store, [{"role": "user", "content": "x\x00"},
                            {"role": "assistant", "content": "y"}], model="m\x00")
    assert q.count(store, q.InteractionFilter()) == 5


def test_openai_jsonl_keeps_tool_calls_and_joins_text_parts(store, tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [json.dumps(GOOD_OPENAI)])
    report = import_files(store, [path], mode="agent")
    assert (report.imported, report.skipped, report.formats) == (1, 0, {"a.jsonl": "openai"})
    item = q.get(store, 1)
    msgs = item.messages
    assert msgs[1]["content"] == "What is 2+2?"
    assert msgs[2]["tool_calls"][0]["function"]["name"] == "calc"
    assert msgs[3] == {"role": "tool", "content": "4", "tool_call_id": "c1", "name": "calc"}
    assert item.tools[0]["function"]["name"] == "calc"
    assert (item.reasoning_mode, item.model, item.rating) == ("agent", "llama3.2:3b", 5)
    assert item.preview == "What is 2+2?"


def test_bad_records_are_reported_and_good_ones_kept(store, tmp_path):
    lines = [
        json.dumps(GOOD_OPENAI),
        "{not json",
        b'{"messages": [{"role": "user", "content": "caf\xe9"}]}',  # latin-1 byte: bad UTF-8
        json.dumps({"messages": [{"role": "user", "content": "hi"}]}),  # no assistant turn
        json.dumps({}),
        json.dumps([1, 2]),
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                    "rating": 9}),
        json.dumps({"messages": [{"role": "wizard", "content": "q"}]}),
        json.dumps({"messages": [{"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]}),
    ]
    path = write_lines(tmp_path / "mixed.jsonl", lines)
    report = import_files(store, [path])
    assert report.imported == 2
    assert report.skipped == 7
    reasons = {e["where"]: e["reason"] for e in report.errors}
    assert "invalid JSON" in reasons["mixed.jsonl:2"]
    assert "UTF-8" in reasons["mixed.jsonl:3"]
    assert reasons["mixed.jsonl:4"] == "no assistant turn"
    assert reasons["mixed.jsonl:5"] == "empty record"
    assert "JSON object" in reasons["mixed.jsonl:6"]
    assert "outside 1-5" in reasons["mixed.jsonl:7"]
    assert "unknown role" in reasons["mixed.jsonl:8"]


def test_reimport_adds_nothing(store, tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [json.dumps(GOOD_OPENAI)])
    assert import_files(store, [path]).imported == 1
    again = import_files(store, [path])
    assert (again.imported, again.duplicates) == (0, 1)
    assert q.count(store, q.InteractionFilter()) == 1


def test_sharegpt_with_function_call_and_observation(store, tmp_path):
    rec = {
        "system": "sys",
        "tools": json.dumps([{"name": "weather", "parameters": {}}]),
        "conversations": [
            {"from": "human", "value": "weather in Paris?"},
            {"from": "function_call", "value": json.dumps({"name": "weather", "arguments": {"city": "Paris"}})},
            {"from": "observation", "value": "{\"t\": 21}"},
            {"from": "gpt", "value": "21 degrees"},
        ],
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps([rec, {"conversations": [{"from": "human", "value": "x"}]}]))
    report = import_files(store, [path])
    assert report.formats == {"s.json": "sharegpt"}
    assert (report.imported, report.skipped) == (1, 1)
    assert report.errors[0]["where"] == "s.json[1]"
    msgs = q.get(store, 1).messages
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "assistant"]
    assert msgs[2]["tool_calls"][0]["function"] == {"name": "weather", "arguments": {"city": "Paris"}}
    assert q.get(store, 1).tools == [{"name": "weather", "parameters": {}}]


def test_alpaca_with_input_history_and_system(store, tmp_path):
    rec = {"instruction": "Translate", "input": "bonjour", "output": "hello", "system": "S",
           "history": [["hi", "hello there"]]}
    path = tmp_path / "al.json"
    path.write_text(json.dumps([rec]))
    report = import_files(store, [path], source="team-a")
    assert report.imported == 1
    item = q.get(store, 1)
    assert [m["content"] for m in item.messages] == ["S", "hi", "hello there", "Translate\n\nbonjour", "hello"]
    assert item.source == "team-a"


def test_broken_json_array_salvages_the_good_records(store, tmp_path):
    good = json.dumps({"instruction": "a", "output": "b"})
    good2 = json.dumps({"instruction": "c", "output": "d"})
    path = tmp_path / "broken.json"
    path.write_text("[\n" + good + ",\n{\"instruction\": \"x\", \"output\": oops},\n" + good2 + "\n]\n")
    report = import_files(store, [path])
    assert report.imported == 2
    assert report.skipped == 1
    assert report.errors[0]["where"] == "broken.json[1]"


def test_preference_file_is_refused_with_a_reason(store, tmp_path):
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([{"conversations": [{"from": "human", "value": "q"}],
                                 "chosen": {"from": "gpt", "value": "a"},
                                 "rejected": {"from": "gpt", "value": "b"}}]))
    report = import_files(store, [path])
    assert report.imported == 0
    assert "preference pairs" in report.errors[0]["reason"]


def test_missing_file_is_an_error_not_a_crash(store, tmp_path):
    report = import_files(store, [tmp_path / "nope.jsonl"])
    assert report.skipped == 1 and "no such file" in report.errors[0]["reason"]


@pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/realdata not present")
def test_real_third_party_files(store):
    expected = {"alpaca_en_demo.json": "alpaca", "identity.json": "alpaca",
                "glaive_toolcall_en_demo.json": "sharegpt"}
    for name, fmt in expected.items():
        data = json.loads((REALDATA / name).read_text())
        distinct = len({json.dumps(r, sort_keys=True) for r in data})
        report = import_files(store, [REALDATA / name])
        assert report.formats == {name: fmt}
        assert report.skipped == 0, report.errors[:3]
        assert report.imported == distinct  # exact duplicates inside the file count once
    tool_rows = q.page_first(store, q.InteractionFilter(text="function"), 5)
    assert tool_rows
    dpo = import_files(store, [REALDATA / "dpo_en_demo.json"])
    assert dpo.imported == 0 and "preference" in dpo.errors[0]["reason"]


def test_cli_import_json_contract_and_exit_codes(tmp_path, capsys):
    db = str(tmp_path / "cli.db")
    good = write_lines(tmp_path / "g.jsonl", [json.dumps(GOOD_OPENAI)])
    bad = write_lines(tmp_path / "b.jsonl", [json.dumps(GOOD_OPENAI), "nope"])
    assert main(["--db", db, "import", str(good), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {k: out[k] for k in ("imported", "duplicates", "skipped", "errors")} == {
        "imported": 1, "duplicates": 0, "skipped": 0, "errors": []}
    assert main(["--db", db, "import", str(bad), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["imported"], out["duplicates"], out["skipped"]) == (0, 1, 1)
    assert out["errors"] == [{"where": "b.jsonl:2", "reason": out["errors"][0]["reason"]}]
    assert main(["--db", db, "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total"] == 1 and stats["by_rating"] == {"5": 1}


def test_export_then_import_round_trips_every_field(demo_store, tmp_path, capsys):
    q.set_correction(demo_store, 3, "better answer")
    q.set_tags(demo_store, 3, ["Needs Review", "x"])
    q.set_notes(demo_store, 3, "checked")
    out = tmp_path / "all.jsonl"
    db = demo_store.url
    assert main(["--db", db, "export", str(out)]) == 0
    db2 = str(tmp_path / "second.db")
    assert main(["--db", db2, "import", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["imported"] == 276
    out2 = tmp_path / "again.jsonl"
    assert main(["--db", db2, "export", str(out2)]) == 0
    assert out.read_bytes() == out2.read_bytes()
    line = next(json.loads(x) for x in out.read_text().splitlines() if '"correction"' in x)
    assert line["tags"] == ["needs-review", "x"] and line["notes"] == "checked"
    # Importing the export back into the store it came from adds nothing.
    assert main(["--db", db, "import", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["duplicates"] == 276


def test_log_interaction_records_mode_model_latency_and_rating(store):
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    a = log_interaction(store, msgs, mode="chain_of_thought", model="m1", latency_ms=12.5, rating=4)
    b = log_interaction(store, msgs, mode="chain_of_thought", model="m1")  # a second, real event
    assert a.id != b.id and a.content_hash != b.content_hash
    item = q.get(store, a.id)
    assert (item.reasoning_mode, item.model, item.latency_ms, item.rating, item.source) == (
        "chain_of_thought", "m1", 12.5, 4, "app")
    with pytest.raises(FtuiError, match="unknown reasoning mode"):
        log_interaction(store, msgs, mode="telepathy")
    with pytest.raises(FtuiError, match="no assistant turn"):
        log_interaction(store, msgs[:1])


def test_imported_rows_without_an_id_can_be_rated(store, tmp_path):
    """Imported records carry no uid; rating one said 'interaction N does not exist'."""
    path = write_lines(tmp_path / "few.jsonl", _distinct_records(3))
    import_files(store, [path])
    row = q.page_first(store, q.InteractionFilter(), 1)[0]
    assert q.get(store, row.id).uid is None
    q.set_rating(store, row.id, 5)
    assert q.get(store, row.id).rating == 5
    q.set_rating(store, row.id, None)
    assert q.get(store, row.id).rating is None
    with pytest.raises(FtuiError, match="does not exist"):
        q.set_rating(store, 10_000_000, 4)
