"""`ftui models ...`: the registry, evaluation, the regression gate, merge, export and deploy."""

from __future__ import annotations

import argparse
import sys

from ftui import fmt
from ftui.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    emit,
    group,
    leaf,
    progress_line,
    settings_for,
    store_for,
)
from ftui.errors import FtuiError

ORDER = 40


def model_line(m) -> str:
    loss = m.metrics.get("best_eval_loss")
    loss_text = f"{loss:.4f}" if isinstance(loss, int | float) else "-"
    return (f"{m.id:>4}  {m.name[:28]:<28} {m.kind:<8} {m.stage:<10} {m.slot:<16} "
            f"{(m.base_model or '-')[:20]:<20} eval {loss_text:<8} {m.created_at:%Y-%m-%d %H:%M}")


def _host(args: argparse.Namespace) -> str:
    return args.ollama_host or settings_for(args).ollama_host


def _print_model(args: argparse.Namespace, model) -> int:
    from ftui import registry

    emit(args, registry.as_dict(model), lambda: print(model_line(model)))
    return EXIT_OK


def cmd_models_list(args: argparse.Namespace) -> int:
    from ftui import registry

    items = registry.list_models(store_for(args))
    emit(args, {"models": [registry.as_dict(m) for m in items]},
         lambda: print("\n".join(model_line(m) for m in items)
                       or "no models yet: a finished training run registers its adapter"))
    return EXIT_OK


def cmd_models_show(args: argparse.Namespace) -> int:
    from ftui import registry
    from ftui.registry.lineage import lineage, lineage_lines

    store = store_for(args)
    model = registry.get_model(store, args.id)
    events = registry.history(store, model.id)
    info = lineage(store, model.id)
    payload = {**registry.as_dict(model), "params": model.params, "notes": model.notes,
               "dataset_id": model.dataset_id, "lineage": info,
               "history": [{"time": e.created_at.isoformat(), "action": e.action,
                            "from": e.from_stage, "to": e.to_stage, "slot": e.slot,
                            "note": e.note} for e in events]}

    def human() -> None:
        print(model_line(model))
        for key in ("path", "ollama_name", "run_id", "dataset_id", "dataset_hash"):
            if payload.get(key) is not None:
                print(f"  {key.replace('_', ' ')}: {payload[key]}")
        for line in lineage_lines(info):
            print(f"  {line}")
        deployment = registry.deployment_summary(model)
        if deployment:
            print(f"  deployment: {deployment}")
        for k, v in registry.training_figures(model).items():
            if not isinstance(v, dict | list):  # records (the gate's) have their own views
                print(f"  {k.replace('_', ' ')}: {fmt.metric(k, v)}")
        if model.metrics.get("eval"):
            print_eval(model.metrics["eval"])
        for e in events:
            print(f"  {e.created_at:%Y-%m-%d %H:%M} {e.action:<10} "
                  f"{e.from_stage or '':>10} -> {e.to_stage or '':<10} {e.slot or ''}"
                  + (f"  ({e.note})" if e.note else ""))

    emit(args, payload, human)
    return EXIT_OK


def cmd_models_register(args: argparse.Namespace) -> int:
    from ftui import registry

    # the model is checked before the store is opened: a typo leaves no empty store behind
    registry.check_registration(kind=args.kind, name=args.name, path=args.path,
                                ollama_name=args.ollama, slot=args.slot)
    if args.kind == "ollama" and args.ollama:
        _check_in_ollama(args.ollama, args.ollama_host or settings_for(args).ollama_host)
    store = store_for(args)
    model = registry.register(store, kind=args.kind, name=args.name, path=args.path,
                              ollama_name=args.ollama, base_model=args.base,
                              slot=args.slot, notes=args.note)
    return _print_model(args, model)


def _check_in_ollama(name: str, host: str) -> None:
    """An Ollama model is registered only when `ollama list` has it (typos fail here)."""
    from ftui.inference import ollama_models

    known = ollama_models(host)
    if name not in known and f"{name}:latest" not in known:
        shown = ", ".join(known[:8]) or "none"
        raise FtuiError(f"Ollama at {host} has no model {name!r} (it has: {shown})",
                        f"pull it first (ollama pull {name}) or pick one of those")


