"""`ftui models ...` and `ftui chat`: the registry, evaluation, merge, deploy, and a chat in the
terminal."""

from __future__ import annotations

import argparse
import sys

from ftui.cli_common import EXIT_ERROR, EXIT_OK, _emit, _open, action_adder
from ftui.errors import FtuiError


def _model_line(m) -> str:
    loss = m.metrics.get("best_eval_loss")
    loss_text = f"{loss:.4f}" if isinstance(loss, int | float) else "-"
    return (f"{m.id:>4}  {m.name[:28]:<28} {m.kind:<8} {m.stage:<10} {m.slot:<16} "
            f"{(m.base_model or '-')[:20]:<20} eval {loss_text:<8} {m.created_at:%Y-%m-%d %H:%M}")


def cmd_models(args: argparse.Namespace) -> int:
    from ftui import registry

    store = _open(args)
    action = args.models_command
    if action == "list":
        items = registry.list_models(store)
        _emit(args, {"models": [registry.as_dict(m) for m in items]},
              lambda: print("\n".join(_model_line(m) for m in items)
                            or "no models yet: a finished training run registers its adapter"))
        return EXIT_OK
    if action == "show":
        model = registry.get_model(store, args.id)
        events = registry.history(store, model.id)
        from ftui.registry.lineage import lineage, lineage_lines

        info = lineage(store, model.id)
        payload = {**registry.as_dict(model), "params": model.params, "notes": model.notes,
                   "dataset_id": model.dataset_id, "lineage": info,
                   "history": [{"time": e.created_at.isoformat(), "action": e.action,
                                "from": e.from_stage, "to": e.to_stage, "slot": e.slot,
                                "note": e.note} for e in events]}

        def human() -> None:
            print(_model_line(model))
            for key in ("path", "ollama_name", "run_id", "dataset_id", "dataset_hash"):
                if payload.get(key) is not None:
                    print(f"  {key.replace('_', ' ')}: {payload[key]}")
            for line in lineage_lines(info):
                print(f"  {line}")
            deployment = registry.deployment_summary(model)
            if deployment:
                print(f"  deployment: {deployment}")
            for k, v in registry.training_figures(model).items():
                print(f"  {k.replace('_', ' ')}: {v}")
            if model.metrics.get("eval"):
                _print_eval(model.metrics["eval"])
            for e in events:
                print(f"  {e.created_at:%Y-%m-%d %H:%M} {e.action:<10} "
                      f"{e.from_stage or '':>10} -> {e.to_stage or '':<10} {e.slot or ''}"
                      + (f"  ({e.note})" if e.note else ""))

        _emit(args, payload, human)
        return EXIT_OK
    if action in EXTRA_ACTIONS:
        return EXTRA_ACTIONS[action](args, store)
    if action == "register":
        if args.kind == "ollama" and args.ollama:
            _check_in_ollama(args.ollama, args.ollama_host)
        model = registry.register(store, kind=args.kind, name=args.name, path=args.path,
                                  ollama_name=args.ollama, base_model=args.base,
                                  slot=args.slot, notes=args.note)
    elif action == "promote":
        if args.stage != "production":  # the gate guards production only
            model = registry.set_stage(store, args.id, args.stage, args.slot, args.note)
        else:
            return cmd_promote(args, store)
    elif action == "demote":
        current = registry.get_model(store, args.id)
        lower = {"production": "staging", "staging": "candidate"}.get(current.stage, current.stage)
        model = registry.set_stage(store, args.id, lower, None, args.note)
    elif action == "archive":
        model = registry.set_stage(store, args.id, "archived", None, args.note)
    else:  # delete
        if not args.yes:
            raise FtuiError(f"deleting model {args.id} needs confirmation",
                            "add --yes (and --remove-files to delete its files too)")
        result = registry.delete_model(store, args.id, args.remove_files, _settings().home)
        _emit(args, result, lambda: print(f"deleted model {result['deleted']} ({result['name']})"
                                          + (f"; removed {result['removed_files']}"
                                             if result["removed_files"] else "")))
        return EXIT_OK
    _emit(args, registry.as_dict(model), lambda: print(_model_line(model)))
    return EXIT_OK


