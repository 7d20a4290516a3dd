"""`ftui ab ...`: A/B experiments between two models on live traffic, and arena votes."""

from __future__ import annotations

import argparse
import sys

from ftui import fmt
from ftui.cli.common import EXIT_OK, emit, group, leaf, settings_for, store_for
from ftui.errors import FtuiError

ORDER = 50


def _exp_dict(e) -> dict:
    return {"id": e.id, "name": e.name, "alias": e.alias, "model_a": e.model_a,
            "model_b": e.model_b, "split_b": e.split_b, "slot": e.slot, "status": e.status,
            "primary_metric": e.primary_metric, "min_samples": e.min_samples, "mde": e.mde,
            "salt": e.salt, "created_at": e.created_at.isoformat(),
            "started_at": e.started_at.isoformat() if e.started_at else None,
            "stopped_at": e.stopped_at.isoformat() if e.stopped_at else None}


def _line(e) -> str:
    return (f"{e.id:>4}  {e.name[:24]:<24} {e.status:<8} alias {e.alias:<14} A {e.model_a[:20]:<20}"
            f" B {e.model_b[:20]:<20} B share {e.split_b:.0%}")


def _figure(v) -> str:
    """A report figure as the Experiments screen shows it (three significant digits)."""
    return fmt.figure(v, 3)


def print_report(r: dict) -> None:
    e = r["experiment"]
    print(f"experiment {e['id']} {e['name']} ({e['status']}, alias {e['alias']}, "
          f"B share {e['split_b']:.0%}, metric {e['primary_metric']})")
    print(f"{'':<16}{'A':>22}{'B':>22}")
    a, b = r["arms"]["A"], r["arms"]["B"]
    print(f"{'model':<16}{a['model'][:21]:>22}{b['model'][:21]:>22}")
    for key in ("units", "interactions", "rated", "mean_rating", "latency_ms_p50",
                "latency_ms_p95", "tokens_per_s", "fallbacks"):
        shown_a, shown_b = (fmt.millis(a[key]), fmt.millis(b[key])) if key.startswith(
            "latency_ms") else (_figure(a[key]), _figure(b[key]))
        print(f"{key.replace('_', ' '):<16}{shown_a:>22}{shown_b:>22}")
    for arm in (a, b):
        if arm["ci95"]:
            print(f"  {arm['model']}: mean rating 95% [{_figure(arm['ci95'][0])}, "
                  f"{_figure(arm['ci95'][1])}]; ratings 1-5 "
                  + " ".join(str(arm['ratings'][str(k)]) for k in range(1, 6)))
    if r["diff_mean_rating"] is not None:
        lo, hi = r["diff_ci95"]
        how = ("95% confidence sequence, always-valid p" if r["statistics"] == "sequential"
               else "Welch 95% CI, fixed-horizon p")
        print(f"B - A mean rating per unit {r['diff_mean_rating']:+.3f} [{lo:+.3f}, {hi:+.3f}]"
              f" ({how} = {_figure(r['p_value'])}; {a['rated_units']} + {b['rated_units']} "
              "rated units)")
    if r.get("warning"):
        print(f"warning: {r['warning']}")
    print(f"sample ratio check p = {_figure(r['srm_p_value'])}"
          + ("  (MISMATCH)" if r["srm_flag"] else ""))
    ar = r["arena"]
    if ar["votes"]:
        lo, hi = ar["b_win_rate_ci95"] or (None, None)
        print(f"arena: {ar['votes']} votes, B wins {ar['b_wins']}/{ar['decisive']} decisive "
              f"[{fmt.percent(lo)}, {fmt.percent(hi)}], p = {_figure(ar['p_value'])}; ties "
              f"{ar['ties']}, both bad {ar['both_bad']}; left side wins "
              f"{fmt.percent(ar['left_win_rate'])}")
    print(f"verdict: {r['verdict']}")


def cmd_ab_create(args: argparse.Namespace) -> int:
    from ftui import ab

    host = None if args.no_check else (args.ollama_host or settings_for(args).ollama_host)
    e = ab.create_experiment(store_for(args), name=args.name, alias=args.alias, model_a=args.a,
                             model_b=args.b, split_b=args.split, slot=args.slot, salt=args.salt,
                             primary_metric=args.metric, min_samples=args.min_samples,
                             mde=args.mde, notes=args.note, check_host=host)
    emit(args, _exp_dict(e), lambda: print(_line(e)))
    return EXIT_OK