def cmd_models_promote(args: argparse.Namespace) -> int:
    """To production through the regression gate; to another stage directly."""
    from ftui import registry
    from ftui.registry.gate import GateRefused

    store = store_for(args)
    if args.stage != "production":  # the gate guards production only
        return _print_model(args, registry.set_stage(store, args.id, args.stage, args.slot,
                                                     args.note))
    settings = settings_for(args)
    if args.force is not None and not args.force.strip():
        raise FtuiError("--force needs a reason", 'say why: --force "REASON" (kept in the '
                        "model's history)")
    try:
        model, gate = registry.promote(
            store, args.id, args.slot, args.note, home=settings.home, host=_host(args),
            force=args.force, settings_extra=settings.extra, general_items=args.general_items,
            on_line=None if args.json else progress_line)
    except GateRefused as refused:
        if not args.json:
            print_gate(refused.result)
        raise
    payload = {**registry.as_dict(model), "gate": gate}

    def human() -> None:
        if gate:
            print_gate(gate)
        print(model_line(model))

    emit(args, payload, human)
    return EXIT_OK


def cmd_models_demote(args: argparse.Namespace) -> int:
    from ftui import registry

    store = store_for(args)
    current = registry.get_model(store, args.id)
    lower = {"production": "staging", "staging": "candidate"}.get(current.stage, current.stage)
    return _print_model(args, registry.set_stage(store, args.id, lower, None, args.note))


def cmd_models_archive(args: argparse.Namespace) -> int:
    from ftui import registry

    return _print_model(args, registry.set_stage(store_for(args), args.id, "archived", None,
                                                 args.note))


def cmd_models_delete(args: argparse.Namespace) -> int:
    from ftui import registry

    store = store_for(args)
    if not args.yes:
        raise FtuiError(f"deleting model {args.id} needs confirmation",
                        "add --yes (and --remove-files to delete its files too)")
    result = registry.delete_model(store, args.id, args.remove_files, settings_for(args).home)
    emit(args, result, lambda: print(f"deleted model {result['deleted']} ({result['name']})"
                                     + (f"; removed {result['removed_files']}"
                                        if result["removed_files"] else "")))
    return EXIT_OK


def print_eval(ev: dict) -> None:
    """An evaluation's figures, as the Models screen shows them (ftui.fmt.metric)."""
    print(f"  evaluation on dataset {ev['dataset_id']} {ev['split']} ({ev['examples']} examples,"
          f" {ev['backend']}):")
    for key in fmt.EVAL_KEYS:
        print(f"    {key.replace('_', ' '):<16} {fmt.metric(key, ev.get(key))}")
    from ftui.judge.evaluation import judge_lines

    for line in judge_lines(ev):  # the judge's per-criterion scores (issue 13), apart
        print(f"  {line}")


def cmd_models_evaluate(args: argparse.Namespace) -> int:
    from ftui.registry.evaluate import evaluate

    store = store_for(args)
    result = evaluate(store, args.id, home=settings_for(args).home, host=_host(args),
                      dataset_id=args.dataset, split=args.split, limit=args.limit,
                      max_new_tokens=args.max_new_tokens, judge=args.judge, rubric=args.rubric,
                      on_progress=None if args.json else
                      lambda i, n: print(f"\r  {i}/{n} done", end="", file=sys.stderr))
    if not args.json:
        print(file=sys.stderr)
    emit(args, result, lambda: _print_preference_eval(result) if "preference_accuracy" in result
         else print_eval(result))
    return EXIT_OK


def _print_preference_eval(result: dict) -> None:
    low, high = result["ci95"] or (None, None)
    print(f"  {result['pairs']} {result['split']} pairs of dataset {result['dataset_id']}"
          + (f" ({result['skipped_too_long']} too long, left out)"
             if result["skipped_too_long"] else ""))
    print(f"    preference accuracy {result['preference_accuracy']:.3f}"
          + (f"  (95% CI {low:.3f}-{high:.3f})" if low is not None else ""))
    print(f"    mean margin         {result['mean_margin']:+.4f} nats/token (chosen - rejected)")