def _settings():
    from ftui.config import load_settings

    return load_settings()


def _host(args) -> str:
    return getattr(args, "ollama_host", None) or _settings().ollama_host


def _check_in_ollama(name: str, host: str | None) -> None:
    """An Ollama model is registered only when `ollama list` has it (typos fail here)."""
    from ftui.inference import ollama_models

    host = host or _settings().ollama_host
    known = ollama_models(host)
    if name not in known and f"{name}:latest" not in known:
        shown = ", ".join(known[:8]) or "none"
        raise FtuiError(f"Ollama at {host} has no model {name!r} (it has: {shown})",
                        f"pull it first (ollama pull {name}) or pick one of those")


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _print_eval(ev: dict) -> None:
    print(f"  evaluation on dataset {ev['dataset_id']} {ev['split']} ({ev['examples']} examples,"
          f" {ev['backend']}):")
    for key in ("loss", "perplexity", "rouge_l", "exact_match", "contains_match",
                "answer_words", "latency_ms_p50", "latency_ms_p95", "tokens_per_s"):
        print(f"    {key.replace('_', ' '):<16} {_fmt(ev.get(key))}")


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cmd_evaluate(args, store) -> int:
    from ftui.registry.evaluate import evaluate

    settings = _settings()
    result = evaluate(store, args.id, home=settings.home, host=_host(args),
                      dataset_id=args.dataset, split=args.split, limit=args.limit,
                      max_new_tokens=args.max_new_tokens,
                      on_progress=None if args.json else
                      lambda i, n: print(f"\r  {i}/{n} answered", end="", file=sys.stderr))
    if not args.json:
        print(file=sys.stderr)
    _emit(args, result, lambda: _print_preference_eval(result) if "preference_accuracy" in result
          else _print_eval(result))
    return EXIT_OK


def _print_preference_eval(result: dict) -> None:
    low, high = result["ci95"] or (None, None)
    print(f"  {result['pairs']} {result['split']} pairs of dataset {result['dataset_id']}"
          + (f" ({result['skipped_too_long']} too long, left out)"
             if result["skipped_too_long"] else ""))
    print(f"    preference accuracy {result['preference_accuracy']:.3f}"
          + (f"  (95% CI {low:.3f}-{high:.3f})" if low is not None else ""))
    print(f"    mean margin         {result['mean_margin']:+.4f} nats/token (chosen - rejected)")


def cmd_compare(args, store) -> int:
    from ftui.registry.evaluate import compare

    result = compare(store, args.a, args.b)

    def human() -> None:
        a, b = result["a"]["name"], result["b"]["name"]
        print(f"{'':<16} {'A ' + a[:20]:>22} {'B ' + b[:20]:>22}  better")
        for r in result["rows"]:
            print(f"{r['metric'].replace('_', ' '):<16} {_fmt(r['a']):>22} {_fmt(r['b']):>22}  "
                  f"{r['better'] or ''}")
        if result["differences"]:
            print("no winner: the evaluations differ in " + "; ".join(result["differences"])
                  + ". Evaluate both the same way (ftui models evaluate ID --limit N "
                  "--max-new-tokens N)")

    _emit(args, result, human)
    return EXIT_OK


def cmd_merge(args, store) -> int:
    from pathlib import Path

    from ftui import registry
    from ftui.registry.merge import merge_adapter

    model = merge_adapter(store, args.id, home=_settings().home,
                          out_dir=Path(args.out) if args.out else None, name=args.name,
                          dtype=args.dtype)
    _emit(args, registry.as_dict(model), lambda: print(f"merged into {model.path}\n"
                                                        + _model_line(model)))
    return EXIT_OK


