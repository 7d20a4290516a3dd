"""Small pieces several screens share: the 1-5 rating keys, and running a core call that may
refuse with an FtuiError (shown as a notification, never a traceback)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.binding import Binding

from ftui.errors import FtuiError


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
    except FtuiError as err:
        screen.app.notify(str(err), severity="error", timeout=10)
        return None
    finally:
        if refresh is not None:
            refresh()
