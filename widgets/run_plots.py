"""Live plots of a training run: loss (raw, smoothed, eval) and learning rate, downsampled to the
widget's width so a 50k-step run draws as fast as a 50-step one."""

from __future__ import annotations

import math

from ftui.widgets.plotting import Chart, redrawn_on_resize


def downsample(points: list[tuple[int, float]], width: int) -> list[tuple[int, float]]:
    """At most ~2 points per column: averages of consecutive buckets."""
    limit = max(2 * width, 10)
    if len(points) <= limit:
        return points
    size = len(points) / limit
    out = []
    for b in range(limit):
        chunk = points[int(b * size):int((b + 1) * size)] or points[-1:]
        out.append((chunk[-1][0], sum(v for _, v in chunk) / len(chunk)))
    return out


def smooth(points: list[tuple[int, float]], alpha: float = 0.1) -> list[tuple[int, float]]:
    """Exponential moving average, as TensorBoard's smoothing slider does."""
    out, avg = [], None
    for step, value in points:
        avg = value if avg is None else alpha * value + (1 - alpha) * avg
        out.append((step, avg))
    return out


def integer_ticks(steps: list[int], width: int) -> list[int]:
    """Whole-number ticks for a step axis (plotext would put 2.5 on a 5-step run), about one
    per 12 columns."""
    if not steps:
        return []
    lo, hi = min(steps), max(steps)
    every = max(1, math.ceil((hi - lo) / max(1, width // 12)))
    return list(range(lo, hi + 1, every))


class LossPlot(Chart):
    @redrawn_on_resize
    def show(self, train: list[tuple[int, float]], evals: list[tuple[int, float]],
             overlay: dict[str, list[tuple[int, float]]] | None = None) -> None:
        """One run's raw, smoothed and eval loss; with `overlay` (label -> train loss), the
        smoothed curves of several runs instead, to compare them."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        width = self.size.width or 60
        steps: list[int] = []
        if overlay:
            plt.title("loss (smoothed), marked runs")
            for label, series in overlay.items():
                if series:
                    sm = downsample(smooth(series), width)
                    steps += [s for s, _ in sm]
                    plt.plot([s for s, _ in sm], [v for _, v in sm], label=label,
                             marker="braille")
        else:
            plt.title("loss")
            if train:
                raw = downsample(train, width)
                plt.plot([s for s, _ in raw], [v for _, v in raw], label="train", marker="dot")
                sm = downsample(smooth(train), width)
                plt.plot([s for s, _ in sm], [v for _, v in sm], label="smoothed",
                         marker="braille")
                steps += [s for s, _ in raw]
            if evals:
                plt.plot([s for s, _ in evals], [v for _, v in evals], label="eval", marker="hd")
                steps += [s for s, _ in evals]
        if steps:
            plt.xticks(integer_ticks(steps, width))
        self.refresh()


class LrPlot(Chart):
    @redrawn_on_resize
    def show_curves(self, title: str, curves: dict[str, list[tuple[int, float]]]) -> None:
        """A preference run's own curves in this panel instead of the learning rate (rewards
        of chosen and rejected, margins, validation preference accuracy; KL for KTO)."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        width = self.size.width or 40
        steps: list[int] = []
        for label, series in curves.items():
            if series:
                pts = downsample(series, width)
                plt.plot([s for s, _ in pts], [v for _, v in pts], label=label,
                         marker="braille")
                steps += [s for s, _ in pts]
        if steps:
            plt.xticks(integer_ticks(steps, width))
        self.refresh()

    @redrawn_on_resize
    def show(self, lr: list[tuple[int, float]]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("learning rate")
        if lr:
            width = self.size.width or 40
            pts = downsample(lr, width)
            plt.plot([s for s, _ in pts], [v for _, v in pts], marker="braille")
            plt.xticks(integer_ticks([s for s, _ in pts], width))
        self.refresh()