def cmd_deploy(args, store) -> int:
    from ftui.registry.deploy import deploy

    result = deploy(store, args.id, home=_settings().home, host=_host(args), name=args.as_name,
                    ollama_base=args.from_base, quantize=args.quantize,
                    smoke_prompt=None if args.no_smoke else args.smoke_prompt,
                    on_line=None if args.json else _progress)
    if result["smoke_ok"] is False:  # created, but it does not answer: say so, object included
        _emit(args, result, lambda: print(f"created {result['ollama_name']} in Ollama "
                                          f"({result['mode']}), but it does not answer"))
        print(f"ftui: the smoke test of {result['ollama_name']} failed: "
              f"{result['smoke_error']}\n  fix: try `ollama run {result['ollama_name']}` and "
              "read the Ollama server log; a model that does not load is often on the wrong "
              "base (--from), else merge the adapter and deploy the merged model",
              file=sys.stderr)
        return EXIT_ERROR
    _emit(args, result, lambda: print(f"deployed as {result['ollama_name']} ({result['mode']})"
                                      + ("" if result["smoke_ok"] else "; smoke test skipped")))
    return EXIT_OK


def cmd_export(args, store) -> int:
    from pathlib import Path

    from ftui.registry.gguf import export_gguf

    out = export_gguf(store, args.id, home=_settings().home,
                      out_dir=Path(args.out) if args.out else None, dtype=args.dtype)
    _emit(args, out, lambda: print(
        f"wrote {out['path']} (GGUF LoRA, {out['architecture']}, {out['tensors']} tensors, "
        f"{out['bytes'] / 1e6:.1f} MB)\n  llama.cpp: llama-server -m BASE.gguf --lora "
        f"{out['path']}\n  Ollama: ftui models deploy {out['id']} --from BASE"))
    return EXIT_OK


def _print_gate(result: dict) -> None:
    inc = result["incumbent"]
    print(f"gate: {result['candidate']['name']} against {inc['name'] or 'nothing'}"
          + (f" ({inc['why']})" if inc["why"] else "") + f", slot {result['slot']}")
    for f in result["figures"]:
        mark = {True: "pass", False: "FAIL", None: "----"}[f["passed"]]
        print(f"  {mark}  {f['line']}")
    cats = result.get("general_by_category") or {}
    if cats:
        print("  general set by category (candidate / incumbent): " + ", ".join(
            f"{c} {_fmt(v['candidate'])}/{_fmt(v['incumbent'])}" for c, v in cats.items()))
    for n in result["notes"]:
        print(f"  note: {n}")
    print("gate passed" if result["passed"] else
          "gate FAILED: " + ", ".join(result["failed"]))


