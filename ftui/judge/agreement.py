"""How far a judge agrees with the people who rated: on interactions that have both a human
rating and a (current, successful) judgement, the quadratic-weighted Cohen's kappa, Spearman's
rho and the 5x5 confusion matrix, overall and per reasoning mode."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from ftui.store.db import Store
from ftui.store.models import Interaction, Judgement

LEVELS = 5
TRUST_KAPPA = 0.4  # below this, agreement is at best "fair" (Landis & Koch): do not rely on it


def confusion(pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    """rows: human rating 1-5, columns: judge score 1-5."""
    m = [[0] * LEVELS for _ in range(LEVELS)]
    for human, judge in pairs:
        m[human - 1][judge - 1] += 1
    return m


def kappa_quadratic(pairs: Sequence[tuple[int, int]]) -> float | None:
    """1 - sum(w * observed) / sum(w * expected), w_ij = (i - j)^2 / (k - 1)^2, expected from
    the marginals. None when undefined (no pairs, or both sides always give one same score)."""
    n = len(pairs)
    if n == 0:
        return None
    obs = confusion(pairs)
    rows = [sum(r) for r in obs]
    cols = [sum(obs[i][j] for i in range(LEVELS)) for j in range(LEVELS)]
    num = den = 0.0
    for i in range(LEVELS):
        for j in range(LEVELS):
            w = (i - j) ** 2 / (LEVELS - 1) ** 2
            num += w * obs[i][j]
            den += w * rows[i] * cols[j] / n
    return None if den == 0 else 1 - num / den


def spearman(pairs: Sequence[tuple[int, int]]) -> float | None:
    if len(pairs) < 2:
        return None
    from scipy.stats import spearmanr

    a, b = zip(*pairs, strict=True)
    if len(set(a)) < 2 or len(set(b)) < 2:
        return None  # a constant side: rho is undefined
    rho = float(spearmanr(a, b).statistic)
    return None if math.isnan(rho) else rho


def pairs_by_mode(store: Store, judge: str | None = None) -> dict[str, list[tuple[int, int]]]:
    IC, J = Interaction.__table__.c, Judgement.__table__.c
    stmt = (select(IC.reasoning_mode, IC.rating, J.score)
            .join(Judgement.__table__, J.interaction_id == IC.id)
            .where(IC.rating.is_not(None), J.current.is_(True), J.status == "ok",
                   J.score.is_not(None)))
    if judge:
        stmt = stmt.where(J.judge == judge)
    out: dict[str, list[tuple[int, int]]] = {}
    with store.engine.connect() as conn:
        for mode, rating, score in conn.execute(stmt):
            out.setdefault(mode, []).append((int(rating), int(score)))
    return out


def _figures(pairs: Sequence[tuple[int, int]]) -> dict[str, Any]:
    return {"n": len(pairs), "kappa_quadratic": kappa_quadratic(pairs),
            "spearman": spearman(pairs)}


def agreement(store: Store, judge: str | None = None) -> dict[str, Any]:
    by_mode = pairs_by_mode(store, judge)
    everything = [p for pairs in by_mode.values() for p in pairs]
    out = _figures(everything)
    out["confusion"] = confusion(everything)
    out["per_mode"] = {mode: _figures(pairs) for mode, pairs in sorted(by_mode.items())}
    kappa = out["kappa_quadratic"]
    out["warning"] = None
    if kappa is not None and kappa < TRUST_KAPPA:
        out["warning"] = (f"kappa {kappa:.2f} is below {TRUST_KAPPA}: the judge agrees with "
                          "people only weakly; do not rely on its scores (try another judge "
                          "model or sharpen the rubric)")
    elif everything and len(everything) < 30:
        out["warning"] = f"only {len(everything)} pairs: the figures are rough"
    return out


def describe(result: dict[str, Any], judge: str | None = None) -> str:
    """The figures as text (the CLI and F1's agreement panel)."""
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    if result["n"] == 0:
        return ("No interaction has both a human rating and a judgement yet.\n"
                "Judge some rated ones: ftui judge run --include-rated --judge MODEL")
    lines = [f"{result['n']} interactions rated by a person and the judge"
             + (f" ({judge})" if judge else ""),
             f"quadratic-weighted kappa {fmt(result['kappa_quadratic'])}, "
             f"Spearman rho {fmt(result['spearman'])}",
             "confusion (rows: human 1-5, columns: judge 1-5)"]
    lines += [f"  {k}  " + " ".join(f"{v:>5}" for v in row)
              for k, row in enumerate(result["confusion"], start=1)]
    lines += [f"{mode:<17} n {m['n']:>5}  kappa {fmt(m['kappa_quadratic'])}  "
              f"rho {fmt(m['spearman'])}" for mode, m in result["per_mode"].items()]
    if result["warning"]:
        lines.append(f"warning: {result['warning']}")
    return "\n".join(lines)