def cmd_ab_list(args: argparse.Namespace) -> int:
    from ftui import ab

    items = ab.list_experiments(store_for(args))
    emit(args, {"experiments": [_exp_dict(e) for e in items]},
         lambda: print("\n".join(_line(e) for e in items) or
                       "no experiments yet: ftui ab create NAME --alias A --a M1 --b M2"))
    return EXIT_OK


def cmd_ab_start(args: argparse.Namespace) -> int:
    from ftui import ab
    from ftui.ab.experiments import gateway_warnings

    store = store_for(args)
    e = ab.set_status(store, args.id, "running")
    notes = gateway_warnings(store, e)
    emit(args, {**_exp_dict(e), "warnings": notes},
         lambda: print("\n".join([_line(e), *(f"note: {n}" for n in notes)])))
    return EXIT_OK


def cmd_ab_stop(args: argparse.Namespace) -> int:
    from ftui import ab

    e = ab.set_status(store_for(args), args.id, "stopped")
    emit(args, {**_exp_dict(e), "warnings": []}, lambda: print(_line(e)))
    return EXIT_OK


def cmd_ab_split(args: argparse.Namespace) -> int:
    from ftui import ab

    e = ab.set_split(store_for(args), args.id, args.split)
    emit(args, _exp_dict(e), lambda: print(_line(e)))
    return EXIT_OK


def cmd_ab_assign(args: argparse.Namespace) -> int:
    from ftui import ab

    got = ab.assign(store_for(args), args.id, args.unit)
    emit(args, got.as_dict(), lambda: print(f"{got.unit} -> arm {got.arm} ({got.model})"))
    return EXIT_OK


def cmd_ab_report(args: argparse.Namespace) -> int:
    from ftui.ab.report import report

    r = report(store_for(args), args.id, "fixed" if args.fixed else "sequential")
    emit(args, r, lambda: print_report(r))
    return EXIT_OK


