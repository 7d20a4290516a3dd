"""Experiment curves: cumulative mean rating per arm, and B's cumulative arena win rate."""

from __future__ import annotations

from ftui.widgets.plotting import Chart, redrawn_on_resize
from ftui.widgets.run_plots import downsample, integer_ticks


class RatingPlot(Chart):
    @redrawn_on_resize
    def show(self, a: list[tuple[int, float]], b: list[tuple[int, float]]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("mean rating, cumulative")
        width = self.size.width or 60
        xs: list[int] = []
        for label, pts in (("A", a), ("B", b)):
            if pts:
                pts = downsample(pts, width)
                xs += [x for x, _ in pts]
                plt.plot([x for x, _ in pts], [y for _, y in pts], label=label, marker="braille")
        if xs:
            plt.xticks(integer_ticks(xs, width))  # counts of interactions: whole numbers
        self.refresh()


class WinRatePlot(Chart):
    @redrawn_on_resize
    def show(self, rate: list[tuple[int, float]]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("arena: B win rate")
        if rate:
            width = self.size.width or 40
            pts = downsample(rate, width)
            plt.plot([x for x, _ in pts], [y for _, y in pts], marker="braille")
            plt.xticks(integer_ticks([x for x, _ in pts], width))
            plt.ylim(0, 1)
        self.refresh()
