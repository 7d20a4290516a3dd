"""The report of one experiment: per-arm figures, A vs B, arena votes, and a verdict in words.

A vs B on ratings is tested on units (user, else session), each unit's ratings averaged
first, so a few heavy users cannot decide a verdict. The test is sequential by default (an
asymptotic confidence sequence, see stats.py): the dashboard re-reads the report every few
seconds, and a fixed-horizon p-value read that often finds a "winner" in an A/A test far more
than 5% of the time (43% when read every 10 outcomes up to 2,000: tests/benchmarks/
bench_sequential.py). `method="fixed"` gives Welch's t-test on the same units, with a warning.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from ftui.ab import stats
from ftui.ab.experiments import get_experiment
from ftui.store import ArenaVote, Assignment, Experiment, Outcome, Store

SIGNIFICANCE = 0.05
SRM_FLAG = 0.001
METHODS = ("sequential", "fixed")
PEEKING_WARNING = ("fixed-horizon test: its p-value is valid only when read once, at a sample "
                   "size fixed in advance; read repeatedly (as a live dashboard does) it finds a "
                   "false winner far more often than 5% of the time. Use the sequential default "
                   "unless you decided the sample size before starting and look only then")


def _clean(value: Any) -> Any:
    """NaN/inf become None so the JSON stays valid."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _arm(store: Store, exp: Experiment, arm: str) -> dict[str, Any]:
    with store.session() as s:
        units = s.exec(select(func.count()).select_from(Assignment).where(
            Assignment.experiment_id == exp.id, Assignment.arm == arm)).one()
        rows = list(s.exec(select(Outcome).where(Outcome.experiment_id == exp.id,
                                                 Outcome.arm == arm)))
    ratings = [r.rating for r in rows if r.rating is not None]
    per_unit = stats.unit_means([(r.unit, r.rating) for r in rows if r.rating is not None])
    latencies = [r.latency_ms for r in rows if r.latency_ms is not None]
    speeds = [r.tokens / (r.latency_ms / 1000) for r in rows
              if r.tokens and r.latency_ms]
    ci = stats.bounded_mean_ci(ratings, 1, 5)
    return {
        "model": exp.model_a if arm == "A" else exp.model_b,
        "units": units, "interactions": len(rows), "rated": len(ratings),
        "rated_units": len(per_unit),
        "mean_rating": ci.estimate if ci else None,
        "ci95": ci.as_list() if ci else None,
        "ratings": {str(k): ratings.count(k) for k in range(1, 6)},
        "latency_ms_p50": stats.percentile(latencies, 50),
        "latency_ms_p95": stats.percentile(latencies, 95),
        "tokens_per_s": sum(speeds) / len(speeds) if speeds else None,
        "fallbacks": sum(1 for r in rows if r.fell_back),
        "_ratings": ratings, "_latencies": latencies, "_unit_ratings": per_unit,
    }


def _arena(store: Store, exp: Experiment) -> dict[str, Any]:
    with store.session() as s:
        votes = list(s.exec(select(ArenaVote).where(ArenaVote.experiment_id == exp.id,
                                                    ArenaVote.voter == "human")))  # not judges
    decisive = [v for v in votes if v.winner in ("A", "B")]
    b_wins = sum(1 for v in decisive if v.winner == "B")
    left_wins = sum(1 for v in decisive if v.winner == v.left)
    w = stats.wilson(b_wins, len(decisive))
    lw = stats.wilson(left_wins, len(decisive))
    return {"votes": len(votes), "decisive": len(decisive), "b_wins": b_wins,
            "a_wins": len(decisive) - b_wins,
            "ties": sum(1 for v in votes if v.winner == "tie"),
            "both_bad": sum(1 for v in votes if v.winner == "both_bad"),
            "b_win_rate": w.estimate if w else None, "b_win_rate_ci95": w.as_list() if w else None,
            "p_value": stats.binomial_p(b_wins, len(decisive)),
            "left_win_rate": lw.estimate if lw else None,
            "left_win_rate_ci95": lw.as_list() if lw else None}


def _shortfall(a: dict, b: dict, exp: Experiment) -> int:
    """Rated interactions still missing before each arm has the experiment's own minimum."""
    return max(0, exp.min_samples - a["rated"]) + max(0, exp.min_samples - b["rated"])


def _for_mde(a: dict, b: dict, exp: Experiment) -> int:
    """More rated interactions (both arms together) before the test sees a difference of
    `mde` stars at 80% power, with the spread seen so far: guidance, not a condition."""
    pooled = a["_ratings"] + b["_ratings"]
    sd = 1.0  # ratings 1-5: a typical spread until there is data to measure it
    if len(pooled) >= 10:
        m = sum(pooled) / len(pooled)
        sd = max(math.sqrt(sum((x - m) ** 2 for x in pooled) / (len(pooled) - 1)), 0.1)
    per_arm = stats.sample_size_per_arm(sd, exp.mde)
    return max(0, per_arm - a["rated"]) + max(0, per_arm - b["rated"])


