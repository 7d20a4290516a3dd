"""The base of every chart: a plotext plot whose picture depends on its data and its final size
only.

Two things made the same data draw differently:
- plotext drops duplicate ticks and points with `list(set(...))`, so the order it then draws them
  in (which tick label is shifted aside for its neighbour, which marker covers another) followed
  the string hash seed, different in every process. Its own commented-out alternative,
  `dict.fromkeys`, keeps the first-seen order: the same elements, drawn in the caller's order.
- a chart that downsamples or places ticks for its width read that width when shown: shown
  before its layout or before a resize, it kept the ticks of another width. `Chart` shows the
  last data again on every resize.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import plotext._utility as plotext_utility
from textual import events
from textual_plotext import PlotextPlot


def _first_seen(data) -> list:
    return list(dict.fromkeys(data))


plotext_utility.no_duplicates = _first_seen  # used by plotext's brush() for ticks and points


def redrawn_on_resize(show: Callable[..., None]) -> Callable[..., None]:
    """For a `Chart` method that draws data: remembered, and called again on each resize."""

    @functools.wraps(show)
    def remembered(self: Chart, *args: Any, **kwargs: Any) -> None:
        self._redraw = functools.partial(show, self, *args, **kwargs)
        show(self, *args, **kwargs)

    return remembered


class Chart(PlotextPlot):
    _redraw: Callable[[], None] | None = None

    def on_resize(self, _event: events.Resize) -> None:
        if self._redraw is not None:
            self._redraw()  # ticks and downsampling for the size it has now
