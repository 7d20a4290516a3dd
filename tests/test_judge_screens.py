"""The judge on the screens (issue 13): F2's judged-min rule, judged evaluation and the pairwise
judge in F4, the judge metric and a judged verdict in F5. Real HTTP: the stand-in Ollama plays
both the models and a scripted judge."""

from __future__ import annotations

import pytest
from ftui.screens.app import FtuiApp
from ollama_standin import StandIn
from test_datasets_screen import settle
from textual.widgets import Select

from ftui.curate import DatasetSpec
from ftui.curate.build import count_matching


async def test_f2_judged_min_rule_keeps_unrated_ones_the_judge_scored_high(store, settings):
    from test_judge import add, judged

    ids = [add(store, f"question {k}", answer=f"A full answer to {k}, long enough.")
           for k in "abc"]
    judged(store, ids[0], 5, "k0")
    judged(store, ids[1], 2, "k1")
    app = FtuiApp(store, settings)
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.press("f2")
        await settle(pilot)
        screen = app.screen
        screen.query_one("#min_rating", Select).value = 4
        await settle(pilot)
        assert screen.result.matched == 0  # nobody rated them
        screen.query_one("#judged_min", Select).value = 4
        await settle(pilot)
        assert screen.spec().judged_min == 4
        assert screen.result.matched == 1 == count_matching(
            store, DatasetSpec(min_rating=4, judged_min=4))


# ---------------------------------------------------------------- F4: judged evaluation

def both_judges(body: dict) -> str:
    """The scripted judge: pairwise prompts to the pair judge, the rest to the rubric judge."""
    from test_judge import scripted_judge, scripted_pair_judge

    if "<answer_1>" in body["messages"][-1]["content"]:
        return scripted_pair_judge(body)
    return scripted_judge(body)


@pytest.fixture
def judged_world(store):
    """Two Ollama models and a dataset with a 4-example validation split."""
    from test_judge import JUDGE, add

    from ftui import registry
    from ftui.curate import DatasetSpec, build_dataset

    for k in range(8):
        add(store, f"question {k}", rating=5, answer=f"A full reference answer number {k}.")
    version, _, _ = build_dataset(store, "d", DatasetSpec(near_dup=None, val=0.5))
    good = registry.register(store, kind="ollama", name="good", ollama_name="good:1")
    bad = registry.register(store, kind="ollama", name="bad", ollama_name="bad:1")
    with StandIn(models={JUDGE: "", "good:1": "GOOD, score 5", "bad:1": "meh, score 2"}) as s:
        s.scripted[JUDGE] = both_judges
        s.digests[JUDGE] = "sha256:" + "b" * 64
        yield s, version, good, bad


def test_evaluate_with_a_judge_stores_per_criterion_scores_and_compares(store, judged_world,
                                                                         tmp_path):
    from test_judge import JUDGE

    from ftui.ab.stats import bounded_mean_ci
    from ftui.judge.evaluation import compare_judge_lines, judge_lines
    from ftui.registry import get_model
    from ftui.registry.evaluate import compare, evaluate

    server, version, good, bad = judged_world
    stages = []
    ev = evaluate(store, good.id, home=tmp_path, host=server.url, dataset_id=version.id,
                  judge=JUDGE, on_update=lambda p: stages.append(p.stage))
    j = ev["judge"]
    n = ev["examples"]
    assert n >= 3 and (j["answers"], j["judged"], j["failed"]) == (n, n, 0)
    assert j["judge"] == JUDGE and j["judge_digest"] == "sha256:" + "b" * 64
    assert set(j["per_criterion"]) == {"relevance", "completeness", "accuracy", "clarity",
                                       "helpfulness"}
    clarity = j["per_criterion"]["clarity"]
    assert clarity["mean"] == 5 and clarity["n"] == n
    assert clarity["ci95"] == pytest.approx(bounded_mean_ci([5] * n, 1, 5).as_list())
    assert "judge" in stages and stages[-1] == "judge"
    assert get_model(store, good.id).metrics["eval"]["judge"] == j  # stored with the evaluation
    assert any("judged by judge:7b (a model's opinion" in line for line in judge_lines(ev))

    evaluate(store, bad.id, home=tmp_path, host=server.url, dataset_id=version.id, judge=JUDGE)
    got = compare(store, good.id, bad.id)["judge"]
    row = {r["criterion"]: r for r in got["rows"]}["clarity"]
    assert (row["a"], row["b"]) == (5, 2) and got["comparable"]
    lo_a, hi_b = row["a_ci95"][0], row["b_ci95"][1]
    assert row["better"] == ("A" if lo_a > hi_b else None)  # only when intervals part
    assert any("clarity" in line for line in compare_judge_lines({"judge": got}))

    # a model evaluated without a judge: its side is empty and nothing is named better
    evaluate(store, bad.id, home=tmp_path, host=server.url, dataset_id=version.id)
    got = compare(store, good.id, bad.id)["judge"]
    assert not got["comparable"] and "B was evaluated without a judge" in got["notes"]
    assert all(r["better"] is None for r in got["rows"])


