"""`ftui judge ...`: pre-rate unrated interactions with a judge model, and measure how far the
judge agrees with the human ratings."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from ftui import REASONING_MODES, STATUSES, fmt
from ftui.cli.common import EXIT_OK, EXIT_SKIPPED, emit, group, leaf, settings_for, store_for
from ftui.errors import FtuiError

ORDER = 60


def _date(text: str | None, flag: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as err:
        raise FtuiError(f"{flag} {text!r} is not a date", f"write it as YYYY-MM-DD, e.g. "
                        f"{flag} 2026-11-01") from err


def _judge_name(args: argparse.Namespace, settings) -> str:
    name = args.judge or settings.extra.get("judge")
    if not isinstance(name, str) or not name.strip():
        raise FtuiError("no judge model named",
                        "pass --judge MODEL (an Ollama model or a registered model), or set "
                        'judge = "MODEL" in $FTUI_HOME/config.toml')
    return name.strip()


def _filter(args: argparse.Namespace):
    from ftui.store.interactions import InteractionFilter

    return InteractionFilter(
        modes=tuple(args.mode or ()), statuses=tuple(args.status or ()),
        models=tuple(args.model or ()), sources=tuple(args.source or ()), tag=args.tag,
        since=_date(args.since, "--since"), until=_date(args.until, "--until"),
        text=args.text or "")


def cmd_judge_run(args: argparse.Namespace) -> int:
    from ftui.judge.run import judge_interactions, select_ids

    settings = settings_for(args)
    store = store_for(args)
    if args.limit is not None and args.limit < 0:
        raise FtuiError(f"--limit {args.limit} is negative", "give 0 or more")
    if args.parallel < 1:
        raise FtuiError(f"--parallel {args.parallel} is below 1", "give 1 or more")
    ids = select_ids(store, _filter(args), include_rated=args.include_rated, limit=args.limit)

    def show(p) -> None:
        if not args.json and sys.stderr.isatty():
            print(f"\r  judged {p.done}/{p.total} (cached {p.cached}, failed {p.failed})",
                  end="", file=sys.stderr, flush=True)

    report = judge_interactions(store, ids, judge=_judge_name(args, settings),
                                home=settings.home, host=settings.ollama_host,
                                rubric=args.rubric, parallel=args.parallel, on_progress=show)
    if not args.json and sys.stderr.isatty():
        print(file=sys.stderr)
    emit(args, report.as_dict(), lambda: print(
        f"judged {report.judged}, cached {report.cached}, failed {report.failed} in "
        f"{report.seconds:.1f} s (judge {report.judge}, {report.digest[:19]})"))
    if report.failed:
        print(f"  fix: {report.failed} replies could not be read or the requests failed; see "
              "them with `ftui judge failures`, then run again (failures are retried, "
              "judged ones are cached)", file=sys.stderr)
        return EXIT_SKIPPED
    return EXIT_OK


def cmd_judge_failures(args: argparse.Namespace) -> int:
    from sqlmodel import select

    from ftui.store.models import Judgement

    store = store_for(args)
    with store.session() as s:
        rows = list(s.exec(select(Judgement).where(Judgement.status == "failed",
                                                   Judgement.current.is_(True))
                           .order_by(Judgement.id.desc()).limit(args.limit)))
    data = {"failures": [{"interaction": r.interaction_id, "judge": r.judge, "error": r.error}
                         for r in rows]}
    emit(args, data, lambda: [print(f"{r.interaction_id:>7}  {r.judge}: {r.error}")
                               for r in rows] or print("no failed judgements"))
    return EXIT_OK


def cmd_judge_agreement(args: argparse.Namespace) -> int:
    from ftui.judge.agreement import agreement, describe

    result = agreement(store_for(args), judge=args.judge)
    emit(args, result, lambda: print(describe(result, args.judge)))
    return EXIT_OK


def cmd_judge_compare(args: argparse.Namespace) -> int:
    from ftui.judge.pairwise import compare_models
    from ftui.judge.run import resolve_judge, select_ids

    settings = settings_for(args)
    store = store_for(args)
    if args.parallel < 1:
        raise FtuiError(f"--parallel {args.parallel} is below 1", "give 1 or more")
    judge = resolve_judge(store, _judge_name(args, settings), host=settings.ollama_host,
                          home=settings.home)
    ids = select_ids(store, _filter(args), include_rated=True, limit=args.limit)
    if not ids:
        raise FtuiError("no interaction matches the filter", "widen the filter")
    r = compare_models(store, args.a, args.b, judge, ids, host=settings.ollama_host,
                       home=settings.home, rubric=args.rubric, parallel=args.parallel)

    def human() -> None:
        print(f"{r['n']} prompts: A ({r['a']}) wins {r['a_wins']}, B ({r['b']}) wins "
              f"{r['b_wins']}, ties {r['ties']} (orders disagreed on "
              f"{r['order_disagreements']}), failed {r['failed']}, unanswered {r['unanswered']}")
        if r["b_win_rate"] is not None:
            lo, hi = r["b_win_rate_ci95"]
            print(f"B's win rate over decisive pairs {r['b_win_rate']:.0%} "
                  f"(95% Wilson [{lo:.0%}, {hi:.0%}]); judge {r['judge']}")

    emit(args, r, human)
    return EXIT_OK


def cmd_judge_experiment(args: argparse.Namespace) -> int:
    from ftui.judge.experiment import judged_report

    r = judged_report(store_for(args), args.experiment, judge=args.judge)

    def human() -> None:
        e = r["experiment"]
        print(f"experiment {e['id']} {e['name']}: {r['metric']}")
        for arm in ("A", "B"):
            m = r["arms"][arm]
            mean = fmt.figure(m["mean_judge_unrated"], 3)
            print(f"  {arm} {e['model_' + arm.lower()][:24]:<24} interactions "
                  f"{m['interactions']:>6}  rated by people {m['human_rated']:>6}  judged "
                  f"unrated {m['judged_unrated']:>6}  mean judge score {mean}")
        if r["diff_mean_judge_unrated"] is not None:
            lo, hi = r["diff_ci95"]
            print(f"  B - A judge score {r['diff_mean_judge_unrated']:+.3f} [{lo:+.3f}, "
                  f"{hi:+.3f}], Welch p = {fmt.figure(r['p_value'], 3)}")
        t = r["agreement"]
        print(f"  judge vs people: n {t['n']}, kappa {fmt.figure(t['kappa_quadratic'], 3)}"
              + (f"  warning: {t['warning']}" if t["warning"] else ""))
        print(f"  verdict {r['judged_verdict']}")

    emit(args, r, human)
    return EXIT_OK


def cmd_judge_arena(args: argparse.Namespace) -> int:
    from ftui.ab.arena import dataset_prompts, logged_prompts
    from ftui.judge.arena import judge_arena
    from ftui.judge.run import resolve_judge

    settings = settings_for(args)
    store = store_for(args)
    if args.limit < 1:
        raise FtuiError(f"--limit {args.limit} is below 1", "give 1 or more prompts")
    judge = resolve_judge(store, _judge_name(args, settings), host=settings.ollama_host,
                          home=settings.home)
    prompts = (dataset_prompts(store, args.dataset, args.limit) if args.dataset is not None
               else logged_prompts(store, args.limit))
    if not prompts:
        raise FtuiError("no prompts to put to the arena", "log some traffic, or pass "
                        "--dataset ID (a version with a validation split)")
    r = judge_arena(store, args.experiment, judge, prompts, host=settings.ollama_host,
                    home=settings.home, rubric=args.rubric, parallel=args.parallel)

    def human() -> None:
        print(f"{r['recorded']} votes recorded as {r['voter']} in {r['experiment']} "
              f"(already judged {r['already_judged']}, unanswered {r['unanswered']}, failed "
              f"{r['failed']}): A {r['a_wins']}, B {r['b_wins']}, ties {r['ties']} (orders "
              f"disagreed on {r['order_disagreements']})")
        print("  kept out of the verdict and the default ranking (ftui ab ranking --voters "
              "all counts them)")

    emit(args, r, human)
    return EXIT_OK


def _add_filter(p) -> None:
    """The interaction filter `_filter` reads (judge run and judge compare)."""
    p.add_argument("--mode", action="append", choices=REASONING_MODES)
    p.add_argument("--status", action="append", choices=STATUSES)
    p.add_argument("--model", action="append", help="interactions answered by this model")
    p.add_argument("--source", action="append")
    p.add_argument("--tag")
    p.add_argument("--text", help="words the conversation, correction or notes contain")
    p.add_argument("--since", help="created on or after this date (YYYY-MM-DD)")
    p.add_argument("--until", help="created before this date (YYYY-MM-DD)")


def register(sub) -> None:
    jsub = group(sub, "judge", help="pre-rate interactions with a judge model; its agreement "
                 "with the human ratings",
                 description="A judge is a model plus a rubric (one per reasoning mode).")
    p = leaf(jsub, "run", cmd_judge_run,
             help="judge the unrated interactions (of the filter); cached judgements are free",
             description="Judge the unrated interactions (of the filter); cached judgements are "
             "free. --json prints {judged, cached, failed, seconds, ...}.")
    p.add_argument("--judge", metavar="MODEL",
                   help="an Ollama model or a registered model (default: judge in config.toml)")
    p.add_argument("--rubric", metavar="NAME",
                   help="one rubric for all (default: the rubric of each interaction's mode)")
    p.add_argument("--limit", type=int, help="judge at most N interactions (newest first)")
    p.add_argument("--parallel", type=int, default=4,
                   help="requests to Ollama at once (default 4); batch size for local models")
    p.add_argument("--include-rated", action="store_true",
                   help="judge rated interactions too (what agreement compares)")
    _add_filter(p)
    p = leaf(jsub, "agreement", cmd_judge_agreement,
             help="how far the judge agrees with the human ratings (kappa, Spearman)",
             description="How far the judge agrees with the human ratings, with a warning below "
             "kappa 0.4. --json prints {n, kappa_quadratic, spearman, confusion, per_mode, "
             "...}.")
    p.add_argument("--judge", metavar="MODEL", help="only this judge's judgements")
    p = leaf(jsub, "failures", cmd_judge_failures, help="the judgements that failed, and why")
    p.add_argument("--limit", type=int, default=50)
    p = leaf(jsub, "compare", cmd_judge_compare,
             help="A against B on the prompts of stored interactions, judged pairwise in both "
             "orders (a tie when the orders disagree)")
    p.add_argument("a", help="model A (an Ollama model or a registered model)")
    p.add_argument("b", help="model B")
    p.add_argument("--judge", metavar="MODEL")
    p.add_argument("--rubric", metavar="NAME", help="whose criteria the judge weighs "
                   "(default: each prompt's mode)")
    p.add_argument("--limit", type=int, default=50, help="prompts to compare (default 50)")
    p.add_argument("--parallel", type=int, default=4)
    _add_filter(p)
    p = leaf(jsub, "experiment", cmd_judge_experiment,
             help="an experiment's arms by the judge's score on unrated traffic (kept apart "
             "from the human ratings)")
    p.add_argument("experiment", help="experiment id or name")
    p.add_argument("--judge", metavar="MODEL", help="only this judge's judgements")
    p = leaf(jsub, "arena", cmd_judge_arena,
             help="the judge votes in an experiment's arena: both arms answer, the judge "
             "compares in both orders; recorded as judge:<model>, apart from people's votes")
    p.add_argument("experiment", help="experiment id or name")
    p.add_argument("--judge", metavar="MODEL")
    p.add_argument("--rubric", metavar="NAME", help="whose criteria the judge weighs "
                   "(default: standard)")
    p.add_argument("--dataset", type=int, help="prompts from this version's validation split "
                   "(default: logged prompts, newest first)")
    p.add_argument("--limit", type=int, default=20, help="prompts (default 20)")
    p.add_argument("--parallel", type=int, default=4)