def cmd_gate(args, store) -> int:
    from ftui.registry.gate import run_gate

    settings = _settings()
    result = run_gate(store, args.id, home=settings.home, host=_host(args),
                      against=args.against, slot=args.slot, settings_extra=settings.extra,
                      general_items=args.general_items,
                      on_line=None if args.json else _progress)
    _emit(args, result, lambda: _print_gate(result))
    if not result["passed"]:
        print(f"ftui: the regression gate failed: {', '.join(result['failed'])}\n  fix: train "
              "again, or promote anyway with: ftui models promote "
              f"{result['candidate']['id']} --force REASON", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def cmd_promote(args, store) -> int:
    """`models promote` to production: through the regression gate."""
    from ftui import registry
    from ftui.registry.gate import GateRefused

    settings = _settings()
    if args.force is not None and not args.force.strip():
        raise FtuiError("--force needs a reason", 'say why: --force "REASON" (kept in the '
                        "model's history)")
    try:
        model, gate = registry.promote(
            store, args.id, args.slot, args.note, home=settings.home, host=_host(args),
            force=args.force, settings_extra=settings.extra, general_items=args.general_items,
            on_line=None if args.json else _progress)
    except GateRefused as refused:
        if not args.json:
            _print_gate(refused.result)
        raise
    payload = {**registry.as_dict(model), "gate": gate}

    def human() -> None:
        if gate:
            _print_gate(gate)
        print(_model_line(model))

    _emit(args, payload, human)
    return EXIT_OK


EXTRA_ACTIONS = {"gate": cmd_gate, "evaluate": cmd_evaluate, "compare": cmd_compare, "merge": cmd_merge,
                 "deploy": cmd_deploy, "export": cmd_export}


QUIT_COMMANDS = ("/quit", "/exit", "/q")


def cmd_chat(args: argparse.Namespace) -> int:
    """A chat in the terminal: each exchange is logged (source playground); rate with /1../5."""
    import uuid

    from ftui.inference.playground import chat_turn
    from ftui.store import interactions

    store = _open(args)
    settings = _settings()
    host = _host(args)
    session = f"chat-{uuid.uuid4().hex[:8]}"
    history: list[dict] = []
    last_id = None
    prompts = [args.prompt] if args.prompt else None
    if prompts is None:
        print(f"chatting with {args.model} in mode {args.mode}; /1../5 rates the last answer, "
              "/new starts over, /quit or ctrl+d quits", file=sys.stderr)
    while True:
        if prompts is not None:
            if not prompts:
                return EXIT_OK
            line = prompts.pop()
        else:
            try:
                line = input("you> ").strip()
            except EOFError:
                print(file=sys.stderr)
                return EXIT_OK
        if not line:
            continue
        if line in QUIT_COMMANDS:  # ends the chat; never sent to the model nor logged
            return EXIT_OK
        if line in ("/1", "/2", "/3", "/4", "/5") and last_id is not None:
            interactions.set_rating(store, last_id, int(line[1]))
            print(f"rated {line[1]}", file=sys.stderr)
            continue
        if line == "/new":
            history, last_id = [], None
            continue
        stream = None if args.json else (lambda t: print(t, end="", flush=True))
        ex = chat_turn(store, args.model, history, line, mode=args.mode, home=settings.home,
                       host=host, on_token=stream, session_id=session)
        history, last_id = ex.messages, ex.interaction_id
        g = ex.routed.generation
        payload = {"reply": g.text, "model": g.model, "mode": ex.routed.mode,
                   "interaction_id": ex.interaction_id, "latency_ms": round(g.latency_ms, 1),
                   "completion_tokens": g.completion_tokens, "fell_back": ex.routed.fell_back,
                   "fallback_reason": ex.routed.fallback_reason}
        note = (f"\n  [{payload['mode']}, {g.latency_ms / 1000:.1f} s"
                + (f", fell back: {payload['fallback_reason']}" if payload["fell_back"] else "")
                + "]")
        _emit(args, payload, lambda note=note: print(note, file=sys.stderr))


def add_chat_command(sub, modes) -> None:
    p = sub.add_parser("chat", help="chat with a registered or Ollama model in a reasoning mode",
                       description="Chat in the terminal; each exchange is logged as an "
                       "interaction (source playground). /1../5 rates the last answer.")
    p.set_defaults(func=cmd_chat)
    p.add_argument("model", help="registered model id or name, or an Ollama model name")
    p.add_argument("--mode", default="auto", choices=list(dict.fromkeys(modes)),
                   help="reasoning mode (default auto: picked from the prompt)")
    p.add_argument("--prompt", help="ask one question and exit (for scripts)")
    p.add_argument("--ollama-host", help="default: $OLLAMA_HOST or http://127.0.0.1:11434")
    p.add_argument("--json", action="store_true", help="print one JSON object per answer")


def add_model_commands(sub) -> None:
    mp = sub.add_parser("models", help="the model registry: list, register, promote, delete",
                        description="Registered models, their lineage and their stage in a slot.")
    msub = mp.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    madd = action_adder(msub, cmd_models)

    madd("list", "every registered model")
    madd("show", "one model: lineage, metrics, history").add_argument("id")
    p = madd("register", "register a model that exists elsewhere")
    p.add_argument("--kind", required=True, choices=["adapter", "merged", "ollama", "hf", "gguf"])
    p.add_argument("--name", required=True)
    p.add_argument("--path", help="folder or .gguf file (all kinds but ollama)")
    p.add_argument("--ollama", help="the Ollama model name, e.g. llama3.2:3b (kind ollama)")
    p.add_argument("--base", help="the base model it was trained from")
    p.add_argument("--slot", default="general", help="mode, domain or general (default)")
    p.add_argument("--note")
    p.add_argument("--ollama-host", help="where `ollama list` is checked (kind ollama)")
    p = madd("promote", "move to a stage (production demotes the slot's previous one)")
    p.add_argument("id")
    p.add_argument("--stage", default="production", choices=["candidate", "staging", "production"])
    p.add_argument("--slot", help="the slot it serves (default: its current slot)")
    p.add_argument("--note", help="why (kept in the history)")
    p.add_argument("--force", metavar="REASON", help="promote to production even when the "
                   "regression gate fails (the reason is kept in the history)")
    p.add_argument("--general-items", type=int, help="general check items (default: [gate] "
                   "general_items in config.toml, else 100)")
    p.add_argument("--ollama-host")
    p = madd("gate", "regression gate: the candidate against the incumbent on the validation "
             "split, the general check set, general-text perplexity and the judge")
    p.add_argument("id")
    p.add_argument("--against", default="production", help="production (the slot's, else the "
                   "candidate's base; default) or a model id/name or Ollama name")
    p.add_argument("--slot", help="the slot whose production model is the incumbent "
                   "(default: the candidate's)")
    p.add_argument("--general-items", type=int, help="general check items (default: [gate] "
                   "general_items in config.toml, else 100)")
    p.add_argument("--ollama-host")
    for name, text in (("demote", "one stage down"), ("archive", "archive it (files are kept)")):
        p = madd(name, text)
        p.add_argument("id")
        p.add_argument("--note")
    p = madd("evaluate", "loss, perplexity and generation figures on a held-out split; on a "
             "preference version: preference accuracy (chosen above rejected) and mean margin")
    p.add_argument("id")
    p.add_argument("--dataset", type=int, help="dataset version (default: the one it was "
                   "trained on)")
    p.add_argument("--split", choices=["validation", "test", "train"],
                   help="default: validation, else test")
    p.add_argument("--limit", type=int, default=20, help="examples answered (default 20)")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--ollama-host")
    p = madd("compare", "two models' evaluations side by side")
    p.add_argument("a")
    p.add_argument("b")
    p = madd("merge", "merge an adapter into its base: a standalone model folder")
    p.add_argument("id")
    p.add_argument("--out", help="folder (default: $FTUI_HOME/merged/<name>)")
    p.add_argument("--name", help="registry name (default: <adapter>-merged)")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    p = madd("export", "write an adapter as a GGUF LoRA (llama.cpp --lora, LM Studio, Ollama)")
    p.add_argument("id")
    p.add_argument("--gguf", action="store_true", required=True,
                   help="GGUF LoRA, as llama.cpp's convert_lora_to_gguf.py writes it")
    p.add_argument("--out", help="folder (default: the adapter's own folder)")
    p.add_argument("--dtype", default="f32", choices=["f32", "f16"],
                   help="tensor type (default f32, as llama.cpp's converter)")
    p = madd("deploy", "create the model in Ollama (adapter on its base, or merged)")
    p.add_argument("id")
    p.add_argument("--as", dest="as_name", metavar="NAME", help="Ollama name "
                   "(default ftui-<name>)")
    p.add_argument("--from", dest="from_base", metavar="BASE",
                   help="the base as Ollama names it (adapters; demo is known: smollm2:135m)")
    p.add_argument("--quantize", help="merged models: e.g. q4_K_M, q8_0")
    p.add_argument("--ollama-host", help="default: $OLLAMA_HOST or http://127.0.0.1:11434")
    p.add_argument("--smoke-prompt", default="Say hello in one short sentence.")
    p.add_argument("--no-smoke", action="store_true", help="skip the test prompt")
    p = madd("delete", "forget a model (files only with --remove-files)")
    p.add_argument("id")
    p.add_argument("--yes", action="store_true", help="confirm")
    p.add_argument("--remove-files", action="store_true", help="also delete its adapter folder")


