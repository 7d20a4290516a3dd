"""`ftui dataset ...`: build, inspect, compare and export frozen dataset versions."""

from __future__ import annotations

import argparse
import sys

from ftui import REASONING_MODES
from ftui.cli.common import EXIT_OK, emit, group, leaf, settings_for, store_for

ORDER = 20


def _spec_from_args(args: argparse.Namespace):
    from ftui.curate import DatasetSpec

    near = None if str(args.near_dup).lower() == "off" else _fraction(args.near_dup, "--near-dup")
    statuses = tuple(args.status) if args.status else ("new", "accepted")
    return DatasetSpec(
        min_rating=args.min_rating or None, include_unrated=args.include_unrated,
        statuses=statuses, modes=tuple(args.mode or ()), models=tuple(args.model or ()),
        sources=tuple(args.source or ()), tags=tuple(args.tag or ()),
        exclude_tags=tuple(args.exclude_tag or ()), since=args.since, until=args.until,
        min_tokens=args.min_tokens, max_tokens=args.max_tokens, over_length=args.over_length,
        max_examples=args.max_examples, system_prompt=args.system_prompt, redact=args.redact,
        judged_min=args.judged_min, users=tuple(args.user or ()), teams=tuple(args.team or ()),
        near_dup=near, val=args.val, test=args.test, seed=args.seed, tokenizer=args.tokenizer,
        **_preference_rules(args),
    ).validate()


def _preference_rules(args: argparse.Namespace) -> dict:
    """--kind and the rules of preference / unpaired versions (issue 12)."""
    from ftui.curate.spec import PAIR_SOURCES

    if args.kind == "sft":
        return {}
    return {"kind": args.kind, "pair_sources": tuple(args.pair_source or PAIR_SOURCES),
            "min_rating_gap": args.min_rating_gap,
            "desirable_min_rating": args.desirable_min_rating,
            "undesirable_max_rating": args.undesirable_max_rating}


def _fraction(text: str, flag: str) -> float:
    from ftui.errors import FtuiError

    try:
        return float(text)
    except ValueError as err:
        raise FtuiError(f"{flag} {text!r} is not a number", f"e.g. {flag} 0.85, or off") from err


def _dataset_line(d) -> str:
    splits = d.report["splits"]
    return (f"{d.id:>4}  {d.name:<24} {d.created_at:%Y-%m-%d %H:%M}  {d.content_hash[:12]}  "
            f"train {splits['train']:>6}  val {splits['validation']:>5}  test {splits['test']:>5}")


def cmd_dataset_build(args: argparse.Namespace) -> int:
    from ftui.curate import build_dataset
    from ftui.curate.versions import check_dataset_name

    check_dataset_name(args.name)  # before the store is opened (or created)
    spec = _spec_from_args(args)
    store = store_for(args)
    version, result, created = build_dataset(store, args.name, spec, home=settings_for(args).home)
    payload = {"id": version.id, "name": version.name, "hash": version.content_hash,
               "created": created, "matched": result.matched, "splits": result.splits,
               "removed": result.removed, "changed": result.changed,
               "tokenizer": result.tokenizer, "seconds": result.seconds,
               "kind": spec.kind, **{k: result.stats[k] for k in ("sources", "balance")
                                     if k in result.stats}}

    def human() -> None:
        verb = "built" if created else "unchanged (same rules, same data):"
        print(f"{verb} dataset {version.id} {version.name!r}  hash {version.content_hash}")
        print(f"  matched {result.matched}  ->  " + "  ".join(
            f"{k} {v}" for k, v in result.splits.items()))
        for rule, n in result.removed.items():
            print(f"  removed {n:>6}  {rule.replace('_', ' ')}")
        for what, n in result.changed.items():
            print(f"  changed {n:>6}  {what.replace('_', ' ')}")
        for source, n in payload.get("sources", {}).get("all", {}).items():
            print(f"  from    {n:>6}  {source}")
        if "balance" in payload:
            print("  balance " + "  ".join(f"{k} {v}" for k, v in payload["balance"].items()))

    emit(args, payload, human)
    return EXIT_OK


def cmd_dataset_list(args: argparse.Namespace) -> int:
    from ftui.curate import list_datasets

    versions = list_datasets(store_for(args))
    payload = {"datasets": [{"id": d.id, "name": d.name, "hash": d.content_hash,
                             "created_at": d.created_at.isoformat(), "splits": d.report["splits"],
                             "examples": d.examples} for d in versions]}
    emit(args, payload, lambda: print("\n".join(_dataset_line(d) for d in versions)
                                       or "no datasets yet: ftui dataset build NAME"))
    return EXIT_OK