def cmd_ab_pairs(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ftui import ab
    from ftui.ab.arena import export_pairs

    store = store_for(args)
    exp_id = ab.get_experiment(store, args.id).id if args.id else None
    got = export_pairs(store, Path(args.out), exp_id, redact=args.redact, voters=args.voters)
    n = got.written
    emit(args, {"pairs": n, "out": args.out, **got.as_dict()},
         lambda: print(f"wrote {n} preference pairs to {args.out}"))
    return EXIT_OK


def cmd_ab_ranking(args: argparse.Namespace) -> int:
    from ftui.ab.arena import VOTERS_LABEL, ranking

    ranked = ranking(store_for(args), voters=args.voters)
    emit(args, {"ranking": ranked, "voters": args.voters}, lambda: print("\n".join(
        [f"Bradley-Terry over {VOTERS_LABEL[args.voters]}"] + [
            f"{i + 1:>3}. {r['model']:<30} {r['strength']:.3f} [{r['ci95'][0]:.3f}, "
            f"{r['ci95'][1]:.3f}]" for i, r in enumerate(ranked)]) if ranked
        else f"no arena votes yet ({VOTERS_LABEL[args.voters]})"))
    return EXIT_OK


def cmd_ab_promote(args: argparse.Namespace) -> int:
    from ftui.ab.report import promote_winner
    from ftui.cli.models import print_gate
    from ftui.registry.gate import GateRefused

    store = store_for(args)
    if not args.yes:
        raise FtuiError("promoting the winner needs confirmation",
                        "add --yes (it also stops the experiment)")
    if args.force is not None and not args.force.strip():
        raise FtuiError("--force needs a reason", 'say why: --force "REASON" (kept in the '
                        "model's history)")
    try:
        out = promote_winner(store, args.id, args.arm, force=args.force,
                             general_items=args.general_items, on_line=None if args.json
                             else lambda line: print(line, file=sys.stderr, flush=True))
    except GateRefused as refused:
        if not args.json:
            print_gate(refused.result)
        raise

    def human() -> None:
        if out["gate"]:
            print_gate(out["gate"])
        print(f"{out['model']} is production in {out['slot']}; experiment "
              f"{out['experiment']} stopped")

    emit(args, out, human)
    return EXIT_OK


def register(sub) -> None:
    asub = group(sub, "ab", help="A/B experiments: create, start, stop, report, assign, promote",
                 description="Experiments between two models on live traffic (through "
                 "`ftui proxy` or the Python API) and arena votes.")
    q = leaf(asub, "create", cmd_ab_create, help="a new experiment (draft)")
    q.add_argument("name")
    q.add_argument("--alias", required=True, help="the model name the chat app asks for")
    q.add_argument("--a", required=True, help="model A: registry id/name or Ollama name")
    q.add_argument("--b", required=True, help="model B")
    q.add_argument("--split", type=float, default=0.5, help="B's share of units (default 0.5)")
    q.add_argument("--slot", help="only requests in this mode (default: all)")
    q.add_argument("--salt", help="assignment salt (default: random)")
    q.add_argument("--metric", default="rating", choices=["rating", "win_rate", "latency"])
    q.add_argument("--min-samples", type=int, default=100,
                   help="rated interactions (or decisive votes) per arm before a verdict")
    q.add_argument("--mde", type=float, default=0.3,
                   help="minimum detectable effect in stars, for the sample size (default 0.3)")
    q.add_argument("--note")
    q.add_argument("--ollama-host", help="where a model name that is not registered is looked "
                   "up (default: $OLLAMA_HOST or http://127.0.0.1:11434)")
    q.add_argument("--no-check", action="store_true", help="create it without looking the "
                   "models up (e.g. Ollama is down now; a wrong name fails when served)")
    leaf(asub, "list", cmd_ab_list, help="every experiment")
    leaf(asub, "start", cmd_ab_start, help="start routing (one running experiment per alias)"
         ).add_argument("id")
    leaf(asub, "stop", cmd_ab_stop, help="stop routing").add_argument("id")
    q = leaf(asub, "report", cmd_ab_report, help="figures per arm and the verdict",
             description="Figures per arm and the verdict. --json prints {arms: {A: {units, "
             "rated, mean_rating, ci95, ...}, B: {...}}, diff_mean_rating, p_value, srm_p_value, "
             "arena, verdict, winner, ...}.")
    q.add_argument("id")
    q.add_argument("--fixed", action="store_true", help="fixed-horizon Welch test instead of "
                   "the sequential default (valid only when read once, at a size set in advance)")
    q = leaf(asub, "split", cmd_ab_split,
             help="change B's share for new units (assigned units keep their arm)")
    q.add_argument("id")
    q.add_argument("split", type=float)
    q = leaf(asub, "assign", cmd_ab_assign, help="the arm of a unit (user or session id); sticky",
             description="The arm of a unit (a user or session id); sticky. --json prints "
             "{experiment, unit, arm: A or B, model}.")
    q.add_argument("id")
    q.add_argument("unit")
    q = leaf(asub, "pairs", cmd_ab_pairs,
             help="arena votes as preference pairs (JSONL: prompt, chosen, rejected)")
    q.add_argument("id", nargs="?", help="one experiment (default: every vote)")
    q.add_argument("--out", required=True)
    q.add_argument("--redact", choices=["off", "redact", "drop"], default="redact",
                   help="PII and secrets: replace (default), leave out the pair, or keep")
    q.add_argument("--voters", choices=["human", "all", "judges"], default="human",
                   help="whose votes: people's (default), all, or judges' (judge:<model>)")
    q = leaf(asub, "ranking", cmd_ab_ranking,
             help="every model in arena votes, Bradley-Terry strength with 95 percent intervals")
    q.add_argument("--voters", choices=["human", "all", "judges"], default="human",
                   help="whose votes count: people's (default), all, or judges' only")
    q = leaf(asub, "promote", cmd_ab_promote,
             help="promote the winner to production in the slot, and stop")
    q.add_argument("id")
    q.add_argument("--arm", choices=["A", "B"], help="override the verdict")
    q.add_argument("--yes", action="store_true", help="confirm")
    q.add_argument("--force", metavar="REASON", help="promote even when the regression gate "
                   "fails (the reason is kept in the model's history)")
    q.add_argument("--general-items", type=int, help="general check items for the gate")
