"""The same core on SQLite and on a real PostgreSQL server (tests/pg.py): where the two differ."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import POSTGRES_TOO

from ftui import registry
from ftui.cli import main
from ftui.curate import DatasetSpec, build_dataset
from ftui.ingest import log_interaction
from ftui.store import interactions as q
from ftui.store import utcnow
from ftui.train import runs
from ftui.train.config import RunConfig


def test_every_test_named_for_postgres_exists():
    # A renamed test would silently stop running on PostgreSQL.
    for module, names in POSTGRES_TOO.items():
        source = (Path(__file__).parent / f"{module}.py").read_text()
        for name in ([] if names == "*" else names):
            assert f"def {name}(" in source, f"{module}.{name} is gone: update POSTGRES_TOO"


def _chat(store, user: str, answer: str = "ok", **kw):
    return log_interaction(store, [{"role": "user", "content": user},
                                   {"role": "assistant", "content": answer}], **kw)


def test_text_search_ignores_case_on_both_backends(any_store):
    # SQLite's LIKE ignores ASCII case, PostgreSQL's does not: the same search found less there.
    hit = _chat(any_store, "How do I build a Docker image?")
    _chat(any_store, "unrelated")
    for text in ("docker", "DOCKER", "Docker IMAGE"):
        rows = q.page_first(any_store, q.InteractionFilter(text=text), 10)
        assert [r.id for r in rows] == [hit.id], text
        assert q.count(any_store, q.InteractionFilter(text=text)) == 1
    assert q.page_first(any_store, q.InteractionFilter(text="100%_"), 10) == []


def _queued_runs(store, n: int) -> list[int]:
    for i in range(12):
        _chat(store, f"question {i}", f"answer {i}", rating=5)
    version, _, _ = build_dataset(store, "queue", DatasetSpec(min_rating=4, near_dup=None,
                                                               val=0.0))
    return [runs.create_run(store, version.id, "tiny", RunConfig().validate()).id
            for _ in range(n)]


def test_concurrent_claims_take_each_queued_run_once(any_store):
    queued = _queued_runs(any_store, 6)
    claimed: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        while True:
            run_id = runs.claim_next(any_store)
            if run_id is None and not any(r.status == "queued" for r in runs.list_runs(
                    any_store, check_stale=False)):
                return
            if run_id is not None:
                with lock:
                    claimed.append(run_id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == queued  # every run exactly once
    assert {runs.get_run(any_store, i).status for i in queued} == {"running"}


def test_stale_runs_compare_heartbeat_times(any_store):
    stale, fresh = _queued_runs(any_store, 2)
    for run_id in (stale, fresh):
        assert runs.claim_next(any_store, only=run_id) == run_id
    runs.update_run(any_store, stale, heartbeat_at=utcnow() - timedelta(hours=1))
    assert runs.mark_stale(any_store) == 1
    assert runs.get_run(any_store, stale).status == "interrupted"
    assert runs.get_run(any_store, fresh).status == "running"


def test_metrics_of_a_redone_step_replace_the_earlier_ones(any_store):
    (run_id,) = _queued_runs(any_store, 1)
    for step in (1, 2, 3):
        runs.write_metrics(any_store, run_id, step, {"train_loss": 3.0 - step / 10})
    runs.rewind_metrics(any_store, run_id, 1)
    for step in (2, 3):
        runs.write_metrics(any_store, run_id, step, {"train_loss": 1.0 + step})
    runs.write_metrics(any_store, run_id, 3, {"train_loss": 9.0})
    assert runs.metric_series(any_store, run_id, "train_loss") == [(1, 2.9), (2, 3.0), (3, 9.0)]


def test_registry_keeps_one_production_model_per_slot(any_store):
    a = registry.register(any_store, kind="ollama", name="a", ollama_name="a:1")
    b = registry.register(any_store, kind="ollama", name="b", ollama_name="b:1")
    registry.set_stage(any_store, a.id, "production")
    registry.set_stage(any_store, b.id, "production")
    assert registry.production_model(any_store, "general").id == b.id
    assert registry.get_model(any_store, "a").stage == "staging"
    assert [e.action for e in registry.history(any_store, "a")][-1] == "demoted"


def test_cli_on_a_postgres_url(pg_url, tmp_path, capsys):
    """import, stats and a dataset build through the CLI, against the server."""
    data = tmp_path / "chats.jsonl"
    data.write_text("".join(json.dumps({
        "messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}],
        "rating": 5}) + "\n" for i in range(30)))
    assert main(["--db", pg_url, "import", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["imported"] == 30
    assert main(["--db", pg_url, "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total"] == 30 and stats["by_rating"] == {"5": 30}
    assert main(["--db", pg_url, "dataset", "build", "pg", "--val", "0.1", "--json"]) == 0
    built = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert built["matched"] == 30 and sum(built["splits"].values()) == 30, built


@pytest.mark.parametrize("hostile", ["\x00", "x\x00y", "'; DROP TABLE interaction; --", "\\%_"])
def test_hostile_text_in_every_free_text_field(any_store, hostile):
    item = _chat(any_store, f"q {hostile}", f"a {hostile}", model=hostile, user_id=hostile,
                 tags=[hostile])
    q.set_notes(any_store, item.id, hostile)
    q.set_correction(any_store, item.id, hostile)
    stored = q.get(any_store, item.id)
    assert [m["content"] for m in stored.messages] == [f"q {hostile}", f"a {hostile}"]
    assert q.count(any_store, q.InteractionFilter()) == 1
    found = q.page_first(any_store, q.InteractionFilter(text=hostile), 5)
    assert [r.id for r in found] == [item.id]


def test_tiny_training_run_on_a_postgres_store(pg_url, home, monkeypatch, capsys):
    """`ftui --db postgresql+psycopg://... train`: the run, its metrics and its registry entry
    live on the server."""
    monkeypatch.setenv("FTUI_HOME", str(home))
    assert main(["--db", pg_url, "demo", "--json"]) == 0
    assert main(["--db", pg_url, "dataset", "build", "d", "--json"]) == 0
    dataset = json.loads(capsys.readouterr().out.splitlines()[-1])["id"]
    assert main(["--db", pg_url, "train", "--dataset", str(dataset), "--base", "tiny",
                 "--set", "max_steps=2", "--set", "eval_steps=2", "--set", "save_steps=2",
                 "--set", "batch_size=2", "--set", "max_seq_len=128", "--json"]) == 0
    result = json.loads(next(line for line in capsys.readouterr().out.splitlines()
                             if line.startswith("{")))
    assert (result["status"], result["steps"]) == ("completed", 2), result
    from ftui.store import open_store

    store = open_store(pg_url)
    try:
        assert len(runs.metric_series(store, result["run_id"], "train_loss")) == 2
        assert [m.kind for m in registry.list_models(store)] == ["adapter"]
    finally:
        store.close()