def cmd_dataset_show(args: argparse.Namespace) -> int:
    from ftui.curate import examples_of, get_dataset

    store = store_for(args)
    d = get_dataset(store, args.id)
    report = d.report
    sample = []
    kind = d.spec.get("kind", "sft")
    if kind != "sft":  # pairs: the rejected reply beside the chosen one (unpaired: the label)
        from ftui.curate.preference import sample_lines, sample_of

        sample = sample_of(store, d.id, args.examples)
    for i, ex in enumerate(examples_of(store, d.id) if kind == "sft" else ()):
        if i >= args.examples:
            break
        sample.append({"split": ex.split, "mode": ex.reasoning_mode, "tokens": ex.tokens,
                       "messages": ex.messages})
    payload = {"id": d.id, "name": d.name, "hash": d.content_hash, "spec": d.spec, **report,
               "sample": sample}

    def human() -> None:
        print(_dataset_line(d))
        print("  rules: " + ", ".join(f"{k}={v}" for k, v in d.spec.items() if v not in (None, (), [])))
        print(f"  matched {report['matched']}; removed: " + (", ".join(
            f"{k} {v}" for k, v in report["removed"].items()) or "nothing"))
        for split in ("all", "train", "validation", "test"):
            st = report["stats"][split]
            if st["examples"]:
                tok = st["tokens"]
                print(f"  {split:<10} {st['examples']:>6} examples  tokens total {tok['total']}"
                      f"  mean {tok['mean']}  p50 {tok['p50']}  p95 {tok['p95']}  max {tok['max']}"
                      f"  turns {st['turns_mean']}  modes {st['by_mode']}")
        if not report.get("exact_tokens", False):
            print("  (token figures are approximate: built with --tokenizer approx)")
        if kind != "sft":
            sources = report["stats"].get("sources", {}).get("all", {})
            print("  by source: " + (", ".join(f"{k} {v}" for k, v in sources.items())
                                     or "none"))
            if report["stats"].get("balance"):
                b = report["stats"]["balance"]
                print(f"  balance: {b['desirable']} desirable, {b['undesirable']} undesirable")
            print("\n".join(sample_lines(sample)))

    emit(args, payload, human)
    return EXIT_OK


def cmd_dataset_export(args: argparse.Namespace) -> int:
    from ftui.curate.export import export_dataset

    result = export_dataset(store_for(args), args.id, args.format, args.out, redact=args.redact)

    def human() -> None:
        for split, path in result["files"].items():
            print(f"{split:<10} {path}")
        for split, n in result["skipped"].items():
            print(f"  skipped {n} {split} examples: {result['note']}", file=sys.stderr)

    emit(args, result, human)
    return EXIT_OK


def cmd_dataset_diff(args: argparse.Namespace) -> int:
    from ftui.curate import diff_datasets

    diff = diff_datasets(store_for(args), args.a, args.b)
    data = diff.as_dict()

    def human() -> None:
        print(f"dataset {diff.a.id} -> {diff.b.id}: +{len(diff.added)} added, "
              f"-{len(diff.removed)} removed, {diff.kept} in both")
        for split, (a, b) in diff.counts.items():
            print(f"  {split:<10} {a:>6} -> {b:<6} ({b - a:+d})")
        for key, (a, b) in diff.spec_changes.items():
            print(f"  rule {key}: {a} -> {b}")

    emit(args, data, human)
    return EXIT_OK


def cmd_dataset_pairs(args: argparse.Namespace) -> int:
    from ftui.curate.export import export_preferences

    report = export_preferences(store_for(args), args.out, args.min_gap, redact=args.redact)
    n = report.written
    emit(args, {"pairs": n, **report.as_dict()},
          lambda: print(f"wrote {n} preference pairs to {args.out}" + "".join(
              f"\n  left out {k}: {v}" for k, v in report.skipped.items())))
    return EXIT_OK



