"""The tab bar across the top: one section per area, switched with F1-F8."""

from __future__ import annotations

from rich.text import Text
from textual.events import Click
from textual.widget import Widget

SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("interactions", "F1", "Interactions"),
    ("datasets", "F2", "Datasets"),
    ("training", "F3", "Training"),
    ("models", "F4", "Models"),
    ("experiments", "F5", "Experiments"),
    ("playground", "F6", "Playground"),
    ("autopilot", "F7", "Autopilot"),
    ("monitoring", "F8", "Monitoring"),
)
# Below the full width the inactive tabs take a short name (whole words, not cut ones;
# F1 "Chats": "Log" read like a log file).
SHORT = {"interactions": "Chats", "datasets": "Data", "training": "Train", "models": "Models",
         "experiments": "A/B", "playground": "Play", "autopilot": "AP",
         "monitoring": "Mon"}


class SectionBar(Widget):
    """Shows every section, the active one highlighted; a click switches section."""

    DEFAULT_CSS = """
    SectionBar { height: 1; background: $panel; }
    """

    def __init__(self, active: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.active = active
        self._spans: list[tuple[int, int, str]] = []

    def render(self) -> Text:
        full = 6 + sum(len(k) + len(lab) + 3 for _, k, lab in SECTIONS)
        narrow = self.size.width and self.size.width < full  # 80 columns: drop the title
        text = Text("" if narrow else " ftui ", style="bold reverse")
        self._spans = []
        for mode, key, label in SECTIONS:
            start = text.cell_len
            if narrow and mode != self.active:
                label = SHORT[mode]  # every tab stays on screen at 80 columns
            chunk = f" {key} {label} "
            if mode == self.active:
                text.append(chunk, style="bold reverse")
            else:
                text.append(f" {key} ", style="dim")
                text.append(f"{label} ")
            self._spans.append((start, text.cell_len, mode))
        return text

    def on_click(self, event: Click) -> None:
        for start, end, mode in self._spans:
            if start <= event.x < end:
                self.app.switch_mode(mode)
