"""The footer every screen uses: whole keys only. Where the terminal is too narrow for all of a
screen's shown keys (80 columns), the last ones are left out instead of being cut in half; a
screen lists its keys most important first, and `?` (help) and the palette list every key."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.events import Resize
from textual.widgets import Footer

PALETTE_CELLS = 12  # "^p palette" with its border and padding


class KeyFooter(Footer):
    def __init__(self, *, show_command_palette: bool = True, id: str | None = None) -> None:
        super().__init__(compact=True, show_command_palette=show_command_palette, id=id)
        self._fitted: tuple[str, ...] | None = None  # the actions shown at the last compose

    def _entries(self) -> list[tuple]:
        """(binding, enabled, tooltip) per shown action, in the screen's order."""
        seen: dict[str, tuple] = {}
        for _node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in seen:
                seen[binding.action] = (binding, enabled, tooltip)
        return list(seen.values())

    def _fit(self, width: int) -> tuple[list[tuple], bool]:
        """The entries that fit whole in `width` columns, and whether the palette key does too
        (only when every key fits: the palette is there to reach the rest)."""
        shown, used = [], 0
        entries = self._entries()
        for entry in entries:
            binding = entry[0]
            cells = len(self.app.get_key_display(binding)) + 1 + len(binding.description) + 1
            if used + cells > width:
                break
            shown.append(entry)
            used += cells
        palette = (len(shown) == len(entries) and used + PALETTE_CELLS <= width
                   and self.show_command_palette)
        return shown, palette

    def compose(self) -> ComposeResult:
        width = self.size.width or self.app.size.width
        used, fitted, full = 0, [], False
        for widget in super().compose():  # Footer's keys, in the screen's order
            if widget.has_class("-command-palette"):
                if not full and used + PALETTE_CELLS <= width:
                    fitted.append("palette")
                    yield widget
                continue
            cells = len(widget.key_display) + 1 + len(widget.description) + 1
            full = full or used + cells > width  # one did not fit: none after it either
            if not full:
                used += cells
                fitted.append(widget.action)
                yield widget
        self._fitted = tuple(fitted)

    def on_resize(self, event: Resize) -> None:
        if not self._bindings_ready or not self.is_attached:
            return
        shown, palette = self._fit(event.size.width)
        if tuple(b.action for b, _, _ in shown) + (("palette",) if palette else ()) \
                != self._fitted:
            self.call_after_refresh(self.recompose)
