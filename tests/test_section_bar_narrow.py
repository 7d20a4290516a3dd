"""The section bar at 80 columns: every tab whole whichever section is active, and F1's short
name says what F1 holds ("Log" read like a log file: walkthrough 3, row 15)."""

from __future__ import annotations

import pytest
from ftui.widgets.section_bar import SECTIONS, SectionBar
from textual.app import App, ComposeResult


class BarApp(App):
    def __init__(self, active: str) -> None:
        super().__init__()
        self.active = active

    def compose(self) -> ComposeResult:
        yield SectionBar(self.active)


@pytest.mark.parametrize("active", [mode for mode, _, _ in SECTIONS])
async def test_every_tab_is_whole_at_80_columns(active):
    app = BarApp(active)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        bar = app.query_one(SectionBar)
        text = bar.render()
        assert text.cell_len <= 80, text.plain
        labels = [text.plain[start:end].strip() for start, end, _ in bar._spans]
        assert [label.split(" ", 1)[0] for label in labels] == [k for _, k, _ in SECTIONS]
        if active != "interactions":
            assert "F1 Chats" in labels, labels