def register(sub) -> None:
    dsub = group(sub, "dataset", help="build, inspect, compare and export dataset versions",
                 description="Datasets: frozen, cleaned, split training sets.")

    def dadd(name, handler, help_text, description=None):
        return leaf(dsub, name, handler, help=help_text, description=description)

    p = dadd("build", cmd_dataset_build, "build a frozen dataset version from the store",
             "Build a frozen dataset version from the store (the same rules over the same data "
             "give the same version). --json prints {id, name, hash, created, matched, splits: "
             "{train, validation, test}, removed: {rule: n}, changed, tokenizer, seconds, kind, "
             "...}.")
    p.add_argument("name")
    p.add_argument("--min-rating", type=int, default=4,
                   help="lowest rating kept; lower ratings always go (default 4; 0: any rating)")
    p.add_argument("--include-unrated", action="store_true", help="keep unrated interactions")
    p.add_argument("--judged-min", type=int, metavar="N",
                   help="also keep unrated interactions the judge scored N or more "
                   "(ftui judge run; its current judgement)")
    p.add_argument("--status", action="append", choices=["new", "accepted", "rejected"],
                   help="statuses kept (repeat; default new and accepted: rejected stays out)")
    p.add_argument("--mode", action="append", choices=REASONING_MODES, help="modes kept (repeat)")
    p.add_argument("--model", action="append", help="models kept (repeat)")
    p.add_argument("--source", action="append", help="sources kept (repeat)")
    p.add_argument("--user", action="append", metavar="ID",
                   help="keep this user's interactions (repeat; the id as logged)")
    p.add_argument("--team", action="append", metavar="NAME",
                   help="keep the interactions of this team's members (config.toml [teams])")
    p.add_argument("--tag", action="append", help="keep interactions with any of these tags")
    p.add_argument("--exclude-tag", action="append", help="drop interactions with this tag")
    p.add_argument("--since", help="created on or after this date (YYYY-MM-DD)")
    p.add_argument("--until", help="created before this date (YYYY-MM-DD)")
    p.add_argument("--min-tokens", type=int)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--over-length", choices=["drop", "truncate"], default="drop",
                   help="too-long examples: drop, or drop their oldest turns (default drop)")
    p.add_argument("--max-examples", type=int)
    p.add_argument("--system-prompt", choices=["keep", "mode"], default="keep",
                   help="keep the logged system prompt, or use the mode's standard one")
    p.add_argument("--tokenizer", default="approx",
                   help="tokenizer.json (or its folder) of the base model, or approx")
    p.add_argument("--redact", choices=["off", "redact", "drop"], default="redact",
                   help="PII and secrets: replace (default), leave out the record, or keep")
    p.add_argument("--near-dup", default="0.85",
                   help="Jaccard threshold (default 0.85), or off")
    p.add_argument("--val", type=float, default=0.1, help="validation fraction (default 0.1)")
    p.add_argument("--test", type=float, default=0.0, help="test fraction (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kind", choices=["sft", "preference", "unpaired"], default="sft",
                   help="sft: conversations; preference: chosen/rejected pairs (DPO, ORPO); "
                        "unpaired: replies labelled desirable or not (KTO)")
    p.add_argument("--pair-source", action="append", choices=["correction", "rating", "arena"],
                   help="where preferences come from (repeat; default all three)")
    p.add_argument("--min-rating-gap", type=int, default=2,
                   help="two rated answers to one prompt pair up from this gap (default 2)")
    p.add_argument("--desirable-min-rating", type=int, default=4,
                   help="unpaired: this rating or more is desirable (default 4)")
    p.add_argument("--undesirable-max-rating", type=int, default=2,
                   help="unpaired: this rating or less is undesirable (default 2)")
    dadd("list", cmd_dataset_list, "list dataset versions")
    p = dadd("show", cmd_dataset_show, "rules, counts and statistics of a version",
             "A version's rules, counts and statistics: tokens (total, mean, p50, p95, max), "
             "turns, per mode and rating, per split.")
    p.add_argument("id", help="dataset id (or name: its newest version)")
    p.add_argument("--examples", type=int, default=3, help="sample examples in --json")
    p = dadd("export", cmd_dataset_export, "write a version out, one file per split",
             "Write a version out, one file per split. openai follows OpenAI's chat fine-tuning "
             "format (call ids made up, stably, where the source had none); sharegpt follows "
             "LLaMA-Factory's conventions and comes with dataset_info.json, so the folder loads "
             "as it is; alpaca takes single-turn conversations only (the rest is counted as "
             "skipped); hf writes parquet (needs pyarrow: pip install 'ftui[hf]') that "
             "datasets.load_dataset('parquet', ...) hands to TRL's SFTTrainer unchanged; trl "
             "writes preference or unpaired versions as TRL reads them.")
    p.add_argument("id")
    p.add_argument("--format", required=True,
                   choices=["openai", "sharegpt", "alpaca", "hf", "trl"],
                   help="sft versions: openai, sharegpt, alpaca, hf; preference and unpaired "
                        "versions: trl or sharegpt (LLaMA-Factory)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--redact", choices=["off", "redact", "drop"], default="redact",
                   help="PII and secrets: replace (default), leave out the record, or keep")
    p = dadd("diff", cmd_dataset_diff, "what changed between two versions")
    p.add_argument("a")
    p.add_argument("b")
    p = dadd("pairs", cmd_dataset_pairs,
             "export preference pairs (two rated answers to one prompt) as JSONL for DPO")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--min-gap", type=int, default=1, help="rating difference needed (default 1)")
    p.add_argument("--redact", choices=["off", "redact", "drop"], default="redact",
                   help="PII and secrets: replace (default), leave out the pair, or keep")
