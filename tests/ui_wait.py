"""Waiting for a condition in Pilot tests, instead of fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable


async def wait_for(pilot, condition: Callable[[], object], timeout: float = 10.0,
                   what: str = "") -> None:
    """Let the app run until `condition()` is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(0.02)


async def settled(pilot) -> None:
    """Every worker of the app has finished and the screen has repainted."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def footer_entries(app, width: int, by: str = "description") -> set[str]:
    """The footer keys (their `description` or `key`) fully inside the first `width` columns."""
    return {getattr(k, by) for k in app.screen.query("FooterKey")
            if k.region.width and k.region.right <= width}


async def wait_for_footer(pilot, wanted: set[str], width: int, by: str = "description") -> None:
    """The footer recomposes a few frames after its bindings change (later on a loaded machine):
    wait until it shows every key in `wanted` within `width` columns."""
    await wait_for(pilot, lambda: wanted <= footer_entries(pilot.app, width, by),
                   what=f"footer keys {sorted(wanted)} within {width} columns")


async def decline_the_demo(pilot) -> None:
    """An empty store offers the demo data once F1 has counted it (in a worker thread): wait for
    the offer, then say no. A key pressed before the offer shows goes to F1 instead."""
    from ftui.screens.dialogs import ConfirmDialog

    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog),
                   what="the demo offer")
    await pilot.press("n")
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, ConfirmDialog),
                   what="the demo offer to close")
