"""Experiment curves: cumulative mean rating per arm, and B's cumulative arena win rate."""

from __future__ import annotations

from ftui.widgets.run_plots import downsample
from textual_plotext import PlotextPlot


class RatingPlot(PlotextPlot):
    def show(self, a: list[tuple[int, float]], b: list[tuple[int, float]]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("cumulative mean rating (by rated interaction)")
        width = self.size.width or 60
        for label, pts in (("A", a), ("B", b)):
            if pts:
                pts = downsample(pts, width)
                plt.plot([x for x, _ in pts], [y for _, y in pts], label=label, marker="braille")
        self.refresh()


class WinRatePlot(PlotextPlot):
    def show(self, rate: list[tuple[int, float]]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("arena: B's cumulative win rate (decisive votes)")
        if rate:
            pts = downsample(rate, self.size.width or 40)
            plt.plot([x for x, _ in pts], [y for _, y in pts], marker="braille")
            plt.ylim(0, 1)
        self.refresh()