def _missing(counts: dict[str, int], need: int, by: str) -> str:
    """'A has 3 of the 5 rated interactions the experiment requires' for each arm below."""
    return "; ".join(f"{arm} has {n} of the {need} rated interactions {by}"
                     for arm, n in counts.items() if n < need)


def _verdict(exp: Experiment, a: dict, b: dict, cmp: dict, arena: dict) -> str:
    srm = cmp["srm_p_value"]
    prefix = (f"sample ratio mismatch (p = {srm:.2g} < {SRM_FLAG}): the split is not what was "
              "configured, check the assignment before trusting any result; "
              if srm is not None and srm < SRM_FLAG else "")
    if exp.primary_metric == "win_rate":
        if arena["decisive"] < exp.min_samples:
            return prefix + (f"not enough data: {arena['decisive']} of the "
                             f"{exp.min_samples} decisive arena votes the experiment "
                             "requires")
        rate, (lo, hi), p = arena["b_win_rate"], arena["b_win_rate_ci95"], arena["p_value"]
        if p < SIGNIFICANCE:
            who = "B" if rate > 0.5 else "A"
            shown = rate if who == "B" else 1 - rate
            return prefix + (f"{who} better, p = {p:.2g}: {who} wins {shown:.0%} of decisive "
                             f"votes [{(lo if who == 'B' else 1 - hi):.0%}, "
                             f"{(hi if who == 'B' else 1 - lo):.0%}]")
        return prefix + f"no clear difference: B wins {rate:.0%} [{lo:.0%}, {hi:.0%}], p = {p:.2g}"
    if exp.primary_metric == "latency":
        t = stats.welch(a["_latencies"], b["_latencies"])
        if t is None:
            return prefix + "not enough data: fewer than two served requests in an arm"
        who = "B" if t.diff < 0 else "A"
        if t.p_value < SIGNIFICANCE:
            return prefix + (f"{who} faster, p = {t.p_value:.2g}, {t.diff:+.0f} ms "
                             f"[{t.low:+.0f}, {t.high:+.0f}]")
        return prefix + f"no clear latency difference (p = {t.p_value:.2g}, {t.diff:+.0f} ms)"
    counts = {"A": a["rated"], "B": b["rated"]}
    if min(counts.values()) < exp.min_samples:
        return prefix + "not enough data: " + _missing(counts, exp.min_samples,
                                                        "the experiment requires")
    if cmp["p_value"] is None:  # a minimum of 1: the test still needs two units per arm
        units = {"A": a["rated_units"], "B": b["rated_units"]}
        return prefix + "not enough data: " + _missing(units, 2, "the test needs").replace(
            "rated interactions", "rated units (users or sessions)")
    d, (lo, hi), p = cmp["diff_mean_rating"], cmp["diff_ci95"], cmp["p_value"]
    kind = "always valid" if cmp["statistics"] == "sequential" else "fixed-horizon"
    if p < SIGNIFICANCE:
        who = "B" if d > 0 else "A"
        shown = (d, lo, hi) if who == "B" else (-d, -hi, -lo)
        return prefix + (f"{who} better, p = {p:.2g} ({kind}), +{shown[0]:.2f} stars "
                         f"[{shown[1]:.2f}, {shown[2]:.2f}] over "
                         f"{a['rated_units'] + b['rated_units']} rated units")
    extra = cmp["more_rated_for_mde"]
    more = (f"; the minimum of {exp.min_samples} per arm is met, and ~{extra} more rated "
            f"interactions would show a difference of {exp.mde} stars at 80% power"
            if extra else "")
    return prefix + (f"no clear difference (p = {p:.2g} ({kind}), {d:+.2f} stars "
                     f"[{lo:.2f}, {hi:.2f}]){more}")


def sequential_tuning(exp: Experiment) -> int:
    """N*, the total rated units where the confidence sequence is tightest: set before any
    data (from the experiment's settings, never from its results), as validity requires.
    Twice the units per arm a fixed test needs for `mde` at a typical spread of 1 star, and
    never below both arms' minimum."""
    return max(2 * exp.min_samples, 2 * stats.sample_size_per_arm(1.0, exp.mde), 20)


