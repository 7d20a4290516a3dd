"""The judge's score as an experiment metric for traffic nobody rated. Kept apart from the
human ratings (its own figures, labelled judge), never mixed into them; the judge's agreement
with people is shown beside it so the operator knows how much the verdict may rest on it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select

from ftui.store.db import Store
from ftui.store.models import Interaction, Judgement


def _arm(rows: list[tuple[int | None, int | None]]) -> dict[str, Any]:
    from ftui.ab.stats import bounded_mean_ci

    judged = [s for _, s in rows if s is not None]
    unrated = [s for r, s in rows if s is not None and r is None]
    ci = bounded_mean_ci(judged, 1, 5)
    ci_unrated = bounded_mean_ci(unrated, 1, 5)
    return {"interactions": len(rows), "human_rated": sum(1 for r, _ in rows if r is not None),
            "judged": len(judged), "judged_unrated": len(unrated),
            "mean_judge": ci.estimate if ci else None,
            "mean_judge_ci95": ci.as_list() if ci else None,
            "mean_judge_unrated": ci_unrated.estimate if ci_unrated else None,
            "mean_judge_unrated_ci95": ci_unrated.as_list() if ci_unrated else None,
            "_unrated": unrated}


def judged_report(store: Store, ref: int | str, judge: str | None = None) -> dict[str, Any]:
    """Per arm: judge scores (all judged, and the unrated alone), B - A on the unrated with
    Welch's test, and the judge's agreement with the human ratings."""
    from ftui.ab.experiments import get_experiment
    from ftui.ab.stats import welch
    from ftui.judge.agreement import agreement

    exp = get_experiment(store, ref)
    IC, J = Interaction.__table__.c, Judgement.__table__.c
    on = and_(J.interaction_id == IC.id, J.current.is_(True), J.status == "ok")
    if judge:
        on = and_(on, J.judge == judge)
    stmt = (select(IC.arm, IC.rating, J.score).select_from(Interaction.__table__)
            .outerjoin(Judgement.__table__, on).where(IC.experiment_id == exp.id))
    by_arm: dict[str, list] = {"A": [], "B": []}
    with store.engine.connect() as conn:
        for arm, rating, score in conn.execute(stmt):
            if arm in by_arm:
                by_arm[arm].append((rating, score))
    a, b = _arm(by_arm["A"]), _arm(by_arm["B"])
    t = welch(a.pop("_unrated"), b.pop("_unrated"))
    trust = agreement(store, judge)
    return {"experiment": {"id": exp.id, "name": exp.name, "model_a": exp.model_a,
                           "model_b": exp.model_b},
            "metric": "judge score on unrated traffic (not a human rating)",
            "judge": judge, "arms": {"A": a, "B": b},
            "diff_mean_judge_unrated": t.diff if t else None,
            "diff_ci95": [t.low, t.high] if t else None, "p_value": t.p_value if t else None,
            "agreement": {k: trust[k] for k in ("n", "kappa_quadratic", "spearman", "warning")}}
