"""`ftui proxy`: the Ollama-compatible gateway the chat app talks to."""

from __future__ import annotations

import argparse

from ftui.cli.common import EXIT_OK, leaf, settings_for, store_for

ORDER = 55


def cmd_proxy(args: argparse.Namespace) -> int:
    import logging

    from ftui.ab.gateway import check_listen, parse_size, serve

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    # the flags are checked before the store is opened: a typo leaves no empty store behind
    check_listen(args.listen, args.token)
    max_body = parse_size(args.max_body, "--max-body")
    max_message = parse_size(args.max_message, "--max-message")
    store = store_for(args)
    upstream = args.upstream or settings_for(args).ollama_host
    if "://" not in upstream:
        upstream = f"http://{upstream}"
    serve(store, args.listen, upstream, token=args.token, fallback=args.fallback,
          max_body=max_body, max_message=max_message, spill_dir=settings_for(args).home)
    return EXIT_OK


def register(sub) -> None:
    p = leaf(sub, "proxy", cmd_proxy, json=False, creates_store=True,
             help="the Ollama-compatible gateway for the chat app",
             description="Forward every Ollama API request upstream; log chat requests, route "
             "aliases and experiments. Point OLLAMA_HOST at it.")
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
