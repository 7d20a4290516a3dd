"""The same movement keys everywhere: j/k, g/G and Home/End in tables and in scrolling panes."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable

MOVEMENT_BINDINGS = [
    Binding("j", "cursor_down", "Down", show=False),
    Binding("k", "cursor_up", "Up", show=False),
    Binding("g,home", "first", "First", show=False),
    Binding("G,end", "last", "Last", show=False),
]


class MovementTable(DataTable):
    """A row-cursor table where j/k move and g/G (Home/End) jump to the first/last row."""

    BINDINGS = MOVEMENT_BINDINGS

    def action_first(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)


class MovementScroll(VerticalScroll):
    """A focusable detail pane that scrolls with j/k and jumps with g/G (Home/End)."""

    BINDINGS = [
        Binding("j,down", "scroll_down", "Down", show=False),
        Binding("k,up", "scroll_up", "Up", show=False),
        Binding("g,home", "scroll_home", "Top", show=False),
        Binding("G,end", "scroll_end", "Bottom", show=False),
    ]