def cmd_models_compare(args: argparse.Namespace) -> int:
    from ftui.registry.evaluate import compare

    result = compare(store_for(args), args.a, args.b)

    def human() -> None:
        a, b = result["a"]["name"], result["b"]["name"]
        print(f"{'':<16} {'A ' + a[:20]:>22} {'B ' + b[:20]:>22}  better")
        for r in result["rows"]:
            print(f"{r['metric'].replace('_', ' '):<16} {fmt.metric(r['metric'], r['a']):>22} "
                  f"{fmt.metric(r['metric'], r['b']):>22}  {r['better'] or ''}")
        if result["differences"]:
            print("no winner: the evaluations differ in " + "; ".join(result["differences"])
                  + ". Evaluate both the same way (ftui models evaluate ID --limit N "
                  "--max-new-tokens N)")
        pref = result.get("preference")
        if pref:  # both evaluated on preference pairs (issue 12)
            print(f"preference pairs ({pref['split']} of dataset {pref['dataset_id']}, "
                  f"{pref['pairs']['a']} vs {pref['pairs']['b']} pairs)")
            for r in pref["rows"]:
                cells = []
                for side in ("a", "b"):
                    ci = r.get(f"ci95_{side}")
                    cells.append(f"{r[side]:.3f}" + (f" [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else ""))
                print(f"{r['metric'].replace('_', ' '):<20} {cells[0]:>22} {cells[1]:>22}  "
                      f"{r['better'] or ''}")
            if pref["differences"]:
                print("no winner on pairs: they differ in " + "; ".join(pref["differences"]))
        if result.get("judge"):  # judge scores (issue 13): a model's opinion, apart
            from ftui.judge.evaluation import compare_judge_lines

            print("\n".join(compare_judge_lines(result)[1:]))

    emit(args, result, human)
    return EXIT_OK


def cmd_models_merge(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ftui import registry
    from ftui.registry.merge import merge_adapter

    model = merge_adapter(store_for(args), args.id, home=settings_for(args).home,
                          out_dir=Path(args.out) if args.out else None, name=args.name,
                          dtype=args.dtype)
    emit(args, registry.as_dict(model), lambda: print(f"merged into {model.path}\n"
                                                       + model_line(model)))
    return EXIT_OK


def cmd_models_deploy(args: argparse.Namespace) -> int:
    from ftui.registry.deploy import deploy

    result = deploy(store_for(args), args.id, home=settings_for(args).home, host=_host(args),
                    name=args.as_name, ollama_base=args.from_base, quantize=args.quantize,
                    smoke_prompt=None if args.no_smoke else args.smoke_prompt,
                    on_line=None if args.json else progress_line)
    if result["smoke_ok"] is False:  # created, but it does not answer: say so, object included
        emit(args, result, lambda: print(f"created {result['ollama_name']} in Ollama "
                                         f"({result['mode']}), but it does not answer"))
        print(f"ftui: the smoke test of {result['ollama_name']} failed: "
              f"{result['smoke_error']}\n  fix: try `ollama run {result['ollama_name']}` and "
              "read the Ollama server log; a model that does not load is often on the wrong "
              "base (--from), else merge the adapter and deploy the merged model",
              file=sys.stderr)
        return EXIT_ERROR
    emit(args, result, lambda: print(f"deployed as {result['ollama_name']} ({result['mode']})"
                                     + ("" if result["smoke_ok"] else "; smoke test skipped")))
    return EXIT_OK


def cmd_models_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ftui.registry.gguf import export_gguf

    out = export_gguf(store_for(args), args.id, home=settings_for(args).home,
                      out_dir=Path(args.out) if args.out else None, dtype=args.dtype)
    emit(args, out, lambda: print(
        f"wrote {out['path']} (GGUF LoRA, {out['architecture']}, {out['tensors']} tensors, "
        f"{out['bytes'] / 1e6:.1f} MB)\n  llama.cpp: llama-server -m BASE.gguf --lora "
        f"{out['path']}\n  Ollama: ftui models deploy {out['id']} --from BASE"))
    return EXIT_OK


def print_gate(result: dict) -> None:
    inc = result["incumbent"]
    print(f"gate: {result['candidate']['name']} against {inc['name'] or 'nothing'}"
          + (f" ({inc['why']})" if inc["why"] else "") + f", slot {result['slot']}")
    for f in result["figures"]:
        mark = {True: "pass", False: "FAIL", None: "----"}[f["passed"]]
        print(f"  {mark}  {f['line']}")
    cats = result.get("general_by_category") or {}
    if cats:
        print("  general set by category (candidate / incumbent): " + ", ".join(
            f"{c} {fmt.figure(v['candidate'])}/{fmt.figure(v['incumbent'])}"
            for c, v in cats.items()))
    for n in result["notes"]:
        print(f"  note: {n}")
    print("gate passed" if result["passed"] else
          "gate FAILED: " + ", ".join(result["failed"]))


def cmd_models_gate(args: argparse.Namespace) -> int:
    from ftui.registry.gate import run_gate

    store = store_for(args)
    settings = settings_for(args)
    result = run_gate(store, args.id, home=settings.home, host=_host(args),
                      against=args.against, slot=args.slot, settings_extra=settings.extra,
                      general_items=args.general_items,
                      on_line=None if args.json else progress_line)
    emit(args, result, lambda: print_gate(result))
    if not result["passed"]:
        print(f"ftui: the regression gate failed: {', '.join(result['failed'])}\n  fix: train "
              "again, or promote anyway with: ftui models promote "
              f"{result['candidate']['id']} --force REASON", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


GENERAL_ITEMS_HELP = ("general check items (default: [gate] general_items in config.toml, "
                      "else 100)")


def register(sub) -> None:
    msub = group(sub, "models", help="the model registry: list, register, promote, delete",
                 description="Registered models, their lineage and their stage in a slot.")
    leaf(msub, "list", cmd_models_list, help="every registered model",
         description="Every registered model. --json prints {models: [{id, name, kind, stage, "
         "slot, base_model, run_id, dataset_hash, path, ollama_name, metrics, created_at}]}.")
    leaf(msub, "show", cmd_models_show, help="one model: lineage, metrics, history"
         ).add_argument("id")
    p = leaf(msub, "register", cmd_models_register, creates_store=True,
             help="register a model that exists elsewhere")
    p.add_argument("--kind", required=True, choices=["adapter", "merged", "ollama", "hf", "gguf"])
    p.add_argument("--name", required=True)
    p.add_argument("--path", help="folder or .gguf file (all kinds but ollama)")
    p.add_argument("--ollama", help="the Ollama model name, e.g. llama3.2:3b (kind ollama)")
    p.add_argument("--base", help="the base model it was trained from")
    p.add_argument("--slot", default="general", help="mode, domain or general (default)")
    p.add_argument("--note")
    p.add_argument("--ollama-host", help="where `ollama list` is checked (kind ollama)")
    p = leaf(msub, "promote", cmd_models_promote,
             help="move to a stage (production demotes the slot's previous one)",
             description="Move a model to a stage in its slot (a mode, a domain, general or "
             "personal): one production model per slot, the previous one goes back to staging; "
             "every change is kept with its note. Production runs the regression gate first "
             "(--force REASON to override).")
    p.add_argument("id")
    p.add_argument("--stage", default="production", choices=["candidate", "staging", "production"])
    p.add_argument("--slot", help="the slot it serves: a mode, a domain, general, or personal "
                   "(user:ID, team:NAME; the gateway serves those first) (default: its current "
                   "slot)")
    p.add_argument("--note", help="why (kept in the history)")
    p.add_argument("--force", metavar="REASON", help="promote to production even when the "
                   "regression gate fails (the reason is kept in the history)")
    p.add_argument("--general-items", type=int, help=GENERAL_ITEMS_HELP)
    p.add_argument("--ollama-host")
    p = leaf(msub, "gate", cmd_models_gate,
             help="regression gate: the candidate against the incumbent on the validation "
             "split, the general check set, general-text perplexity and the judge",
             description="The regression gate: the candidate against the incumbent on the "
             "validation split, the general check set, general-text perplexity and the judge. "
             "`models promote --stage production` and `ab promote` run it and take --force "
             "REASON.")
    p.add_argument("id")
    p.add_argument("--against", default="production", help="production (the slot's, else the "
                   "candidate's base; default) or a model id/name or Ollama name")
    p.add_argument("--slot", help="the slot whose production model is the incumbent "
                   "(default: the candidate's)")
    p.add_argument("--general-items", type=int, help=GENERAL_ITEMS_HELP)
    p.add_argument("--ollama-host")
    for name, handler, text in (("demote", cmd_models_demote, "one stage down"),
                                ("archive", cmd_models_archive, "archive it (files are kept)")):
        p = leaf(msub, name, handler, help=text)
        p.add_argument("id")
        p.add_argument("--note")
    p = leaf(msub, "evaluate", cmd_models_evaluate,
             help="loss, perplexity and generation figures on a held-out split; on a "
             "preference version: preference accuracy (chosen above rejected) and mean margin")
    p.add_argument("id")
    p.add_argument("--dataset", type=int, help="dataset version (default: the one it was "
                   "trained on)")
    p.add_argument("--split", choices=["validation", "test", "train"],
                   help="default: validation, else test")
    p.add_argument("--limit", type=int, default=20, help="examples answered (default 20)")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--ollama-host")
    p.add_argument("--judge", metavar="MODEL", help="also score each answer per criterion with "
                   "this judge (an Ollama or registered model): its opinion, shown apart")
    p.add_argument("--rubric", metavar="NAME", help="the judge's rubric (default: each "
                   "example's mode's)")
    p = leaf(msub, "compare", cmd_models_compare, help="two models' evaluations side by side",
             description="Two models' evaluations side by side. A winner is named per figure "
             "only when both used the same dataset, split, examples and generation settings; "
             "otherwise it lists what differs.")
    p.add_argument("a")
    p.add_argument("b")
    p = leaf(msub, "merge", cmd_models_merge,
             help="merge an adapter into its base: a standalone model folder")
    p.add_argument("id")
    p.add_argument("--out", help="folder (default: $FTUI_HOME/merged/<name>)")
    p.add_argument("--name", help="registry name (default: <adapter>-merged)")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    p = leaf(msub, "export", cmd_models_export,
             help="write an adapter as a GGUF LoRA (llama.cpp --lora, LM Studio, Ollama)",
             description="Write an adapter as a GGUF LoRA (default: next to the adapter, "
             "<name>-F32-LoRA.gguf) for llama-server -m BASE.gguf --lora FILE, LM Studio or an "
             "Ollama ADAPTER line.")
    p.add_argument("id")
    p.add_argument("--gguf", action="store_true", required=True,
                   help="GGUF LoRA, as llama.cpp's convert_lora_to_gguf.py writes it")
    p.add_argument("--out", help="folder (default: the adapter's own folder)")
    p.add_argument("--dtype", default="f32", choices=["f32", "f16"],
                   help="tensor type (default f32, as llama.cpp's converter)")
    p = leaf(msub, "deploy", cmd_models_deploy,
             help="create the model in Ollama (adapter on its base, or merged)",
             description="Create the model in Ollama (an adapter on its base, or a merged "
             "model). The --from model's architecture, embedding length and block count (Ollama's "
             "/api/show) must match the adapter's base, or deploy refuses naming both. The create "
             "and the smoke prompt are recorded apart; a created model that does not answer "
             "exits 2. --json prints {ollama_name, mode, from, smoke_ok, smoke_error, "
             "smoke_reply, blobs, progress} either way.")
    p.add_argument("id")
    p.add_argument("--as", dest="as_name", metavar="NAME", help="Ollama name "
                   "(default ftui-<name>)")
    p.add_argument("--from", dest="from_base", metavar="BASE",
                   help="the base as Ollama names it (adapters; demo is known: smollm2:135m)")
    p.add_argument("--quantize", help="merged models: e.g. q4_K_M, q8_0")
    p.add_argument("--ollama-host", help="default: $OLLAMA_HOST or http://127.0.0.1:11434")
    p.add_argument("--smoke-prompt", default="Say hello in one short sentence.")
    p.add_argument("--no-smoke", action="store_true", help="skip the test prompt")
    p = leaf(msub, "delete", cmd_models_delete,
             help="forget a model (files only with --remove-files)",
             description="Forget a model. --remove-files removes only a folder ftui wrote under "
             "$FTUI_HOME/runs or $FTUI_HOME/merged (anything else is refused, by path).")
    p.add_argument("id")
    p.add_argument("--yes", action="store_true", help="confirm")
    p.add_argument("--remove-files", action="store_true", help="also delete its adapter folder")
