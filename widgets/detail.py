"""A scrollable detail pane with the shared movement keys (j/k, g/G, Home/End, PgUp/PgDn)."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import VerticalScroll


class DetailPane(VerticalScroll, can_focus=True):
    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]
