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
