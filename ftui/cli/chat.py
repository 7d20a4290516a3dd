"""`ftui chat`: a chat in the terminal with a registered or Ollama model, logged and rated."""

from __future__ import annotations

import argparse
import sys

from ftui import REASONING_MODES
from ftui.cli.common import EXIT_OK, emit, leaf, settings_for, store_for

ORDER = 45

QUIT_COMMANDS = ("/quit", "/exit", "/q")


def cmd_chat(args: argparse.Namespace) -> int:
    """A chat in the terminal: each exchange is logged (source playground); rate with /1../5."""
    import uuid

    from ftui.inference.playground import chat_turn
    from ftui.store import interactions

    store = store_for(args)
    settings = settings_for(args)
    host = args.ollama_host or settings.ollama_host
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
        emit(args, payload, lambda note=note: print(note, file=sys.stderr))


def register(sub) -> None:
    p = leaf(sub, "chat", cmd_chat, creates_store=True, json=False,
             help="chat with a registered or Ollama model in a reasoning mode",
             description="Chat in the terminal; each exchange is logged as an interaction "
             "(source playground). /1../5 rates the last answer; /quit (/exit, /q) ends it "
             "without sending anything.")
    p.add_argument("model", help="registered model id or name, or an Ollama model name")
    p.add_argument("--mode", default="auto",
                   choices=list(dict.fromkeys(("auto", *REASONING_MODES))),
                   help="reasoning mode (default auto: picked from the prompt)")
    p.add_argument("--prompt", help="ask one question and exit (for scripts)")
    p.add_argument("--ollama-host", help="default: $OLLAMA_HOST or http://127.0.0.1:11434")
    p.add_argument("--json", action="store_true", help="print one JSON object per answer")