def test_an_unknown_judge_or_rubric_is_refused_before_any_answer(store, judged_world, tmp_path):
    from test_judge import JUDGE

    from ftui.errors import FtuiError
    from ftui.registry.evaluate import evaluate

    server, version, good, _ = judged_world
    for judge, rubric, said in (("nope:1", None, "no model 'nope:1'"),
                                (JUDGE, "nosuch", "no rubric")):
        before = len(server.requests)
        with pytest.raises(FtuiError, match=said):
            evaluate(store, good.id, home=tmp_path, host=server.url, dataset_id=version.id,
                     judge=judge, rubric=rubric)
        assert not any(p == "/api/chat" for _, p, _ in server.requests[before:])


def test_pairwise_on_a_split_both_orders_with_wilson(store, judged_world, tmp_path):
    from test_judge import JUDGE

    from ftui.judge.evaluation import compare_on_split, pairwise_lines
    from ftui.judge.run import resolve_judge

    server, version, good, bad = judged_world
    judge = resolve_judge(store, JUDGE, host=server.url, home=tmp_path)
    r = compare_on_split(store, bad.id, good.id, judge, host=server.url, home=tmp_path,
                         dataset_id=version.id)
    n = r["prompts"]
    assert n >= 3 and (r["a_wins"], r["b_wins"], r["ties"], r["failed"]) == (0, n, 0, 0)
    assert r["b_win_rate"] == 1 and r["b_win_rate_ci95"][1] == pytest.approx(1)
    judge_asks = [b for _, p, b in server.requests
                  if p == "/api/chat" and b["model"] == JUDGE]
    assert len(judge_asks) == 2 * n  # both orders
    firsts = [b["messages"][-1]["content"].split("<answer_1>")[1].strip()[:5]
              for b in judge_asks]
    assert firsts.count("GOOD,") == n  # B (GOOD) shown first in exactly one of each two
    assert "B's win rate over decisive pairs 100%" in "\n".join(pairwise_lines(r))


async def test_f4_evaluate_with_a_judge_then_compare_and_judge_pairwise(store, judged_world,
                                                                         tmp_path):
    from ftui.screens.evaluate_dialog import CompareDialog, EvaluateDialog, PairwiseDialog
    from ftui.screens.models import ModelsScreen
    from test_judge import JUDGE
    from test_models_screen import wait_until

    from ftui import registry
    from ftui.config import Settings
    from ftui.registry.evaluate import evaluate

    server, version, good, bad = judged_world
    evaluate(store, bad.id, home=tmp_path, host=server.url, dataset_id=version.id, judge=JUDGE)
    app = FtuiApp(store, Settings(home=tmp_path, database_url=store.url,
                                  ollama_host=server.url))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelsScreen)
                         and app.screen.selected == bad.id)  # newest first
        screen = app.screen
        await pilot.press("m")  # bad is A
        await pilot.press("j")
        await wait_until(pilot, lambda: screen.selected == good.id)
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, EvaluateDialog))
        app.screen.query_one("#ev-judge").value = JUDGE
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: screen.evaluating is None and "judge" in (
            registry.get_model(store, good.id).metrics.get("eval") or {}), timeout=30)
        await wait_until(pilot, lambda: "judged by judge:7b (a model's opinion" in str(
            screen.query_one("#model-info").render()))
        assert "clarity" in str(screen.query_one("#model-info").render())

        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareDialog))
        body = app.screen.body
        assert "judge scores, mean [95%]" in body and "clarity" in body
        assert "2.00 [" in body and "5.00 [" in body
        await pilot.press("j")
        await wait_until(pilot, lambda: isinstance(app.screen, PairwiseDialog))
        dialog = app.screen
        assert dialog.query_one("#pw-judge").value == JUDGE  # the judge used last
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: dialog.result is not None, timeout=30)
        assert (dialog.result["a_wins"], dialog.result["b_wins"]) == (0, 4)
        shown = str(dialog.query_one("#pw-result").render())
        assert "B's win rate over decisive pairs 100%" in shown and "both orders" in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareDialog))


# ---------------------------------------------------------------- F5: the judge metric

def printed(renderable) -> str:
    import io

    from rich.console import Console

    console = Console(width=400, file=io.StringIO(), record=True)
    console.print(renderable)
    return console.export_text()


