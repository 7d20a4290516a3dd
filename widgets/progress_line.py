"""One line for a slow task that runs in a worker thread: a spinner, what is being done, its
latest step and the time taken so far. Hidden while nothing runs."""

from __future__ import annotations

import time

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

from ftui import fmt

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class ProgressLine(Static):
    DEFAULT_CSS = """
    ProgressLine { height: auto; display: none; padding: 0 1; background: $boost; }
    ProgressLine.-busy { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.title = ""
        self.latest = ""
        self._started = 0.0
        self._frame = 0
        self._timer: Timer | None = None

    @property
    def busy(self) -> bool:
        return self.has_class("-busy")

    def start(self, title: str) -> None:
        self.title, self.latest, self._started = title, "", time.monotonic()
        self.add_class("-busy")
        if self._timer is None:
            self._timer = self.set_interval(0.25, self._tick)
        else:
            self._timer.resume()
        self._tick()

    def step(self, line: str) -> None:
        self.latest = line
        self._draw()

    def stop(self) -> None:
        self.remove_class("-busy")
        if self._timer is not None:
            self._timer.pause()

    def _tick(self) -> None:
        self._frame = (self._frame + 1) % len(SPINNER)
        self._draw()

    def _draw(self) -> None:
        if not self.busy:
            return
        text = Text(f"{SPINNER[self._frame]} {self.title}", style="bold")
        if self.latest:
            text.append(f" · {self.latest}")
        spent = time.monotonic() - self._started
        text.append(f" · {int(spent)} s" if spent < 60 else f" · {fmt.duration(spent)}",
                    style="dim")
        self.update(text)
