"""The one table every screen uses: a DataTable with the shared movement keys, an empty state, and
a refresh that keeps the operator's selection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.strip import Strip
from textual.widgets import DataTable

Row = tuple[Any, Sequence[Any]]  # (key, cells): the key identifies the row across refreshes


class RecordTable(DataTable):
    """Rows keyed by an id (int or str). `show_rows` replaces the content and keeps the cursor on
    the same key; when only some cells changed, only those cells are updated (no flicker, no
    repaint of the whole table every poll)."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g,home,ctrl+home", "scroll_top", "First", show=False),
        Binding("G,end,ctrl+end", "scroll_bottom", "Last", show=False),
    ]

    def __init__(self, *columns: str, empty_text: str = "nothing here yet",
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._initial_columns = columns
        self.empty_text = empty_text
        self._keys: list[Any] = []
        self._placed: Any = None  # the key show_rows/select_key last put the cursor on

    def on_mount(self) -> None:
        if self._initial_columns and not self.columns:
            self.add_columns(*self._initial_columns)

    # ------------------------------------------------------------ selection

    @property
    def selected_key(self) -> Any:
        """The key of the row under the cursor (as given to `show_rows`), or None."""
        if not self._keys or not 0 <= self.cursor_row < len(self._keys):
            return None
        return self._keys[self.cursor_row]

    def select_key(self, key: Any) -> bool:
        if key not in self._keys:
            return False
        self.move_cursor(row=self._keys.index(key), animate=False)
        self._placed = key
        return True

    def show_rows(self, rows: Iterable[Row], keep: Any = None) -> Any:
        """Show `rows`; the cursor stays on `keep` (default: the current row) when it is still
        there, else on the first row. Returns the selected key (None when empty)."""
        rows = [(key, [c if isinstance(c, str | Text) else str(c) for c in cells])
                for key, cells in rows]
        under_cursor = self.selected_key
        if keep is None or (keep == self._placed and under_cursor is not None
                            and under_cursor != self._placed):
            # The screen asks for where this table last put the cursor, but the cursor has moved
            # since: a key the operator just pressed, whose RowHighlighted message the screen
            # has not handled yet. The operator's move wins; any other `keep` is deliberate.
            keep = under_cursor
        keys = [key for key, _ in rows]
        if keys == self._keys:
            for index, (_, cells) in enumerate(rows):
                for col, value in enumerate(cells):
                    if self.get_cell_at((index, col)) != value:
                        # a cell that grows ("queued" -> "running") widens its column
                        self.update_cell_at((index, col), value, update_width=True)
        else:
            self.clear()
            self._keys = keys
            for key, cells in rows:
                self.add_row(*cells, key=str(key))
        if not keys:
            self._placed = None
            return None
        target = keys.index(keep) if keep in keys else 0
        if target != self.cursor_row or self.cursor_row >= len(keys):
            self.move_cursor(row=target, animate=False)
        self._placed = keys[target]
        return keys[target]

    def key_of(self, row_key) -> Any:
        """The caller's key for a RowKey from a DataTable event."""
        value = getattr(row_key, "value", row_key)
        for key in self._keys:
            if str(key) == value:
                return key
        return None

    def clear(self, columns: bool = False) -> RecordTable:
        self._keys = []
        return super().clear(columns)

    # ------------------------------------------------------------ measuring

    def _update_dimensions(self, new_rows) -> None:
        """DataTable measures new cells when idle, but keeps the lines it drew before that: its
        caches are keyed by an update count that measuring does not change (textual#3533,
        #4470). A frame drawn in between (a busy machine) stayed with every column at its
        header's width; a new count makes the next frame use the measured widths."""
        super()._update_dimensions(new_rows)
        self._update_count += 1
        self.refresh()

    # ------------------------------------------------------------ empty state

    def render_line(self, y: int) -> Strip:
        header = 1 if self.show_header else 0
        if self.row_count == 0 and self.empty_text and y == header:
            style = self.rich_style + Style(dim=True, italic=True)
            strip = Strip([Segment(f" {self.empty_text}", style)])
            width = self.size.width
            return strip.crop(0, width).extend_cell_length(width, self.rich_style)
        return super().render_line(y)
