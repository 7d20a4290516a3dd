"""Live plots of a training run: loss (raw, smoothed, eval) and learning rate, downsampled to the
widget's width so a 50k-step run draws as fast as a 50-step one."""

from __future__ import annotations

from textual_plotext import PlotextPlot


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


class LossPlot(PlotextPlot):
    def show(self, train: list[tuple[int, float]], evals: list[tuple[int, float]]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("loss")
        width = self.size.width or 60
        if train:
            raw = downsample(train, width)
            plt.plot([s for s, _ in raw], [v for _, v in raw], label="train", marker="dot")
            sm = downsample(smooth(train), width)
            plt.plot([s for s, _ in sm], [v for _, v in sm], label="smoothed", marker="braille")
        if evals:
            plt.plot([s for s, _ in evals], [v for _, v in evals], label="eval", marker="hd")
        self.refresh()


class LrPlot(PlotextPlot):
    def show(self, lr: list[tuple[int, float]]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("learning rate")
        if lr:
            pts = downsample(lr, self.size.width or 40)
            plt.plot([s for s, _ in pts], [v for _, v in pts], marker="braille")
        self.refresh()
