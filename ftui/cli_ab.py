"""`ftui ab ...` (experiments) and `ftui proxy` (the gateway)."""

from __future__ import annotations

import argparse

from ftui.cli_common import EXIT_OK, _emit, _open, action_adder
from ftui.errors import FtuiError


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


def _fmt(v, spec=".3g") -> str:
    return "-" if v is None else format(v, spec) if isinstance(v, float) else str(v)


def print_report(r: dict) -> None:
    e = r["experiment"]
    print(f"experiment {e['id']} {e['name']} ({e['status']}, alias {e['alias']}, "
          f"B share {e['split_b']:.0%}, metric {e['primary_metric']})")
    print(f"{'':<16}{'A':>22}{'B':>22}")
    a, b = r["arms"]["A"], r["arms"]["B"]
    print(f"{'model':<16}{a['model'][:21]:>22}{b['model'][:21]:>22}")
    for key in ("units", "interactions", "rated", "mean_rating", "latency_ms_p50",
                "latency_ms_p95", "tokens_per_s", "fallbacks"):
        print(f"{key.replace('_', ' '):<16}{_fmt(a[key]):>22}{_fmt(b[key]):>22}")
    for arm in (a, b):
        if arm["ci95"]:
            print(f"  {arm['model']}: mean rating 95% [{_fmt(arm['ci95'][0])}, "
                  f"{_fmt(arm['ci95'][1])}]; ratings 1-5 "
                  + " ".join(str(arm['ratings'][str(k)]) for k in range(1, 6)))
    if r["diff_mean_rating"] is not None:
        lo, hi = r["diff_ci95"]
        how = ("95% confidence sequence, always-valid p" if r["statistics"] == "sequential"
               else "Welch 95% CI, fixed-horizon p")
        print(f"B - A mean rating per unit {r['diff_mean_rating']:+.3f} [{lo:+.3f}, {hi:+.3f}]"
              f" ({how} = {_fmt(r['p_value'])}; {a['rated_units']} + {b['rated_units']} "
              "rated units)")
    if r.get("warning"):
        print(f"warning: {r['warning']}")
    print(f"sample ratio check p = {_fmt(r['srm_p_value'])}"
          + ("  (MISMATCH)" if r["srm_flag"] else ""))
    ar = r["arena"]
    if ar["votes"]:
        lo, hi = ar["b_win_rate_ci95"] or (None, None)
        print(f"arena: {ar['votes']} votes, B wins {ar['b_wins']}/{ar['decisive']} decisive "
              f"[{_fmt(lo, '.0%')}, {_fmt(hi, '.0%')}], p = {_fmt(ar['p_value'])}; ties "
              f"{ar['ties']}, both bad {ar['both_bad']}; left side wins "
              f"{_fmt(ar['left_win_rate'], '.0%')}")
    print(f"verdict: {r['verdict']}")


def cmd_ab(args: argparse.Namespace) -> int:
    from ftui import ab
    from ftui.ab.report import promote_winner, report

    store = _open(args)
    action = args.ab_command
    if action == "create":
        e = ab.create_experiment(store, name=args.name, alias=args.alias, model_a=args.a,
                                 model_b=args.b, split_b=args.split, slot=args.slot,
                                 salt=args.salt, primary_metric=args.metric,
                                 min_samples=args.min_samples, mde=args.mde, notes=args.note)
        _emit(args, _exp_dict(e), lambda: print(_line(e)))
    elif action == "list":
        items = ab.list_experiments(store)
        _emit(args, {"experiments": [_exp_dict(e) for e in items]},
              lambda: print("\n".join(_line(e) for e in items) or
                            "no experiments yet: ftui ab create NAME --alias A --a M1 --b M2"))
    elif action in ("start", "stop"):
        from ftui.ab.experiments import gateway_warnings

        e = ab.set_status(store, args.id, "running" if action == "start" else "stopped")
        notes = gateway_warnings(store, e) if action == "start" else []
        _emit(args, {**_exp_dict(e), "warnings": notes},
              lambda: print("\n".join([_line(e), *(f"note: {n}" for n in notes)])))
    elif action == "split":
        e = ab.set_split(store, args.id, args.split)
        _emit(args, _exp_dict(e), lambda: print(_line(e)))
    elif action == "assign":
        got = ab.assign(store, args.id, args.unit)
        _emit(args, got.as_dict(), lambda: print(f"{got.unit} -> arm {got.arm} ({got.model})"))
    elif action == "report":
        r = report(store, args.id, "fixed" if args.fixed else "sequential")
        _emit(args, r, lambda: print_report(r))
    elif action == "pairs":
        from pathlib import Path

        from ftui.ab.arena import export_pairs

        exp_id = ab.get_experiment(store, args.id).id if args.id else None
        got = export_pairs(store, Path(args.out), exp_id, redact=args.redact)
        n = got.written
        _emit(args, {"pairs": n, "out": args.out, **got.as_dict()},
              lambda: print(f"wrote {n} preference pairs to {args.out}"))
    elif action == "ranking":
        from ftui.ab.arena import ranking

        ranked = ranking(store)
        _emit(args, {"ranking": ranked}, lambda: print("\n".join(
            f"{i + 1:>3}. {r['model']:<30} {r['strength']:.3f} [{r['ci95'][0]:.3f}, "
            f"{r['ci95'][1]:.3f}]" for i, r in enumerate(ranked)) or "no arena votes yet"))
    else:  # promote
        if not args.yes:
            raise FtuiError("promoting the winner needs confirmation",
                            "add --yes (it also stops the experiment)")
        import sys

        from ftui.cli_models import _print_gate
        from ftui.registry.gate import GateRefused

        if args.force is not None and not args.force.strip():
            raise FtuiError("--force needs a reason", 'say why: --force "REASON" (kept in the '
                            "model's history)")
        try:
            out = promote_winner(store, args.id, args.arm, force=args.force,
                                 general_items=args.general_items, on_line=None if args.json
                                 else lambda line: print(line, file=sys.stderr, flush=True))
        except GateRefused as refused:
            if not args.json:
                _print_gate(refused.result)
            raise

        def human() -> None:
            if out["gate"]:
                _print_gate(out["gate"])
            print(f"{out['model']} is production in {out['slot']}; experiment "
                  f"{out['experiment']} stopped")

        _emit(args, out, human)
    return EXIT_OK


