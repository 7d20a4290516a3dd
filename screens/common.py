"""Small pieces several screens share: the 1-5 rating keys, and running a core call that may
refuse with an FtuiError (shown as a notification, never a traceback; screens on FtuiScreen
call `self.attempt` instead)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftui.screens.base import report_error
from textual.binding import Binding


def rating_bindings() -> list[Binding]:
    """`1`-`5` rate (one footer entry, "1-5 Rate"); each screen has an `action_rate(n)`."""
    return [Binding("1", "rate(1)", "Rate", key_display="1-5"),
            *(Binding(str(n), f"rate({n})", f"Rate {n}", show=False) for n in range(2, 6))]


def attempt(screen, fn: Callable[..., Any], *args, refresh: Callable[[], None] | None = None,
            **kwargs) -> Any:
    """fn(*args, **kwargs), or None after showing why it was refused; `refresh` runs either
    way (the store may have changed before the refusal)."""
    try:
        return fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - a UI action's catch-all: said, and logged
        report_error(screen.app, err, f"{type(screen).__name__}: {getattr(fn, '__name__', fn)}")
        return None
    finally:
        if refresh is not None:
            refresh()
