"""`ftui autopilot ...`: retrain, gate, deploy, experiment and promote or roll back, by the
policy in $FTUI_HOME/autopilot.toml (issue 14)."""

from __future__ import annotations

import argparse

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

ORDER = 75


def _step_line(step) -> str:
    named = step.cycle_id and f"cycle {step.cycle_id}" not in step.did
    return f"{f'cycle {step.cycle_id}: ' if named else ''}{step.did}\n  why: {step.why}"


def cmd_autopilot_once(args: argparse.Namespace) -> int:
    from ftui.autopilot import once

    settings = settings_for(args)
    step = once(store_for(args), settings.home, settings.ollama_host,
                settings_extra=settings.extra, dry_run=args.dry_run,
                on_line=None if args.json else progress_line)
    payload = {**step.as_dict(), "dry_run": args.dry_run}
    prefix = "would: " if args.dry_run else ""
    emit(args, payload, lambda: print(prefix + _step_line(step)))
    return EXIT_ERROR if step.action == "failed" else EXIT_OK


def cmd_autopilot_run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from ftui.autopilot import run

    settings = settings_for(args)
    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        progress_line("autopilot: stopping after this step (again to quit now; an "
                      "interrupted training run resumes from its checkpoint)")

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def said(step) -> None:
        if args.json:
            import json

            print(json.dumps(step.as_dict()), flush=True)
        elif step.changed or step.action in ("failed", "paused"):
            print(_step_line(step), flush=True)

    try:
        progress_line(f"autopilot: running on {settings.database_url} (ctrl+c stops it)")
        steps = run(store_for(args), settings.home, settings.ollama_host,
                    settings_extra=settings.current_extra, stop=stop, on_step=said,
                    on_line=None if args.json else progress_line, max_steps=args.max_steps)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    if not args.json:
        print(f"autopilot stopped after {len(steps)} step(s)")
    return EXIT_OK


def cmd_autopilot_status(args: argparse.Namespace) -> int:
    from ftui.autopilot import status

    settings = settings_for(args)
    data = status(store_for(args), settings.home, settings.ollama_host,
                  settings_extra=settings.extra, cycles=args.cycles)

    def human() -> None:
        lock = data["lock"]
        print("autopilot: " + ("PAUSED (kill switch on)" if lock["paused"] else "not paused")
              + (f", running as {lock['holder']}" if lock["holder"] else ", not running"))
        if data["policy_error"]:
            print(f"policy {data['policy']}: {data['policy_error']}")
        elif data["next"]:
            print(f"next: {data['next']['did']}\n  why: {data['next']['why']}")
        for c in data["cycles"]:
            end = c["outcome"] or c["stage"]
            print(f"cycle {c['id']}  {c['status']:<8} {end:<12} {c['created_at'][:16]}  "
                  f"{c['reason'] or ''}")
            if c["error"]:
                print(f"    error: {c['error']}")
            for st in c["steps"]:
                print(f"    {st['name']:<10} {st['status']:<7} {st['summary']}")

    emit(args, data, human)
    return EXIT_OK


def cmd_autopilot_pause(args: argparse.Namespace) -> int:
    from ftui.autopilot import set_paused

    data = set_paused(store_for(args), True, args.note)
    emit(args, data, lambda: print("autopilot paused: no new step starts; a training run or "
                                   "gate in progress stops at its next check"))
    return EXIT_OK


def cmd_autopilot_resume(args: argparse.Namespace) -> int:
    from ftui.autopilot import set_paused

    data = set_paused(store_for(args), False)
    emit(args, data, lambda: print("autopilot resumed"))
    return EXIT_OK


def cmd_autopilot_init(args: argparse.Namespace) -> int:
    from ftui.autopilot import init_policy

    path = init_policy(settings_for(args).home, force=args.force)
    emit(args, {"policy": str(path)}, lambda: print(
        f"wrote {path}: edit it, then check it with: ftui autopilot once --dry-run"))
    return EXIT_OK


def cmd_autopilot_undo(args: argparse.Namespace) -> int:
    from ftui.autopilot import undo_cycle

    said = undo_cycle(store_for(args), args.cycle)
    emit(args, {"cycle": args.cycle, "undone": said}, lambda: print(said))
    return EXIT_OK


def cmd_autopilot_retry(args: argparse.Namespace) -> int:
    from ftui.autopilot import retry_cycle

    cycle = retry_cycle(store_for(args), args.cycle)
    emit(args, {"cycle": cycle.id, "stage": cycle.stage}, lambda: print(
        f"cycle {cycle.id} taken up again at {cycle.stage}: the next step redoes it"))
    return EXIT_OK


def register(sub) -> None:
    g = group(sub, "autopilot", help="retrain, gate, deploy and A/B test by a policy",
              description="The autopilot: when feedback arrives it builds a dataset, trains, "
              "runs the regression gate, deploys to Ollama and starts an A/B experiment; it "
              "promotes B when the sequential test says B is better, and rolls back when B is "
              "worse or a guardrail degrades. Policy: $FTUI_HOME/autopilot.toml.")
    p = leaf(g, "run", cmd_autopilot_run, help="run until stopped (one autopilot per store)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps")
    p = leaf(g, "once", cmd_autopilot_once, help="take one step (--dry-run: say what and why)")
    p.add_argument("--dry-run", action="store_true",
                   help="say what the next step would be and why; change nothing")
    p = leaf(g, "status", cmd_autopilot_status, help="the lock, the kill switch, the next step, "
             "recent cycles and their steps")
    p.add_argument("--cycles", type=int, default=10, help="how many recent cycles (10)")
    p = leaf(g, "pause", cmd_autopilot_pause, help="the kill switch: no new step starts")
    p.add_argument("--note", help="why (shown in status)")
    leaf(g, "resume", cmd_autopilot_resume, help="turn the kill switch off")
    p = leaf(g, "init", cmd_autopilot_init, help="write the commented example policy",
             creates_store=False)
    p.add_argument("--force", action="store_true", help="replace an existing policy")
    p = leaf(g, "undo", cmd_autopilot_undo, help="reverse a finished cycle's promotion or "
             "rollback (through the stage history)")
    p.add_argument("cycle", help="the cycle id")
    p = leaf(g, "retry", cmd_autopilot_retry, help="take a failed cycle up again at the step "
             "that failed (after fixing its cause)")
    p.add_argument("cycle", help="the cycle id")