def cmd_proxy(args: argparse.Namespace) -> int:
    import logging

    from ftui.ab.gateway import parse_size, serve
    from ftui.config import load_settings

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    store = _open(args)
    upstream = args.upstream or load_settings(args.db).ollama_host
    if "://" not in upstream:
        upstream = f"http://{upstream}"
    serve(store, args.listen, upstream, token=args.token, fallback=args.fallback,
          max_body=parse_size(args.max_body, "--max-body"),
          max_message=parse_size(args.max_message, "--max-message"),
          spill_dir=load_settings(args.db).home)
    return EXIT_OK


def add_ab_commands(sub) -> None:
    p = sub.add_parser("ab", help="A/B experiments: create, start, stop, report, assign, promote",
                       description="Experiments between two models on live traffic (through "
                       "`ftui proxy` or the Python API) and arena votes.")
    asub = p.add_subparsers(dest="ab_command", metavar="ACTION", required=True)

    aadd = action_adder(asub, cmd_ab)

    q = aadd("create", "a new experiment (draft)")
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
    aadd("list", "every experiment")
    for name, text in (("start", "start routing (one running experiment per alias)"),
                       ("stop", "stop routing"), ("report", "figures per arm and the verdict")):
        q = aadd(name, text)
        q.add_argument("id")
    q.add_argument("--fixed", action="store_true", help="fixed-horizon Welch test instead of "
                   "the sequential default (valid only when read once, at a size set in advance)")
    q = aadd("split", "change B's share for new units (assigned units keep their arm)")
    q.add_argument("id")
    q.add_argument("split", type=float)
    q = aadd("assign", "the arm of a unit (user or session id); sticky")
    q.add_argument("id")
    q.add_argument("unit")
    q = aadd("pairs", "arena votes as preference pairs (JSONL: prompt, chosen, rejected)")
    q.add_argument("id", nargs="?", help="one experiment (default: every vote)")
    q.add_argument("--out", required=True)
    q.add_argument("--redact", choices=["off", "redact", "drop"], default="redact",
                   help="PII and secrets: replace (default), leave out the pair, or keep")
    aadd("ranking", "every model in arena votes, Bradley-Terry strength with 95 percent intervals")
    q = aadd("promote", "promote the winner to production in the slot, and stop")
    q.add_argument("id")
    q.add_argument("--arm", choices=["A", "B"], help="override the verdict")
    q.add_argument("--yes", action="store_true", help="confirm")
    q.add_argument("--force", metavar="REASON", help="promote even when the regression gate "
                   "fails (the reason is kept in the model's history)")
    q.add_argument("--general-items", type=int, help="general check items for the gate")

    p = sub.add_parser("proxy", help="the Ollama-compatible gateway for the chat app",
                       description="Forward every Ollama API request upstream; log chat "
                       "requests, route aliases and experiments. Point OLLAMA_HOST at it.")
    p.set_defaults(func=cmd_proxy)
    p.add_argument("--listen", default="127.0.0.1:11435", help="HOST:PORT (default "
                   "127.0.0.1:11435; beyond loopback needs --token)")
    p.add_argument("--upstream", help="Ollama (default: $OLLAMA_HOST or http://127.0.0.1:11434)")
    p.add_argument("--token", help="required on every request as Authorization: Bearer TOKEN")
    p.add_argument("--fallback", help="Ollama model to answer with when a routed model fails "
                   "and has no recorded base")
    p.add_argument("--max-body", default="32MiB", help="largest chat or feedback request body "
                   "the gateway reads (413 above; default 32MiB); other bodies stream through")
    p.add_argument("--max-message", default="1MiB", help="text stored per message; longer "
                   "text is cut with a visible mark (default 1MiB)")
