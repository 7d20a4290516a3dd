"""Small plots for the dataset preview: token-length histogram and the mode / rating mix."""

from __future__ import annotations

from textual_plotext import PlotextPlot


class TokenHistogram(PlotextPlot):
    def show(self, tokens: list[int], exact: bool) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("tokens per example" + ("" if exact else " (approx.)"))
        if tokens:
            plt.hist(tokens, bins=min(30, max(5, len(set(tokens)))))
        self.refresh()


class MixBars(PlotextPlot):
    def show(self, by_mode: dict[str, int], by_rating: dict[str, int]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("mode / rating mix")
        labels = [m.replace("chain_of_thought", "cot").replace("multi_step", "multi")
                  for m in by_mode] + [f"★{r}" if r != "None" else "unrated" for r in by_rating]
        values = list(by_mode.values()) + list(by_rating.values())
        if values:
            plt.bar(labels, values)
        self.refresh()
