"""Sequential statistics: proof by simulation that the report is safe to watch, and units (not
interactions) as the observations."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from ftui.ab import create_experiment, log_outcome, set_status, stats
from ftui.ab.report import report, sequential_tuning
from ftui.cli import main

RATINGS = np.arange(1, 6)
PROBS = np.array([0.1, 0.1, 0.2, 0.3, 0.3])  # mean 3.6, sd 1.28: a typical spread of ratings


def simulate(experiments: int, outcomes: int, effect: float, tuning: float, every: int = 10,
             seed: int = 0) -> dict[str, float]:
    """`experiments` A/B tests of `outcomes` rated units each (B's share 1/2), read after every
    `every` outcomes. Returns the share of experiments with a significant result at any look,
    sequential (the report's code: stats.sequential_moments) and fixed-horizon (Welch-style z).
    B's ratings are A's shifted by `effect` stars, kept on the scale by moving mass up."""
    rng = np.random.default_rng(seed)
    ratings = rng.choice(RATINGS, size=(experiments, outcomes), p=PROBS).astype(float)
    in_b = rng.random((experiments, outcomes)) < 0.5
    if effect:  # raise a share of B's ratings by one star: mean shift = effect exactly
        below = PROBS[:4].sum()
        bump = in_b & (ratings < 5) & (rng.random(ratings.shape) < effect / below)
        ratings = ratings + bump
    looks = np.arange(every, outcomes + 1, every) - 1

    def moments(mask):
        x = np.where(mask, ratings, 0.0)
        return (np.cumsum(mask, 1)[:, looks], np.cumsum(x, 1)[:, looks],
                np.cumsum(x * x, 1)[:, looks])

    na, sa, qa = moments(~in_b)
    nb, sb, qb = moments(in_b)
    ready = (na >= 2) & (nb >= 2)
    _d, low, high, p = stats.sequential_moments(na, sa, qa, nb, sb, qb, 0.05, tuning)
    seq = ready & ((low > 0) | (high < 0))
    assert np.array_equal(seq, ready & (p < 0.05))  # the p-value and the interval agree
    with np.errstate(divide="ignore", invalid="ignore"):
        ma, mb = sa / na, sb / nb
        se = np.sqrt((qa - na * ma ** 2) / (na - 1) / na + (qb - nb * mb ** 2) / (nb - 1) / nb)
        fixed = ready & (np.abs(mb - ma) / se > 1.959964)
    return {"sequential": float(seq.any(1).mean()), "fixed": float(fixed.any(1).mean())}


@pytest.mark.parametrize("tuning", [stats.SEQUENTIAL_TUNING, 350])
def test_aa_false_positive_rate_under_peeking_every_10_outcomes(tuning):
    """1,000 A/A experiments, read after every 10 outcomes up to 2,000: at most 5% ever show
    a significant difference with the sequential test; the fixed-horizon test read the same
    way finds many (proof the simulation can see a broken test)."""
    rates = simulate(1000, 2000, 0.0, tuning)
    assert rates["sequential"] <= 0.05, rates
    assert rates["fixed"] > 0.2, rates


def test_the_sequential_test_finds_a_true_effect_of_a_third_of_a_star():
    rates = simulate(300, 2000, 0.3, stats.SEQUENTIAL_TUNING, seed=1)
    assert rates["sequential"] >= 0.9, rates


def test_sequential_on_lists_matches_the_formula_by_hand():
    a, b = [3, 4, 3, 2, 4, 3], [4, 5, 4, 4, 5, 3]
    s = stats.sequential(a, b, 0.05, 100)
    va, vb = np.var(a, ddof=1), np.var(b, ddof=1)
    # the variance: the larger of the unpooled one and the one under the null (both arms pooled)
    n, se2 = 12, max(va / 6 + vb / 6, np.var(a + b, ddof=1) * (1 / 6 + 1 / 6))
    rho2 = (-2 * np.log(0.05) + np.log(-2 * np.log(0.05) + 1)) / 100
    half = np.sqrt(se2 * n) * np.sqrt(2 * (n * rho2 + 1) / (n * n * rho2)
                                      * np.log(np.sqrt(n * rho2 + 1) / 0.05))
    assert s.diff == pytest.approx(np.mean(b) - np.mean(a))
    assert (s.low, s.high) == (pytest.approx(s.diff - half), pytest.approx(s.diff + half))
    w = stats.welch(a, b)
    assert s.high - s.low > w.high - w.low  # always valid costs width at any one n
    assert s.p_value > w.p_value
    assert stats.sequential([5, 5], [1, 1]).p_value < 1  # equal ratings: still a finite width
    assert stats.sequential([5], [1, 2]) is None


def test_unit_means_average_each_unit_first():
    assert stats.unit_means([("u1", 5), ("u2", 1), ("u1", 3)]) == [4.0, 1.0]


def _exp(store, **kw):
    exp = create_experiment(store, name="e", alias="assistant", model_a="base:1",
                            model_b="tuned:1", salt="k", min_samples=20, **kw)
    set_status(store, exp.id, "running")
    return exp


def _units(exp, arm, count, prefix="u"):
    from ftui.ab.experiments import arm_for

    out = [f"{prefix}{i}" for i in range(count * 4)]
    return [u for u in out if arm_for(exp.salt, u, exp.split_b) == arm][:count]


def test_a_heavy_user_cannot_decide_the_verdict(store):
    """30 units a side with the same ratings, and one B user who rates 5 four hundred times:
    per interaction B looks far better (Welch p tiny), per unit there is no clear difference."""
    exp = _exp(store)
    rng = random.Random(3)
    for arm in ("A", "B"):
        for u in _units(exp, arm, 30):
            log_outcome(store, exp.id, u, None, rating=rng.choice([2, 3, 4, 4, 5]))
    heavy = _units(exp, "B", 31, prefix="u")[-1]
    for _ in range(400):
        log_outcome(store, exp.id, heavy, None, rating=5)
    r = report(store, exp.id)
    assert r["arms"]["B"]["rated"] == 430 and r["arms"]["B"]["rated_units"] == 31
    per_interaction = stats.welch(_ratings(store, exp, "A"),
                                  _ratings(store, exp, "B"))
    assert per_interaction.p_value < 0.001  # what counting interactions would conclude
    assert r["winner"] is None and r["verdict"].startswith("no clear difference"), r["verdict"]
    assert r["statistics"] == "sequential" and r["observations"] == "units"


def _ratings(store, exp, arm):
    from sqlmodel import select

    from ftui.store import Outcome

    with store.session() as s:
        return [o.rating for o in s.exec(select(Outcome).where(
            Outcome.experiment_id == exp.id, Outcome.arm == arm)) if o.rating is not None]


def test_fixed_horizon_is_an_option_with_a_warning(store, capsys):
    exp = _exp(store)
    rng = random.Random(0)
    for u in _units(exp, "A", 40):
        log_outcome(store, exp.id, u, None, rating=rng.choice([3, 3, 4, 4, 2]))
    for u in _units(exp, "B", 40):
        log_outcome(store, exp.id, u, None, rating=rng.choice([3, 4, 4, 4, 3]))
    seq, fixed = report(store, exp.id), report(store, exp.id, "fixed")
    assert seq["warning"] is None and "valid only when read once" in fixed["warning"]
    assert seq["p_value"] > fixed["p_value"]  # the sequential test asks for more evidence
    lo_s, hi_s = seq["diff_ci95"]
    lo_f, hi_f = fixed["diff_ci95"]
    assert lo_s < lo_f and hi_f < hi_s
    assert seq["sequential_tuning"] == sequential_tuning(exp)
    assert main(["--db", store.url, "ab", "report", "e", "--fixed"]) == 0
    out = capsys.readouterr().out
    assert "fixed-horizon p" in out and "warning: fixed-horizon test" in out
    assert main(["--db", store.url, "ab", "report", "e", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["statistics"] == "sequential" and got["p_value"] == pytest.approx(seq["p_value"])
    with pytest.raises(Exception, match="unknown statistics"):
        report(store, exp.id, "bayesian")
