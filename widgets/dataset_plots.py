"""Small plots for the dataset preview: token-length histogram, the mode mix and the rating mix
(two charts: modes and stars are different things and never share an axis)."""

from __future__ import annotations

from ftui.widgets.plotting import Chart

SHORT_MODES = {"chain_of_thought": "cot", "multi_step": "multi", "standard": "std"}


class TokenHistogram(Chart):
    def show(self, tokens: list[int], exact: bool) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("tokens per example" + ("" if exact else " (approx.)"))
        if tokens:
            plt.hist(tokens, bins=min(30, max(5, len(set(tokens)))))
        self.refresh()


class ModeBars(Chart):
    def show(self, by_mode: dict[str, int]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("examples by mode")
        if by_mode:
            plt.bar([SHORT_MODES.get(m, m) for m in by_mode], list(by_mode.values()))
        self.refresh()


class RatingBars(Chart):
    def show(self, by_rating: dict[str, int]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("examples by rating")
        order = sorted(by_rating, key=lambda r: (r == "None", r))
        if order:
            plt.bar(["unrated" if r == "None" else f"{r}★" for r in order],
                    [by_rating[r] for r in order])
        self.refresh()