def report(store: Store, ref: int | str, method: str = "sequential") -> dict[str, Any]:
    """The report; `method` "sequential" (default, safe to watch) or "fixed" (Welch, read once)."""
    from ftui.errors import FtuiError

    if method not in METHODS:
        raise FtuiError(f"unknown statistics {method!r}", f"use one of {', '.join(METHODS)}")
    exp = get_experiment(store, ref)
    a, b = _arm(store, exp, "A"), _arm(store, exp, "B")
    ua, ub = a["_unit_ratings"], b["_unit_ratings"]
    t = (stats.sequential(ua, ub, 1 - 0.95, sequential_tuning(exp)) if method == "sequential"
         else stats.welch(ua, ub))
    cmp = {"statistics": method, "observations": "units",
           "sequential_tuning": sequential_tuning(exp) if method == "sequential" else None,
           "warning": PEEKING_WARNING if method == "fixed" else None,
           "diff_mean_rating": t.diff if t else None,
           "diff_ci95": [t.low, t.high] if t else None,
           "p_value": t.p_value if t else None,
           "srm_p_value": stats.srm_p(a["units"], b["units"], exp.split_b),
           "more_rated_needed": _shortfall(a, b, exp),
           "more_rated_for_mde": _for_mde(a, b, exp)}
    arena = _arena(store, exp)
    verdict = _verdict(exp, a, b, cmp, arena)
    for arm in (a, b):
        for key in ("_ratings", "_latencies", "_unit_ratings"):
            arm.pop(key)
    return _clean({
        "experiment": {"id": exp.id, "name": exp.name, "alias": exp.alias, "status": exp.status,
                       "split_b": exp.split_b, "primary_metric": exp.primary_metric,
                       "min_samples": exp.min_samples, "mde": exp.mde},
        "arms": {"A": a, "B": b}, **cmp,
        "srm_flag": cmp["srm_p_value"] is not None and cmp["srm_p_value"] < SRM_FLAG,
        "arena": arena, "verdict": verdict, "winner": _winner(verdict)})


def _winner(verdict: str) -> str | None:
    for who in ("A", "B"):
        if verdict.startswith(f"{who} better") or f": {who} better" in verdict:
            return who
    return None


def cumulative(store: Store, ref: int | str) -> dict[str, list[tuple[int, float]]]:
    """Cumulative mean rating per arm by rated interaction, and B's cumulative arena win rate:
    the curves of the dashboard."""
    exp = get_experiment(store, ref)
    with store.session() as s:
        rows = list(s.exec(select(Outcome).where(Outcome.experiment_id == exp.id,
                                                 col(Outcome.rating).is_not(None))
                           .order_by(col(Outcome.created_at), col(Outcome.id))))
        votes = list(s.exec(select(ArenaVote).where(ArenaVote.experiment_id == exp.id,
                                                    ArenaVote.voter == "human",
                                                    col(ArenaVote.winner).in_(("A", "B")))
                            .order_by(col(ArenaVote.id))))
    out: dict[str, list[tuple[int, float]]] = {"A": [], "B": [], "win_rate": []}
    sums = {"A": [0, 0], "B": [0, 0]}
    for i, r in enumerate(rows, 1):
        acc = sums[r.arm]
        acc[0] += r.rating
        acc[1] += 1
        out[r.arm].append((i, acc[0] / acc[1]))
    wins = 0
    for i, v in enumerate(votes, 1):
        wins += v.winner == "B"
        out["win_rate"].append((i, wins / i))
    return out


def promote_winner(store: Store, ref: int | str, arm: str | None = None, *,
                   force: str | None = None, gate: dict[str, Any] | None = None,
                   home=None, host: str | None = None, general_items: int | None = None,
                   on_line=None, verdict: str | None = None) -> dict[str, Any]:
    """Promote the winning arm's model to production in the experiment's slot (an Ollama name
    not yet in the registry is registered first) and stop the experiment. The promotion goes
    through the regression gate (registry.promote): a failed gate refuses it unless `force`
    gives a reason; `gate` passes a result already computed for that model and slot.
    `verdict`: the verdict the promotion rests on when it is not the report's (a judged one,
    issue 13), kept in the stage history as it is labelled."""
    from ftui import registry
    from ftui.ab.experiments import set_status
    from ftui.config import load_settings
    from ftui.errors import FtuiError

    exp = get_experiment(store, ref)
    result = report(store, exp.id)
    if verdict:
        result["verdict"] = verdict
    arm = arm or result["winner"]
    if arm not in ("A", "B"):
        raise FtuiError(f"experiment {exp.name} has no winner yet: {result['verdict']}",
                        "wait for more data, or choose with --arm A|B")
    ref_model = exp.model_a if arm == "A" else exp.model_b
    try:
        model = registry.get_model(store, ref_model)
    except FtuiError:
        model = registry.register(store, kind="ollama", name=ref_model, ollama_name=ref_model,
                                  notes=f"winner of experiment {exp.name}")
    slot = exp.slot or "general"
    settings = load_settings()
    model, gate = registry.promote(
        store, model.id, slot, f"won experiment {exp.name}: {result['verdict']}",
        home=home or settings.home, host=host or settings.ollama_host, force=force, gate=gate,
        settings_extra=settings.extra, general_items=general_items, on_line=on_line)
    set_status(store, exp.id, "stopped")
    return {"experiment": exp.name, "arm": arm, "model": model.name, "model_id": model.id,
            "slot": slot, "verdict": result["verdict"], "gate": gate}
