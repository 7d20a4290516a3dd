"""Statistics against textbook values worked out independently, and the report's verdicts."""

from __future__ import annotations

import json
import random

import pytest

from ftui.ab import create_experiment, log_outcome, set_status
from ftui.ab.report import report
from ftui.ab.stats import (
    binomial_p,
    bradley_terry,
    bradley_terry_ci,
    mean_ci,
    sample_size_per_arm,
    srm_p,
    welch,
    wilson,
)
from ftui.cli import main

# Welch's t-test, example 1 of the Wikipedia article: t = -2.46, df = 25.0, p = 0.021
A1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
A2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


def test_welch_textbook_example():
    w = welch(A2, A1)  # mean(A1) - mean(A2), as the article's t
    assert w.t == pytest.approx(-2.46, abs=0.005)
    assert w.df == pytest.approx(25.0, abs=0.05)
    assert w.p_value == pytest.approx(0.021, abs=0.0005)
    assert w.low < w.diff < w.high < 0


def test_wilson_by_hand():
    # 8 of 10: centre (0.8 + 1.96^2/20) / (1 + 1.96^2/10) = 0.7168, half-width 0.2266
    w = wilson(8, 10)
    assert (w.low, w.high) == (pytest.approx(0.4902, abs=1e-3), pytest.approx(0.9433, abs=1e-3))


def test_binomial_srm_power_and_mean():
    assert binomial_p(7, 10) == pytest.approx(352 / 1024)  # 2 * (120+45+10+1) / 2^10
    # 5000 vs 5200 against 50/50: chi2 = 2 * 100^2 / 5100 = 3.92, p = 0.0477
    assert srm_p(5000, 5200, 0.5) == pytest.approx(0.0477, abs=1e-4)
    assert srm_p(7000, 3000, 0.3) == pytest.approx(1.0)
    # sd 1, effect 0.5, alpha 0.05, power 0.8: 2 * (1.96 + 0.8416)^2 / 0.25 = 62.8 -> 63
    assert sample_size_per_arm(1.0, 0.5) == 63
    ci = mean_ci([1, 2, 3, 4, 5])  # mean 3, sd 1.581, t(4) = 2.776: 3 +- 1.963
    assert ci.estimate == 3 and ci.low == pytest.approx(1.037, abs=1e-3)


def test_bradley_terry_two_and_three_players():
    s = bradley_terry([("a", "b", 1.0)] * 3 + [("a", "b", 0.0)])
    assert s["a"] / (s["a"] + s["b"]) == pytest.approx(0.75, abs=0.01)  # the MLE is 3 : 1
    rng = random.Random(1)
    true = {"x": 4.0, "y": 2.0, "z": 1.0}
    games = []
    for _ in range(600):
        i, j = rng.sample(sorted(true), 2)
        games.append((i, j, 1.0 if rng.random() < true[i] / (true[i] + true[j]) else 0.0))
    ranked = bradley_terry_ci(games, rounds=50)
    assert sorted(ranked, key=lambda p: -ranked[p].estimate) == ["x", "y", "z"]
    assert all(r.low <= r.estimate <= r.high for r in ranked.values())


def _exp(store, **kw):
    exp = create_experiment(store, name="e", alias="assistant", model_a="base:1",
                            model_b="tuned:1", salt="k", min_samples=20, **kw)
    set_status(store, exp.id, "running")
    return exp


def test_report_not_enough_data_then_b_better(store):
    from ftui.ab.experiments import arm_for

    exp = _exp(store)
    units = [f"u{i}" for i in range(400)]
    by_arm = {"A": [u for u in units if arm_for("k", u, 0.5) == "A"],
              "B": [u for u in units if arm_for("k", u, 0.5) == "B"]}
    for u in by_arm["A"][:5] + by_arm["B"][:5]:
        log_outcome(store, exp.id, u, None, rating=4, latency=100)
    early = report(store, exp.id)
    assert early["verdict"] == ("not enough data: A has 5 of the 20 rated interactions the "
                                "experiment requires; B has 5 of the 20 rated interactions "
                                "the experiment requires")
    assert early["more_rated_needed"] == 30
    rng = random.Random(0)
    for u in by_arm["A"][5:60]:
        log_outcome(store, exp.id, u, None, rating=rng.choice([3, 3, 4, 4, 2]), latency=120)
    for u in by_arm["B"][5:60]:
        log_outcome(store, exp.id, u, None, rating=rng.choice([4, 4, 5, 5, 3]), latency=110)
    r = report(store, exp.id)
    assert r["p_value"] < 0.05 and r["diff_mean_rating"] > 0 and r["winner"] == "B"
    assert r["verdict"].startswith("B better, p = ") and "stars [" in r["verdict"]
    assert r["arms"]["A"]["rated"] == 60 and r["srm_p_value"] > 0.001


def test_srm_is_flagged(store):
    exp = _exp(store, split_b=0.5)
    from ftui.store import Assignment

    with store.session() as s:  # an assignment bug: 900 units in A, 100 in B
        s.add_all([Assignment(experiment_id=exp.id, unit=f"x{i}", arm="A" if i < 900 else "B")
                   for i in range(1000)])
        s.commit()
    r = report(store, exp.id)
    assert r["srm_flag"] and r["verdict"].startswith("sample ratio mismatch")