def _judged_experiment(store, server, tmp_path, per_arm: int = 12):
    """An experiment whose traffic nobody rated, judged through the stand-in: A's answers get
    2-3, B's 4-5; two rated interactions give the agreement something to measure."""
    from test_judge import JUDGE

    from ftui import ab
    from ftui.ingest import log_interaction
    from ftui.judge.run import judge_interactions

    exp = ab.create_experiment(store, name="judged-exp", alias="assistant", model_a="a:1",
                               model_b="b:1", salt="z", min_samples=per_arm)
    ids = []
    for k in range(per_arm):
        for arm, score in (("A", 2 + k % 2), ("B", 4 + k % 2)):
            ids.append(log_interaction(
                store, [{"role": "user", "content": f"q{k}"},
                        {"role": "assistant", "content": f"score {score}"}],
                user_id=f"{arm}{k}", experiment_id=exp.id, arm=arm).id)
    for rating in (2, 5):
        ids.append(log_interaction(store, [{"role": "user", "content": "q"},
                                           {"role": "assistant", "content": f"score {rating}"}],
                                   rating=rating).id)
    report = judge_interactions(store, ids, judge=JUDGE, home=tmp_path, host=server.url)
    assert report.judged == len(ids)
    return exp


def test_judged_verdict_is_labelled_and_apart_from_the_ratings_verdict(store, judged_world,
                                                                       tmp_path):
    from ftui.ab.report import report
    from ftui.judge.experiment import JUDGED_LABEL, judged_report

    server = judged_world[0]
    exp = _judged_experiment(store, server, tmp_path)
    r = judged_report(store, exp.id)
    assert r["judged_winner"] == "B" and r["judged_verdict"].startswith(JUDGED_LABEL)
    assert "B better" in r["judged_verdict"] and r["arms"]["B"]["judged_units"] == 12
    human = report(store, exp.id)  # the ratings verdict does not move
    assert human["winner"] is None and human["verdict"].startswith("not enough data")
    fewer = judged_report(store, exp.id)
    exp.min_samples = 13
    from ftui.judge.agreement import agreement
    from ftui.judge.experiment import judged_verdict

    a, b = dict(fewer["arms"]["A"]), dict(fewer["arms"]["B"])
    a["_units"] = b["_units"] = [3.0] * 12
    said = judged_verdict(exp, a, b, agreement(store))
    assert said["judged_winner"] is None and "12 of the 13 judged unrated" in said[
        "judged_verdict"]


async def test_f5_judge_metric_beside_ratings_and_a_judged_verdict_by_choice(
        store, judged_world, tmp_path):
    from ftui.screens.dialogs import ConfirmDialog
    from ftui.screens.experiments import ExperimentsScreen
    from test_models_screen import wait_until

    from ftui import ab, registry
    from ftui.config import Settings

    server = judged_world[0]
    exp = _judged_experiment(store, server, tmp_path)
    app = FtuiApp(store, Settings(home=tmp_path, database_url=store.url,
                                  ollama_host=server.url))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("f5")
        await wait_until(pilot, lambda: isinstance(app.screen, ExperimentsScreen)
                         and app.screen.shown_judged is not None)
        screen = app.screen
        figures = printed(screen.query_one("#exp-figures").content)
        assert "judged (a model's opinion, not people's ratings)" in figures
        assert "A 2.50 [" in figures and "B 4.50 [" in figures
        assert "judge vs people kappa" in figures
        verdict = str(screen.query_one("#verdict").render())
        assert verdict.count("not enough data") == 1 and "JUDGED" not in verdict  # ratings
        await pilot.press("P")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmDialog)  # no winner on ratings

        await pilot.press("J")  # the operator rests the verdict on judged traffic
        await wait_until(pilot, lambda: "verdict on JUDGED traffic" in str(
            screen.query_one("#verdict").render()))
        verdict = str(screen.query_one("#verdict").render())
        assert "B better" in verdict and "ratings verdict (not the basis now" in verdict
        await pilot.press("P")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_until(pilot, lambda: ab.get_experiment(store, exp.id).status == "stopped",
                         timeout=30)
    winner = registry.get_model(store, "b:1")
    assert winner.stage == "production"
    assert "JUDGED traffic" in registry.history(store, winner.id)[-1].note


def test_cli_models_evaluate_judge_and_compare(store, judged_world, tmp_path, capsys,
                                               monkeypatch):
    from test_judge import JUDGE

    from ftui.cli import main

    server, version, good, bad = judged_world
    monkeypatch.setenv("FTUI_HOME", str(tmp_path))
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    for model in (good, bad):
        assert main(["--db", store.url, "models", "evaluate", str(model.id), "--dataset",
                     str(version.id), "--judge", JUDGE]) == 0
    out = capsys.readouterr().out
    assert out.count("judged by judge:7b (a model's opinion") == 2 and "clarity" in out
    assert main(["--db", store.url, "models", "compare", str(good.id), str(bad.id)]) == 0
    out = capsys.readouterr().out
    assert "judge scores, mean [95%]" in out and "5.00 [" in out and "2.00 [" in out
    code = main(["--db", store.url, "models", "evaluate", str(good.id), "--dataset",
                 str(version.id), "--judge", "nope:1"])
    assert code == 2 and "fix:" in capsys.readouterr().err
