"""Running the autopilot: `once` (one step) and `run` (steps until stopped), both under the
store's lock with a heartbeat thread, and `status` (what it is doing, what it would do)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ftui.autopilot import state
from ftui.autopilot.machine import Context, Step, advance, plan
from ftui.autopilot.policy import load_policy, policy_path
from ftui.errors import FtuiError
from ftui.store import Store

BEAT_S = 5.0


@contextlib.contextmanager
def holding_lock(store: Store, holder: str | None = None, beat_s: float = BEAT_S,
                 stale_after_s: float = state.STALE_AFTER_S) -> Iterator[str]:
    """The store's autopilot lock for the duration (FtuiError when another live autopilot
    holds it), renewed by a heartbeat thread, released at the end."""
    holder = holder or state.new_holder()
    state.refuse_second(store, holder, stale_after_s)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(beat_s):
            with contextlib.suppress(Exception):  # a busy store: beat again next time
                state.beat(store, holder)

    thread = threading.Thread(target=beat, daemon=True, name="ftui-autopilot-heartbeat")
    thread.start()
    try:
        yield holder
    finally:
        stop.set()
        thread.join(5)
        state.release(store, holder)


def make_context(store: Store, home: Path, host: str, settings_extra: dict | None = None,
                 on_line: Callable[[str], None] | None = None) -> Context:
    return Context(store=store, home=Path(home), host=host, policy=load_policy(home),
                   settings_extra=dict(settings_extra or {}),
                   on_line=on_line or (lambda _line: None))


def once(store: Store, home: Path, host: str, *, settings_extra: dict | None = None,
         dry_run: bool = False, on_line: Callable[[str], None] | None = None) -> Step:
    """One step (or, dry, what it would be and why: nothing is written, no lock is taken)."""
    ctx = make_context(store, home, host, settings_extra, on_line)
    if dry_run:
        return plan(ctx)
    with holding_lock(store):
        return advance(ctx)


def run(store: Store, home: Path, host: str, *,
        settings_extra: dict | Callable[[], dict] | None = None,
        stop: threading.Event | None = None, on_step: Callable[[Step], None] | None = None,
        on_line: Callable[[str], None] | None = None, poll_s: float | None = None,
        max_steps: int | None = None, holder: str | None = None) -> list[Step]:
    """Advance until `stop` is set (or `max_steps` steps were taken): at once after a step
    that changed something, else after the policy's poll_seconds. The policy is read again
    before each step, so an edit takes effect without a restart (an invalid edit pauses the
    loop with its message until it is fixed); so is `settings_extra` when it is a function
    (the CLI passes Settings.current_extra: config.toml's [gate] and judge as they are now)."""
    stop = stop or threading.Event()
    taken: list[Step] = []
    with holding_lock(store, holder) as me:
        while not stop.is_set():
            wait = poll_s if poll_s is not None else 60.0
            try:
                extra = settings_extra() if callable(settings_extra) else settings_extra
                ctx = make_context(store, home, host, extra, on_line)
            except FtuiError as err:  # the message names the file: the policy or config.toml
                step = Step("waiting", "nothing: autopilot.toml or config.toml cannot be used",
                            str(err))
            else:
                wait = poll_s if poll_s is not None else ctx.policy.poll_seconds
                if not state.beat(store, me):
                    raise FtuiError("another autopilot took over this store's lock (this one "
                                    "was silent too long)", "run one autopilot per store")
                try:
                    step = advance(ctx)
                except Exception as err:  # noqa: BLE001 - outside a cycle: say it, try again
                    from ftui.logs import log_exception

                    log_exception("autopilot step", err)
                    step = Step("waiting", "nothing: the step could not be taken",
                                str(err) if isinstance(err, FtuiError)
                                else f"{type(err).__name__}: {err}")
            taken.append(step)
            if on_step is not None:
                on_step(step)
            if max_steps is not None and len(taken) >= max_steps:
                break
            if not step.changed:
                stop.wait(wait)
    return taken


def status(store: Store, home: Path, host: str, settings_extra: dict | None = None,
           cycles: int = 10) -> dict[str, Any]:
    """The lock, the kill switch, the policy (or why it cannot be used), what the next step
    would be and why, and the recent cycles with their steps."""
    out: dict[str, Any] = {"lock": state.lock_state(store), "policy": str(policy_path(home))}
    out["policy_error"], out["next"] = None, None
    try:
        ctx = make_context(store, home, host, settings_extra)
    except FtuiError as err:
        out["policy_error"] = str(err)
    else:
        try:
            out["next"] = plan(ctx).as_dict()
        except FtuiError as err:  # e.g. a model or experiment deleted by hand
            out["next"] = Step("error", "cannot tell what the next step is", str(err)).as_dict()
    out["cycles"] = [state.cycle_dict(store, c) for c in state.list_cycles(store, cycles)]
    return out