def test_cli_ab_round_trip(store, capsys):
    db = ["--db", store.url]
    assert main([*db, "ab", "create", "exp1", "--alias", "assistant", "--a", "base:1",
                 "--b", "tuned:1", "--split", "0.5", "--no-check", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert main([*db, "ab", "start", str(made["id"]), "--json"]) == 0
    capsys.readouterr()
    assert main([*db, "ab", "assign", "exp1", "user-7", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert set(got) == {"experiment", "unit", "arm", "model"} and got["unit"] == "user-7"
    assert got["model"] == ("tuned:1" if got["arm"] == "B" else "base:1")
    assert main([*db, "ab", "report", "exp1", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert {"units", "rated", "mean_rating", "ci95"} <= set(rep["arms"]["A"])
    assert {"p_value", "srm_p_value", "verdict"} <= set(rep)
    assert rep["arms"][got["arm"]]["units"] == 1


def test_arena_votes_export_as_pairs_and_rank(store, tmp_path, capsys):
    from ftui.ab.arena import record_vote

    msgs = [{"role": "user", "content": "hi"}]
    for winner in ("B", "B", "A", "tie", "both_bad"):
        record_vote(store, model_a="m1", model_b="m2", left="A", winner=winner, messages=msgs,
                    answer_a="one", answer_b="two")
    out = tmp_path / "pairs.jsonl"
    assert main(["--db", store.url, "ab", "pairs", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pairs"] == 3
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    # message lists, the conversational shape of `dataset pairs` that TRL's DPO trainer reads
    assert [(x["chosen"][0]["content"], x["rejected"][0]["content"]) for x in lines] == \
        [("two", "one")] * 2 + [("one", "two")]
    assert all(x["chosen"][0]["role"] == "assistant" and x["prompt"] == msgs for x in lines)
    assert main(["--db", store.url, "ab", "ranking", "--json"]) == 0
    ranked = json.loads(capsys.readouterr().out)["ranking"]
    assert [r["model"] for r in ranked] == ["m2", "m1"]  # 2.5 of 4 scored games for m2


def test_every_command_has_working_help(capsys):
    """argparse %-formats help strings: a stray % breaks --help (it did, for ab ranking)."""
    import argparse

    from ftui.cli import build_parser

    def walk(parser, path):
        yield path
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, [*path, name])

    paths = list(walk(build_parser(), []))
    assert ["ab", "ranking"] in paths and ["models", "deploy"] in paths
    for path in paths:
        with pytest.raises(SystemExit) as done:
            main([*path, "--help"])
        assert done.value.code == 0, path
    assert "usage: ftui" in capsys.readouterr().out


def _rate_arms(store, exp, ratings_a, ratings_b):
    from ftui.ab.experiments import arm_for

    units = [f"v{i}" for i in range(2000)]
    pools = {arm: iter([u for u in units if arm_for(exp.salt, u, exp.split_b) == arm])
             for arm in ("A", "B")}
    for arm, ratings in (("A", ratings_a), ("B", ratings_b)):
        for r in ratings:
            log_outcome(store, exp.id, next(pools[arm]), None, rating=r, latency=100)


@pytest.mark.parametrize("values", [[1, 5], [5], [1], [5, 5, 5], [1, 1, 2], [1, 5, 1, 5, 3],
                                    [4] * 200, [5] * 199 + [1]])
def test_a_rating_interval_stays_inside_the_scale(values):
    from ftui.ab.stats import bounded_mean_ci

    ci = bounded_mean_ci(values, 1, 5)
    assert 1 <= ci.low <= ci.estimate <= ci.high <= 5
    assert ci.low < ci.high  # a few equal ratings still leave doubt


def test_the_rating_interval_covers_the_true_mean_about_95_percent():
    """Skewed towards 5 (where a t interval crosses the top of the scale) and n = 15."""
    from ftui.ab.stats import bounded_mean_ci

    rng = random.Random(7)
    probs = [0.02, 0.03, 0.1, 0.3, 0.55]
    true = sum((k + 1) * p for k, p in enumerate(probs))
    hits = 0
    for _ in range(400):
        sample = rng.choices(range(1, 6), probs, k=15)
        ci = bounded_mean_ci(sample, 1, 5)
        hits += ci.low <= true <= ci.high
    assert 0.92 <= hits / 400 <= 0.995


def test_report_intervals_stay_on_the_scale(store):
    exp = _exp(store)
    _rate_arms(store, exp, [1, 5], [5, 5, 4])
    arms = report(store, exp.id)["arms"]
    for arm in arms.values():
        lo, hi = arm["ci95"]
        assert 1 <= lo < hi <= 5


def test_the_verdict_honours_the_experiments_minimum_and_names_what_is_missing(store):
    exp = create_experiment(store, name="small", alias="assistant", model_a="base:1",
                            model_b="tuned:1", salt="k", min_samples=5)
    _rate_arms(store, exp, [4, 3, 4], [4, 4, 5, 3, 4])
    early = report(store, exp.id)
    assert early["verdict"].startswith("not enough data")
    assert "A has 3 of the 5 rated interactions" in early["verdict"]
    assert "B has" not in early["verdict"] and early["more_rated_needed"] == 2
    _rate_arms(store, exp, [4, 5], [])  # A now has 5 too
    later = report(store, exp.id)
    assert later["more_rated_needed"] == 0
    assert not later["verdict"].startswith("not enough data"), later["verdict"]
    assert "no clear difference" in later["verdict"]
    assert "needed" not in later["verdict"]  # the minimum is met; more data is optional
