"""Preference data (issue 12): preference and unpaired dataset versions from corrections, rated
alternatives and arena votes, their exports read back by `datasets` and TRL's own readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftui.ab.arena import record_vote
from ftui.curate import DatasetSpec, build_dataset, diff_datasets, get_dataset
from ftui.curate.export import export_dataset
from ftui.curate.preference import preference_examples
from ftui.errors import FtuiError
from ftui.ingest import log_interaction
from ftui.store import interactions as q

SYSTEM = {"role": "system", "content": "Be brief."}


def ask(question: str) -> list[dict]:
    return [SYSTEM, {"role": "user", "content": question}]


def answer(text: str) -> dict:
    return {"role": "assistant", "content": text}


TOOL_TURNS = [
    {"role": "user", "content": "Weather in Oslo?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "id": "c1", "function": {"name": "weather",
                                                      "arguments": {"city": "Oslo"}}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "{\"temp\": -3}"},
]


@pytest.fixture
def signals(store):
    """Every kind of signal, on distinct prompts (so near-dedup keeps them all)."""
    ids = {}
    # rated alternatives: 5 vs 2 (a pair at gap 2), and 4 vs 3 (no pair at gap 2)
    ids["best"] = log_interaction(store, [*ask("Capital of France?"), answer("Paris.")],
                                  rating=5).id
    ids["worst"] = log_interaction(store, [*ask("Capital of France?"), answer("Lyon, I think.")],
                                   rating=2).id
    log_interaction(store, [*ask("Largest planet?"), answer("Jupiter is the largest.")], rating=4)
    log_interaction(store, [*ask("Largest planet?"), answer("Saturn, probably.")], rating=3)
    # a rejected reply rated 5 must never be chosen: the 3 beats nothing, the rejected one
    # is only ever the rejected side
    ids["rejected5"] = log_interaction(
        store, [*ask("Boiling point of water at sea level?"), answer("About 50 C.")], rating=5).id
    q.set_status(store, ids["rejected5"], "rejected")
    log_interaction(store, [*ask("Boiling point of water at sea level?"),
                            answer("100 degrees Celsius at sea level.")], rating=3)
    # a correction of a multi-turn tool conversation
    ids["corrected"] = log_interaction(
        store, [*TOOL_TURNS, answer("It is warm in Oslo."),
                {"role": "user", "content": "thanks"}], mode="agent", rating=2).id
    q.set_correction(store, ids["corrected"], "It is -3 C in Oslo: cold.")
    # arena: one decisive vote, a tie and a both-bad (left out)
    for winner, q_text in (("B", "Name a prime above 10."), ("tie", "Say hi."),
                           ("both_bad", "Tell a joke.")):
        record_vote(store, model_a="m1", model_b="m2", left="A", winner=winner,
                    messages=[{"role": "user", "content": q_text}], answer_a="Nine.",
                    answer_b="Eleven.")
    return ids


def _spec(**kw) -> DatasetSpec:
    return DatasetSpec(**{"kind": "preference", "near_dup": None, "val": 0.0, **kw})


def test_pairs_come_from_corrections_rating_gaps_and_decisive_votes(store, signals):
    version, result, created = build_dataset(store, "prefs", _spec())
    assert created and result.stats["sources"]["all"] == {"rating": 2, "correction": 1,
                                                          "arena": 1}
    rows = preference_examples(store, version.id)
    by_source = {}
    for r in rows:
        by_source.setdefault(r.source, []).append(r)
    chosen = {r.reply["content"] for r in rows}
    assert "About 50 C." not in chosen  # rejected, though rated 5
    assert {r.rejected["content"] for r in by_source["rating"]} == {"Lyon, I think.",
                                                                    "About 50 C."}
    (fix,) = by_source["correction"]
    # the prompt is the conversation up to the reply (tool turns kept); later turns dropped
    assert fix.prompt == TOOL_TURNS and fix.reply["content"] == "It is -3 C in Oslo: cold."
    assert fix.rejected["content"] == "It is warm in Oslo."
    (vote,) = by_source["arena"]
    assert (vote.reply["content"], vote.rejected["content"]) == ("Eleven.", "Nine.")
    # a gap of 1 also pairs 4 vs 3
    looser_version, looser, _ = build_dataset(store, "prefs", _spec(min_rating_gap=1))
    assert looser.stats["sources"]["all"]["rating"] == 3
    # same rules, same data: the same frozen version
    again, _, created_again = build_dataset(store, "prefs", _spec())
    assert (again.id, created_again) == (version.id, False)
    diff = diff_datasets(store, version.id, looser_version.id).as_dict()
    assert (diff["added"], diff["removed"]) == (1, 0)
    assert diff["spec_changes"] == {"min_rating_gap": {"a": 2, "b": 1}}


def test_no_prompt_is_in_two_splits(store):
    for i in range(30):  # 30 prompts, 3 answers each: 2 pairs per prompt
        for text, rating in (("good", 5), ("meh", 3), ("bad", 1)):
            log_interaction(store, [*ask(f"question number {i}?"), answer(f"{text} answer {i}")],
                            rating=rating)
    version, result, _ = build_dataset(store, "p", _spec(min_rating_gap=2, val=0.2, test=0.1))
    splits_of: dict[str, set] = {}
    for r in preference_examples(store, version.id):
        splits_of.setdefault(json.dumps(r.prompt), set()).add(r.split)
    assert len(splits_of) == 30 and all(len(s) == 1 for s in splits_of.values())
    assert result.splits["validation"] > 0 and result.splits["test"] > 0


def test_unpaired_labels_and_balance(store, signals):
    spec = DatasetSpec(kind="unpaired", near_dup=None, val=0.0)
    version, result, _ = build_dataset(store, "kto", spec)
    rows = preference_examples(store, version.id)
    labels = {(r.reply["content"], r.label) for r in rows}
    assert ("About 50 C.", False) in labels and ("About 50 C.", True) not in labels
    assert ("Paris.", True) in labels and ("Lyon, I think.", False) in labels
    assert ("It is -3 C in Oslo: cold.", True) in labels and ("It is warm in Oslo.", False) in labels
    assert ("Eleven.", True) in labels and ("Nine.", False) in labels
    assert ("Saturn, probably.", True) not in labels and ("Saturn, probably.", False) not in labels
    balance = result.stats["balance"]
    assert balance == {"desirable": sum(r.label for r in rows),
                       "undesirable": sum(not r.label for r in rows)}


def test_sft_rules_keep_their_hash():
    """Versions built before preference data existed keep their canonical form and hash."""
    assert "kind" not in DatasetSpec().as_dict() and "kind" in _spec().as_dict()


def test_bad_rules_are_refused():
    with pytest.raises(FtuiError, match="kind must be"):
        DatasetSpec(kind="pairs").validate()
    with pytest.raises(FtuiError, match="undesirable max rating"):
        DatasetSpec(kind="unpaired", desirable_min_rating=2, undesirable_max_rating=3).validate()
    with pytest.raises(FtuiError, match="sources must be"):
        DatasetSpec(kind="preference", pair_sources=("likes",)).validate()


def test_no_signal_says_how_to_get_pairs(store):
    log_interaction(store, [*ask("Alone?"), answer("Yes.")], rating=5)
    with pytest.raises(FtuiError, match="no pair is left") as err:
        build_dataset(store, "none", _spec())
    assert "correct a reply" in err.value.hint


def test_redaction_applies_to_both_sides(store):
    log_interaction(store, [*ask("My mail?"), answer("It is ann@example.com.")], rating=5)
    log_interaction(store, [*ask("My mail?"), answer("Write to bob@example.org.")], rating=1)
    version, _, _ = build_dataset(store, "r", _spec())
    (row,) = preference_examples(store, version.id)
    text = json.dumps([row.reply, row.rejected])
    assert "example.com" not in text and "example.org" not in text


def test_trl_export_reads_with_datasets_and_trl(store, signals, tmp_path, home):
    datasets = pytest.importorskip("datasets")
    data_utils = pytest.importorskip("trl.data_utils")
    from ftui.train.base import load_base

    tok, _ = load_base("tiny", home)
    pairs, _, _ = build_dataset(store, "prefs", _spec())
    got = export_dataset(store, pairs.id, "trl", tmp_path / "dpo")
    ds = datasets.load_dataset("json", data_files=got["files"]["train"], split="train")
    assert len(ds) == 4 and set(ds.column_names) >= {"prompt", "chosen", "rejected"}
    for row in ds:
        assert data_utils.is_conversational(row)
        text = data_utils.apply_chat_template(
            {k: row[k] for k in ("prompt", "chosen", "rejected")}, tok)
        assert text["prompt"] and text["chosen"] and text["rejected"]
    kto, _, _ = build_dataset(store, "kto", DatasetSpec(kind="unpaired", near_dup=None, val=0.0))
    got = export_dataset(store, kto.id, "trl", tmp_path / "kto")
    ds = datasets.load_dataset("json", data_files=got["files"]["train"], split="train")
    assert set(ds.column_names) >= {"prompt", "completion", "label"}
    assert set(ds["label"]) == {True, False}
    row = ds[0]
    assert data_utils.is_conversational(row)
    assert data_utils.apply_chat_template(
        {k: row[k] for k in ("prompt", "completion", "label")}, tok)["completion"]


def test_llamafactory_ranking_and_kto_layouts(store, signals, tmp_path):
    pairs, _, _ = build_dataset(store, "my-prefs", _spec())
    got = export_dataset(store, pairs.id, "sharegpt", tmp_path / "lf")
    info = json.loads(Path(got["dataset_info"]).read_text())
    entry = info["my_prefs_train"]
    assert entry["ranking"] is True and entry["formatting"] == "sharegpt"
    assert entry["columns"]["chosen"] == "chosen" and entry["columns"]["messages"] == "conversations"
    rows = json.loads((tmp_path / "lf" / entry["file_name"]).read_text())
    for row in rows:  # LLaMA-Factory: human and observation at odd positions, prompt ends human
        sides = [t["from"] for t in row["conversations"]]
        assert sides[0] == "human" and sides[-1] in ("human", "observation")
        assert all((s in ("human", "observation")) == (i % 2 == 0) for i, s in enumerate(sides))
        assert row["chosen"]["from"] == row["rejected"]["from"] == "gpt"
    kto, _, _ = build_dataset(store, "kto", DatasetSpec(kind="unpaired", near_dup=None, val=0.0))
    got = export_dataset(store, kto.id, "sharegpt", tmp_path / "lfk")
    info = json.loads(Path(got["dataset_info"]).read_text())
    assert info["kto_train"]["columns"]["kto_tag"] == "kto_tag"
    rows = json.loads(Path(got["files"]["train"]).read_text())
    assert {r["kto_tag"] for r in rows} == {True, False}
    with pytest.raises(FtuiError, match="exports as trl or sharegpt"):
        export_dataset(store, kto.id, "openai", tmp_path / "x")


def test_a_reply_rejected_after_the_build_is_not_exported_as_chosen(store, signals, tmp_path):
    pairs, _, _ = build_dataset(store, "prefs", _spec())
    q.set_status(store, signals["best"], "rejected")
    got = export_dataset(store, pairs.id, "trl", tmp_path / "dpo")
    lines = Path(got["files"]["train"]).read_text().splitlines()
    assert len(lines) == 3 and "Paris." not in "".join(lines)
    assert "rejected reply on the chosen side" in got["note"]
    assert get_dataset(store, pairs.id).spec["kind"] == "preference"


# ---------------------------------------------------------------- training on tiny

PREF_FAST = dict(max_steps=4, batch_size=2, eval_steps=2, save_steps=2, max_seq_len=128,
                 learning_rate=5e-3, logging_steps=1, lora_r=4, lora_alpha=8)


def _train(store, home, dataset_id, **cfg):
    from ftui.train import runs
    from ftui.train.config import RunConfig
    from ftui.train.worker import run_worker

    run = runs.create_run(store, dataset_id, "tiny", RunConfig(**{**PREF_FAST, **cfg}).validate())
    run_worker(store, home, once=True, only=run.id)
    final = runs.get_run(store, run.id)
    assert final.status == "completed", final.error
    return final


@pytest.fixture
def pair_set(store, signals):
    for i in range(6):  # a few more pairs, so the train split has 2 batches' worth
        log_interaction(store, [*ask(f"Spell the number {i}."), answer(f"It is spelled {i}!")],
                        rating=5)
        log_interaction(store, [*ask(f"Spell the number {i}."), answer("No idea.")], rating=1)
    version, _, _ = build_dataset(store, "pairs", _spec(val=0.2))
    return version.id


def _check_pair_run(store, final, method: str, steps: int) -> None:
    from ftui.registry import get_model
    from ftui.registry.lineage import lineage, lineage_lines
    from ftui.train import runs

    assert (final.step, final.total_steps) == (steps, steps)
    for name in ("train_loss", "rewards_chosen", "rewards_rejected", "rewards_margins",
                 "rewards_accuracies", "eval_rewards_accuracies", "tokens_per_second"):
        assert len(runs.metric_series(store, final.id, name)) >= 2, name
    adapter = Path(final.adapter_dir)
    assert (adapter / "adapter_model.safetensors").is_file()
    assert not (adapter / "ref").exists()
    model = get_model(store, f"pairs-run{final.id}")
    got = lineage(store, model.id)
    assert got["run"]["method"] == method and got["dataset"]["kind"] == "preference"
    assert got["run"]["reference_model"] == "tiny"
    assert f"{method} vs tiny" in "\n".join(lineage_lines(got))


def test_orpo_run_writes_its_curves(store, home, pair_set):
    _check_pair_run(store, _train(store, home, pair_set, method="orpo"), "orpo", 4)


def test_kto_run_weights_the_balance_and_logs_kl(store, home, signals):
    from ftui.train import runs

    version, result, _ = build_dataset(store, "kto", DatasetSpec(kind="unpaired", near_dup=None,
                                                                 val=0.0))
    final = _train(store, home, version.id, method="kto")
    assert runs.metric_series(store, final.id, "kl") and runs.metric_series(
        store, final.id, "rewards_chosen")
    said = " ".join(e.message for e in runs.events(store, final.id))
    assert "kto weights: desirable" in said


def test_method_and_dataset_kind_must_fit(store, home, pair_set, signals):
    from ftui.train import runs
    from ftui.train.config import RunConfig

    with pytest.raises(FtuiError, match="dpo trains on a preference version"):
        sft, _, _ = build_dataset(store, "sft", DatasetSpec(near_dup=None, val=0.0))
        runs.create_run(store, sft.id, "tiny", RunConfig(method="dpo"))
    with pytest.raises(FtuiError, match="sft trains on a sft version"):
        runs.create_run(store, pair_set, "tiny", RunConfig())
    with pytest.raises(FtuiError, match="kto needs batch_size 2"):
        RunConfig(method="kto", batch_size=1).validate()


def test_cli_dpo_from_an_sft_adapter_keeps_its_base_and_refers_to_it(store, home, pair_set,
                                                                     monkeypatch, capsys):
    """`ftui train --method dpo --from-model ID`: the SFT adapter goes on training, TRL's
    frozen copy of it is the reference, and only the trained adapter is saved."""
    from ftui.cli import main
    from ftui.registry import get_model
    from ftui.registry.lineage import lineage
    from ftui.train import runs
    from ftui.train.base import adapter_base

    monkeypatch.setenv("FTUI_HOME", str(home))
    sft_set, _, _ = build_dataset(store, "sft", DatasetSpec(near_dup=None, val=0.0, min_rating=4))
    sft = _train(store, home, sft_set.id, max_steps=2, save_steps=2, eval_steps=2)
    start = get_model(store, f"sft-run{sft.id}")
    db = store.url
    set_ = ["--set", "max_steps=2", "--set", "batch_size=2", "--set", "save_steps=2",
            "--set", "max_seq_len=128", "--json"]
    assert main(["--db", db, "train", "--method", "dpo", "--dataset", str(pair_set),
                 "--from-model", str(start.id), *set_]) == 0
    run = runs.get_run(store, json.loads(capsys.readouterr().out)["run_id"])
    assert (run.status, run.base_model, run.config["from_model"]) == ("completed", "tiny",
                                                                       str(start.id))
    said = " ".join(e.message for e in runs.events(store, run.id))
    assert "reference is that model" in said
    assert not (Path(run.adapter_dir) / "ref").exists()
    assert adapter_base(run.adapter_dir, home) == adapter_base(start.path, home) == "tiny"
    got = lineage(store, get_model(store, f"pairs-run{run.id}").id)
    assert got["run"]["reference_model"] == str(start.id)
    # a base that is not the adapter's base is refused, naming both
    assert main(["--db", db, "train", "--method", "dpo", "--dataset", str(pair_set),
                 "--from-model", str(start.id), "--base", "demo"]) == 2
    assert "not demo" in capsys.readouterr().err


def test_dpo_run_curves_and_preference_accuracy_before_and_after(store, home, pair_set, monkeypatch,
                                                              capsys):
    """No reference model needed: the base has a figure too. DPO on the train pairs raises the
    margin of chosen over rejected on those pairs."""
    from ftui.cli import main
    from ftui.registry import get_model
    from ftui.registry.preference_eval import mean_logprob

    monkeypatch.setenv("FTUI_HOME", str(home))
    db = store.url
    args = ["--dataset", str(pair_set), "--split", "train", "--json"]
    assert main(["--db", db, "models", "evaluate", "tiny", *args]) == 0
    base = json.loads(capsys.readouterr().out)
    pairs = preference_examples(store, pair_set, "train")
    assert base["pairs"] == len(pairs) and base["split"] == "train"
    low, high = base["ci95"]
    assert 0 <= low <= base["preference_accuracy"] <= high <= 1
    # the figure is the share of pairs whose chosen reply has the higher mean log-prob
    from ftui.inference import local_model

    tok, net = local_model("tiny", None, home)
    import torch

    with torch.no_grad():
        margins = [mean_logprob(tok, net, [*p.prompt, p.reply], 1024)
                   - mean_logprob(tok, net, [*p.prompt, p.rejected], 1024) for p in pairs]
    assert base["preference_accuracy"] == sum(m > 0 for m in margins) / len(margins)
    assert base["mean_margin"] == pytest.approx(sum(margins) / len(margins), abs=1e-6)

    final = _train(store, home, pair_set, method="dpo", max_steps=6, learning_rate=2e-2,
                   beta=0.5, eval_steps=3, save_steps=100)
    _check_pair_run(store, final, "dpo", 6)
    model = get_model(store, f"pairs-run{final.id}")
    assert main(["--db", db, "models", "evaluate", str(model.id), *args]) == 0
    tuned = json.loads(capsys.readouterr().out)
    assert tuned["mean_margin"] > base["mean_margin"]
    assert get_model(store, model.id).metrics["eval_preference"]["pairs"] == len(pairs)
    assert main(["--db", db, "models", "evaluate", str(model.id), "--dataset", str(pair_set),
                 "--split", "train"]) == 0
    assert "preference accuracy" in capsys.readouterr().out


def test_kto_run_cancelled_in_the_app_worker_resumes_to_its_last_step(store, home, signals):
    """The shared run machinery holds for a preference method: cancel keeps a checkpoint,
    resume continues from it and redoes no step's curves twice."""
    import time

    from ftui.train import runs
    from ftui.train.config import RunConfig
    from ftui.train.worker import WorkerThread, run_worker

    version, _, _ = build_dataset(store, "kto", DatasetSpec(kind="unpaired", near_dup=None,
                                                            val=0.0))
    cfg = RunConfig(**{**PREF_FAST, "method": "kto", "max_steps": 8, "save_steps": 100,
                       "eval_steps": 100}).validate()
    run = runs.create_run(store, version.id, "tiny", cfg)
    worker = WorkerThread(store, home)
    worker.start()
    worker.submit(run.id)
    try:
        end = time.monotonic() + 240
        while runs.get_run(store, run.id).step < 2 and time.monotonic() < end:
            time.sleep(0.005)
        runs.request_cancel(store, run.id)
        while runs.get_run(store, run.id).status != "cancelled" and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        worker.stop_event.set()
        worker.join(timeout=30)
    stopped = runs.get_run(store, run.id)
    assert stopped.status == "cancelled" and 2 <= stopped.step < 8
    assert (Path(stopped.output_dir) / f"checkpoint-{stopped.step}").is_dir()
    runs.resume_run(store, run.id)
    run_worker(store, home, once=True, only=run.id)
    final = runs.get_run(store, run.id)
    assert final.status == "completed", final.error
    assert (final.step, final.total_steps) == (8, 8)
    assert f"resuming from checkpoint-{stopped.step}" in [e.message for e in
                                                           runs.events(store, run.id)]
    steps = [s for s, _ in runs.metric_series(store, run.id, "rewards_chosen")]
    assert steps == sorted(set(steps)) and steps[-1] == 8


