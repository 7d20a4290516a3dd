"""The judge's score as an experiment metric for traffic nobody rated. Kept apart from the
human ratings (its own figures, labelled judge), never mixed into them; the judge's agreement
with people is shown beside it so the operator knows how much the verdict may rest on it.

`judged_report` also carries a verdict on judged traffic alone (`judged_verdict`, always
labelled as such): the same sequential test on units as the rating verdict, on the judge's
scores of unrated interactions. The experiment's verdict rests on it only when the operator
chooses that basis (F5's J); the rating verdict stays as it is."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select

from ftui.store.db import Store
from ftui.store.models import Interaction, Judgement

JUDGED_LABEL = ("on JUDGED traffic (a judge's scores of unrated interactions, not people's "
                "ratings)")
KAPPA_TRUSTED = 0.4


def _arm(rows: list[tuple[int | None, int | None, str]]) -> dict[str, Any]:
    from ftui.ab.stats import bounded_mean_ci, unit_means

    judged = [s for _, s, _ in rows if s is not None]
    unrated = [s for r, s, _ in rows if s is not None and r is None]
    units = unit_means([(u, s) for r, s, u in rows if s is not None and r is None])
    ci = bounded_mean_ci(judged, 1, 5)
    ci_unrated = bounded_mean_ci(unrated, 1, 5)
    return {"interactions": len(rows), "human_rated": sum(1 for r, _, _ in rows if r is not None),
            "judged": len(judged), "judged_unrated": len(unrated),
            "mean_judge": ci.estimate if ci else None,
            "mean_judge_ci95": ci.as_list() if ci else None,
            "mean_judge_unrated": ci_unrated.estimate if ci_unrated else None,
            "mean_judge_unrated_ci95": ci_unrated.as_list() if ci_unrated else None,
            "judged_units": len(units), "_unrated": unrated, "_units": units}


def judged_report(store: Store, ref: int | str, judge: str | None = None) -> dict[str, Any]:
    """Per arm: judge scores (all judged, and the unrated alone), B - A on the unrated with
    Welch's test, and the judge's agreement with the human ratings."""
    from ftui.ab.experiments import get_experiment
    from ftui.ab.stats import welch
    from ftui.judge.agreement import agreement
    from ftui.judge.arena import judge_arena_summary

    exp = get_experiment(store, ref)
    IC, J = Interaction.__table__.c, Judgement.__table__.c
    on = and_(J.interaction_id == IC.id, J.current.is_(True), J.status == "ok")
    if judge:
        on = and_(on, J.judge == judge)
    stmt = (select(IC.arm, IC.rating, J.score, IC.user_id, IC.session_id, IC.id)
            .select_from(Interaction.__table__)
            .outerjoin(Judgement.__table__, on).where(IC.experiment_id == exp.id))
    by_arm: dict[str, list] = {"A": [], "B": []}
    with store.engine.connect() as conn:
        for arm, rating, score, user, session, iid in conn.execute(stmt):
            if arm in by_arm:  # the unit: the user, else the session, else the interaction
                by_arm[arm].append((rating, score, user or session or f"#{iid}"))
    a, b = _arm(by_arm["A"]), _arm(by_arm["B"])
    t = welch(a.pop("_unrated"), b.pop("_unrated"))
    trust = agreement(store, judge)
    verdict = judged_verdict(exp, a, b, trust)
    for arm in (a, b):
        arm.pop("_units")
    return {"experiment": {"id": exp.id, "name": exp.name, "model_a": exp.model_a,
                           "model_b": exp.model_b},
            "metric": "judge score on unrated traffic (not a human rating)",
            "judge": judge, "arms": {"A": a, "B": b},
            "diff_mean_judge_unrated": t.diff if t else None,
            "diff_ci95": [t.low, t.high] if t else None, "p_value": t.p_value if t else None,
            "agreement": {k: trust[k] for k in ("n", "kappa_quadratic", "spearman", "warning")},
            "arena_judges": judge_arena_summary(store, exp.id), **verdict}


def judged_verdict(exp, a: dict[str, Any], b: dict[str, Any],
                   trust: dict[str, Any]) -> dict[str, Any]:
    """The verdict on judged traffic, in words that say so, and the arm it names (if any)."""
    from ftui.ab import stats
    from ftui.ab.report import SIGNIFICANCE, sequential_tuning

    kappa = trust.get("kappa_quadratic")
    caution = ("; caution: the judge's agreement with people is unknown (no interaction has "
               "both)" if not trust.get("n") else
               f"; caution: the judge agrees poorly with people (kappa {kappa:.2f} < "
               f"{KAPPA_TRUSTED})" if kappa is None or kappa < KAPPA_TRUSTED else
               f"; judge vs people kappa {kappa:.2f} over {trust['n']}")
    out: dict[str, Any] = {"judged_verdict": None, "judged_winner": None,
                           "judged_p_value": None, "judged_diff_ci95": None}
    counts = {"A": a["judged_unrated"], "B": b["judged_unrated"]}
    if min(counts.values()) < exp.min_samples:
        short = "; ".join(f"{arm} has {n} of the {exp.min_samples} judged unrated "
                          "interactions the experiment requires" for arm, n in counts.items()
                          if n < exp.min_samples)
        out["judged_verdict"] = f"{JUDGED_LABEL}: not enough data: {short}{caution}"
        return out
    t = stats.sequential(a["_units"], b["_units"], 1 - 0.95, sequential_tuning(exp))
    if t is None:
        out["judged_verdict"] = (f"{JUDGED_LABEL}: not enough data: the test needs two judged "
                                 f"units (users or sessions) per arm{caution}")
        return out
    out.update(judged_p_value=t.p_value, judged_diff_ci95=[t.low, t.high])
    units = a["judged_units"] + b["judged_units"]
    if t.p_value < SIGNIFICANCE:
        who = "B" if t.diff > 0 else "A"
        d, lo, hi = (t.diff, t.low, t.high) if who == "B" else (-t.diff, -t.high, -t.low)
        out["judged_winner"] = who
        out["judged_verdict"] = (f"{JUDGED_LABEL}: {who} better, p = {t.p_value:.2g} (always "
                                 f"valid), +{d:.2f} judge points [{lo:.2f}, {hi:.2f}] over "
                                 f"{units} judged units{caution}")
    else:
        out["judged_verdict"] = (f"{JUDGED_LABEL}: no clear difference (p = {t.p_value:.2g}, "
                                 f"{t.diff:+.2f} judge points [{t.low:.2f}, {t.high:.2f}])"
                                 f"{caution}")
    return out


def judged_key(store: Store, experiment_id: int) -> tuple:
    """Changes whenever the judged report may: new judgements or new interactions (two
    primary-key maxima, cheap enough to read on every dashboard refresh)."""
    from sqlalchemy import func

    from ftui.store.models import ArenaVote

    with store.engine.connect() as conn:
        v = conn.execute(select(func.max(ArenaVote.__table__.c.id))).scalar()
        j = conn.execute(select(func.max(Judgement.__table__.c.id))).scalar()
        i = conn.execute(select(func.max(Interaction.__table__.c.id))).scalar()
        r = conn.execute(select(func.count()).select_from(Interaction.__table__).where(
            Interaction.__table__.c.rating.is_not(None))).scalar()
    return experiment_id, j, i, r, v


def judged_lines(r: dict[str, Any]) -> list[str]:
    """The judge metric for the dashboard, beside (never inside) the human figures."""
    a, b = r["arms"]["A"], r["arms"]["B"]
    votes = r.get("arena_judges")
    arena = []
    if votes:
        rate = votes["b_win_rate"]
        shown = "-" if rate is None else (f"{rate:.0%} [{votes['b_win_rate_ci95'][0]:.0%}, "
                                          f"{votes['b_win_rate_ci95'][1]:.0%}]")
        arena = [f"arena, judges' votes (kept out of the verdict): {votes['votes']} by "
                 f"{', '.join(votes['voters'])} · B wins {votes['b_wins']}/{votes['decisive']} "
                 f"{shown} · ties {votes['ties']}"]
    if not a["judged"] and not b["judged"]:
        return ["judged: no judge scores yet for this experiment's traffic (F1: filter it, "
                "then J; or ftui judge run)", *arena]

    def arm(x: dict) -> str:
        ci = x["mean_judge_unrated_ci95"]
        mean = "-" if x["mean_judge_unrated"] is None else f"{x['mean_judge_unrated']:.2f}"
        return mean + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "") + (
            f" of {x['judged_unrated']} unrated")

    out = [f"judged (a model's opinion, not people's ratings): judge score on unrated traffic "
           f"A {arm(a)} · B {arm(b)}"]
    if r["diff_mean_judge_unrated"] is not None:
        lo, hi = r["diff_ci95"]
        out.append(f"judged: B - A {r['diff_mean_judge_unrated']:+.2f} [{lo:+.2f}, {hi:+.2f}], "
                   f"Welch p = {r['p_value']:.2g}")
    t = r["agreement"]
    kappa = "-" if t["kappa_quadratic"] is None else f"{t['kappa_quadratic']:.2f}"
    out.append(f"judged: judge vs people kappa {kappa} over {t['n']} interactions"
               + (f" — {t['warning']}" if t["warning"] else ""))
    return out + arena
