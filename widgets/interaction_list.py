"""A virtual list of interactions: holds a window of rows, renders only the visible lines.

The list never loads the whole result. It keeps a bounded buffer of rows and asks its `source`
(keyset pages from the core) for more when the cursor runs past either end, so moving costs
the same at row 10 and at row 900,000.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from rich.segment import Segment
from textual import events
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from ftui.store.interactions import InteractionRow, Key

MODE_LABELS = {
    "standard": "std",
    "chain_of_thought": "cot",
    "multi_step": "multi",
    "agent": "agent",
    "auto": "auto",
}
MAX_BUFFER = 1000


class RowSource(Protocol):
    def first(self, n: int) -> list[InteractionRow]: ...
    def last(self, n: int) -> list[InteractionRow]: ...
    def after(self, key: Key, n: int) -> list[InteractionRow]: ...
    def before(self, key: Key, n: int) -> list[InteractionRow]: ...


def stars(rating: int | None) -> str:
    return "  ·  " if rating is None else "★" * rating + "☆" * (5 - rating)


class InteractionList(Widget, can_focus=True):
    """Keyboard-driven list; posts `Highlighted` when the row under the cursor changes."""

    BINDINGS = [
        Binding("j,down", "move(1)", "Down", show=False),
        Binding("k,up", "move(-1)", "Up", show=False),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False),
        Binding("g,home", "first", "First", show=False),
        Binding("G,end", "last", "Last", show=False),
    ]
    COMPONENT_CLASSES = {
        "interaction-list--cursor",
        "interaction-list--dim",
        "interaction-list--star",
        "interaction-list--accepted",
        "interaction-list--rejected",
        "interaction-list--marked",
    }
    DEFAULT_CSS = """
    InteractionList { height: 1fr; }
    InteractionList > .interaction-list--cursor { background: $accent 40%; text-style: bold; }
    InteractionList:focus > .interaction-list--cursor { background: $accent; color: $text; }
    InteractionList > .interaction-list--dim { color: $text-muted; }
    InteractionList > .interaction-list--star { color: $warning; }
    InteractionList > .interaction-list--accepted { color: $success; }
    InteractionList > .interaction-list--rejected { color: $error; }
    InteractionList > .interaction-list--marked { color: $accent; text-style: bold; }
    """

    class Highlighted(Message):
        def __init__(self, row: InteractionRow | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source: RowSource | None = None
        self.rows: list[InteractionRow] = []
        self.cursor = 0
        self.top = 0
        self.at_start = True
        self.at_end = True
        self.first_abs: int | None = 0  # position of rows[0] in the whole result, if known
        self.total: int | None = None
        self.empty_text = "nothing matches"
        self.marked: set[int] = set()  # ids marked for a bulk action (shown with a ●)
        self._last_highlight: int | None = -1

    # ------------------------------------------------------------ state

    @property
    def page_size(self) -> int:
        return max(1, self.size.height or 20)

    @property
    def current(self) -> InteractionRow | None:
        return self.rows[self.cursor] if self.rows else None

    @property
    def position(self) -> int | None:
        """0-based position of the cursor in the whole result, when known."""
        return None if self.first_abs is None or not self.rows else self.first_abs + self.cursor

    def set_rows(self, source: RowSource, rows: list[InteractionRow], want: int) -> None:
        """Show `rows`, the first page of a new result (fetched by the caller, maybe in a thread)."""
        self.source = source
        self.rows = rows
        self.cursor = self.top = 0
        self.at_start = True
        self.at_end = len(rows) < want
        self.first_abs = 0
        self.total = len(rows) if self.at_end else None
        self._changed()

    def load(self, source: RowSource) -> None:
        want = max(3 * self.page_size, 100)
        self.set_rows(source, source.first(want), want)

    def set_total(self, total: int) -> None:
        self.total = total
        if self.first_abs is None and self.at_end:
            self.first_abs = max(0, total - len(self.rows))
        self.refresh()

    def set_position(self, row_id: int, position: int) -> None:
        """The cursor's row `row_id` is at `position` in the whole result (counted elsewhere)."""
        if self.current is not None and self.current.id == row_id:
            self.first_abs = position - self.cursor
            self.refresh()

    def merge_new(self, new_rows: list[InteractionRow]) -> int:
        """Insert rows that appeared in the store since the list was filled, where they belong in
        browsing order, without moving the selection (the same row stays under the cursor; at
        the top of the list, new rows show up above it). Returns how many were inserted."""
        known = {r.id for r in self.rows}
        new_rows = [r for r in new_rows if r.id not in known]
        if not new_rows:
            return 0
        current = self.current
        top_row = self.rows[self.top] if self.top < len(self.rows) else None
        newest = self.rows[0].key if self.rows and not self.at_start else None
        oldest = self.rows[-1].key if self.rows and not self.at_end else None
        inside = [r for r in new_rows
                  if (newest is None or r.key < newest) and (oldest is None or r.key > oldest)]
        above = sum(1 for r in new_rows if newest is not None and r.key > newest)
        self.rows = sorted([*self.rows, *inside], key=lambda r: r.key, reverse=True)
        if current is not None:
            self.cursor = next(i for i, r in enumerate(self.rows) if r.id == current.id)
        # At the top of the list the operator watches the newest rows: new ones appear there;
        # anywhere else the view stays on the same rows.
        if top_row is not None and not (self.top == 0 and self.at_start):
            self.top = next(i for i, r in enumerate(self.rows) if r.id == top_row.id)
        if self.first_abs is not None:
            self.first_abs += above
        if self.total is not None:
            self.total += len(new_rows)
        self._changed()
        return len(new_rows)

    def update_row(self, row: InteractionRow) -> None:
        for i, old in enumerate(self.rows):
            if old.id == row.id:
                self.rows[i] = row
                self.refresh_line(i - self.top)
                return

    def patch_current(self, **changes) -> InteractionRow | None:
        row = self.current
        if row is None:
            return None
        new = replace(row, **changes)
        self.rows[self.cursor] = new
        self.refresh_line(self.cursor - self.top)
        return new

    # ------------------------------------------------------------ movement

    def _extend_down(self, n: int) -> None:
        if self.at_end or not self.rows or self.source is None:
            return
        more = self.source.after(self.rows[-1].key, n)
        self.at_end = len(more) < n
        self.rows.extend(more)
        excess = len(self.rows) - MAX_BUFFER
        if excess > 0 and self.cursor - excess >= 0:
            del self.rows[:excess]
            self.cursor -= excess
            self.top = max(0, self.top - excess)
            self.at_start = False
            if self.first_abs is not None:
                self.first_abs += excess

    def _extend_up(self, n: int) -> int:
        if self.at_start or not self.rows or self.source is None:
            return 0
        more = self.source.before(self.rows[0].key, n)
        self.at_start = len(more) < n
        self.rows[:0] = more
        self.cursor += len(more)
        self.top += len(more)
        if self.first_abs is not None:
            self.first_abs -= len(more)
        if self.at_start:
            self.first_abs = 0
        excess = len(self.rows) - MAX_BUFFER
        if excess > 0 and len(self.rows) - excess > self.cursor:
            del self.rows[-excess:]
            self.at_end = False
        return len(more)

    def move(self, delta: int) -> None:
        if not self.rows:
            return
        target = self.cursor + delta
        if target >= len(self.rows):
            before = self.cursor
            self._extend_down(target - len(self.rows) + self.page_size)
            target += self.cursor - before  # the buffer may have been trimmed at the front
        elif target < 0:
            target += self._extend_up(-target + self.page_size)
        self.cursor = max(0, min(target, len(self.rows) - 1))
        self._changed()

    def jump_to(self, row_id: int) -> bool:
        for i, row in enumerate(self.rows):
            if row.id == row_id:
                self.cursor = i
                self._changed()
                return True
        return False

    def show_from(self, rows: list[InteractionRow]) -> None:
        """Put the cursor on rows[0], a row found elsewhere (e.g. the next unrated one)."""
        if not rows or self.source is None or self.jump_to(rows[0].id):
            return
        self.rows = list(rows)
        self.cursor = self.top = 0
        self.at_start = False
        self.at_end = False
        self.first_abs = None
        self._extend_up(self.page_size)
        self._extend_down(2 * self.page_size)
        self._changed()

    def action_move(self, delta: int) -> None:
        self.move(delta)

    def action_page(self, direction: int) -> None:
        self.move(direction * self.page_size)

    def action_first(self) -> None:
        if self.source is not None:
            self.load(self.source)

    def action_last(self) -> None:
        if self.source is None:
            return
        want = max(3 * self.page_size, 100)
        self.rows = self.source.last(want)
        self.at_end = True
        self.at_start = len(self.rows) < want
        self.first_abs = 0 if self.at_start else (
            self.total - len(self.rows) if self.total is not None else None)
        self.cursor = max(0, len(self.rows) - 1)
        self.top = max(0, self.cursor - self.page_size + 1)
        self._changed()

    def _changed(self) -> None:
        if self.cursor < self.top:
            self.top = self.cursor
        elif self.cursor >= self.top + self.page_size:
            self.top = self.cursor - self.page_size + 1
        self.refresh()
        row = self.current
        row_id = row.id if row else None
        if row_id != self._last_highlight:
            self._last_highlight = row_id
            self.post_message(self.Highlighted(row))

    def on_resize(self, _event: events.Resize) -> None:
        self._changed()

    # ------------------------------------------------------------ mouse

    def on_click(self, event: events.Click) -> None:
        idx = self.top + event.y
        if 0 <= idx < len(self.rows):
            self.cursor = idx
            self._changed()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.move(3)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.move(-3)

    # ------------------------------------------------------------ rendering

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        idx = self.top + y
        base = self.rich_style
        if idx >= len(self.rows):
            if idx == 0 and not self.rows:
                text = f" {self.empty_text}".ljust(width)
                return Strip([Segment(text, base + self.get_component_rich_style(
                    "interaction-list--dim"))]).crop(0, width)
            return Strip.blank(width, base)
        row = self.rows[idx]
        get = self.get_component_rich_style
        cursor = idx == self.cursor
        line_style = base + get("interaction-list--cursor") if cursor else base
        dim = line_style + get("interaction-list--dim")
        status_style = {
            "accepted": line_style + get("interaction-list--accepted"),
            "rejected": line_style + get("interaction-list--rejected"),
        }.get(row.status, dim)
        status_mark = {"accepted": "✓", "rejected": "✗"}.get(row.status, "·")
        model = (row.model or "-")[:14]
        marked = row.id in self.marked
        segments = [
            Segment("●" if marked else " ", line_style + get("interaction-list--marked")),
            Segment(f"{row.created_at:%m-%d %H:%M} ", dim),
            Segment(f"{MODE_LABELS.get(row.reasoning_mode, row.reasoning_mode[:5]):<6}", line_style),
            Segment(f"{model:<15}", dim),
            Segment(stars(row.rating), line_style + get("interaction-list--star")),
            Segment(f" {status_mark}", status_style),
            Segment("✎ " if row.has_correction else "  ", line_style),
            Segment(row.preview, line_style),
        ]
        strip = Strip(segments).crop(0, width)
        return strip.extend_cell_length(width, line_style) if strip.cell_length < width else strip

    def refresh_line(self, y: int) -> None:
        if 0 <= y < self.page_size:
            self.refresh(Region(0, y, self.size.width, 1))