async def test_new_run_form_picks_the_method_of_the_version_and_trains_it(store, home, pair_set):
    """F3 → n: a preference version brings `dpo`; `sft` on it is refused in the form; the run
    it starts trains DPO and writes its curves."""
    import time

    from ftui.screens.app import FtuiApp
    from ftui.screens.training import NewRunDialog, TrainingScreen
    from textual.widgets import Input, Select

    from ftui.config import Settings
    from ftui.train import runs

    async def until(pilot, check, what, timeout=60.0):
        end = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < end, f"timed out waiting for {what}"
            await pilot.pause(0.05)

    app = FtuiApp(store, Settings(home=home, database_url=store.url))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("f3")
        await until(pilot, lambda: isinstance(app.screen, TrainingScreen), "F3")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewRunDialog), "the form")
        form = app.screen
        assert form.query_one("#method", Select).value == "dpo"
        form.query_one("#method", Select).value = "sft"
        await until(pilot, lambda: "sft trains on a sft version" in str(
            form.query_one("#estimate").render()), "the refusal")
        form.query_one("#method", Select).value = "dpo"
        for name, value in (("max_steps", "2"), ("batch_size", "2"), ("eval_steps", "2"),
                            ("save_steps", "2"), ("max_seq_len", "128")):
            form.query_one(f"#f_{name}", Input).value = value
        await until(pilot, lambda: "steps" in str(form.query_one("#estimate").render()),
                    "the estimate")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: (runs.list_runs(store) or [None])[0] is not None
                    and runs.list_runs(store)[0].status in ("completed", "failed"),
                    "the run to end", timeout=300)
        run = runs.list_runs(store)[0]
        assert run.status == "completed", run.error
        assert run.config["method"] == "dpo" and runs.metric_series(store, run.id,
                                                                    "rewards_margins")
        # F3 draws the method's own curves where an SFT run shows its learning rate
        from ftui.widgets.run_plots import LrPlot

        await until(pilot, lambda: app.screen._plotted[:2] == (run.id, 2), "the plots")
        drawn = app.screen.query_one(LrPlot).plt.build()
        assert "dpo: rewards" in drawn and "margin" in drawn
