"""Monitoring: the product's figures over time (ftui.monitoring), one chart of the chosen figure
per model or mode, and a table of every figure per period and group.

Computed in a worker thread, only while the screen is visible. Closed periods' figures are kept
in the store (ftui.monitoring): a poll computes only the open period; the first view of a store
never shown before computes them all once (the head says so); r computes everything again."""

from __future__ import annotations

import math
from datetime import datetime

from ftui.screens.base import FtuiScreen
from ftui.widgets.footer import KeyFooter
from ftui.widgets.plotting import Chart, redrawn_on_resize
from ftui.widgets.run_plots import downsample
from ftui.widgets.section_bar import SectionBar
from ftui.widgets.table import RecordTable
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from ftui import fmt, monitoring

REFRESH_S = 10.0
# (attribute, chart title, cell format)
FIGURES = (
    ("latency_p50", "response time p50 (ms)", fmt.millis),
    ("latency_p95", "response time p95 (ms)", fmt.millis),
    ("tokens_per_answer", "tokens per answer", lambda v: fmt.figure(v, 3)),
    ("mean_rating", "mean rating", lambda v: fmt.figure(v, 3)),
    ("rated_share", "share rated", fmt.percent),
    ("accepted_share", "accepted (of reviewed)", fmt.percent),
    ("tool_success", "agent tool calls that succeeded", fmt.percent),
    ("turns_per_session", "turns per session", lambda v: fmt.figure(v, 3)),
    ("returning_users", "returning users", str),
    ("fallback_rate", "fallback rate", fmt.percent),
)
WINDOWS = (("8 weeks", 8), ("26 weeks", 26), ("all", None), ("2 weeks", 2))
COLUMNS = ("period", "group", "answers", "p50", "p95", "tok/ans", "rating", "rated", "accepted",
           "tools ok", "turns", "users", "return", "fallback")


def table_cells(row: monitoring.Row) -> list[str]:
    return [row.period.isoformat(), row.group, str(row.answers), fmt.millis(row.latency_p50),
            fmt.millis(row.latency_p95), fmt.figure(row.tokens_per_answer, 3),
            fmt.figure(row.mean_rating, 3), fmt.percent(row.rated_share),
            fmt.percent(row.accepted_share), fmt.percent(row.tool_success),
            fmt.figure(row.turns_per_session, 3), str(row.active_users),
            str(row.returning_users), fmt.percent(row.fallback_rate, 1)]


# one color per line, named so the legend line beside the chart can use the same ones
# (textual-plotext's own first six); plotext's legend was drawn over the lines
LINE_COLORS = ((0, 130, 200), (60, 180, 75), (230, 25, 75), (255, 225, 25), (245, 130, 48),
               (145, 30, 180))
PERCENT_FIGURES = {name for name, _, cell in FIGURES if cell is fmt.percent}


def axis_ticks(low: float, high: float, figure: str) -> tuple[list[float], list[str]]:
    """Round y ticks (steps of 1, 2 or 5 x 10^k) over low..high, labelled with the figure's
    unit: "1,100 ms", "65%", "3.2" (plotext's own "1110.4" read like a year)."""
    scale = 100.0 if figure in PERCENT_FIGURES else 1.0
    low, high = low * scale, high * scale
    if high - low < 1e-9:
        low, high = low - max(abs(low) * 0.1, 1.0), high + max(abs(high) * 0.1, 1.0)
    raw = (high - low) / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first, last = math.floor(low / step), math.ceil(high / step)
    ticks = [i * step for i in range(first, last + 1)]
    decimals = max(0, -math.floor(math.log10(step)))
    unit = "%" if scale != 1.0 else " ms" if figure.startswith("latency") else ""
    labels = [f"{t:,.{decimals}f}{unit}" for t in ticks]
    return [t / scale for t in ticks], labels


class TrendPlot(Chart):
    @redrawn_on_resize
    def show(self, report: monitoring.Report, figure: str, title: str) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        width = self.size.width or 60
        periods = sorted({r.period for r in report.rows})
        index = {p: i for i, p in enumerate(periods)}
        values: list[float] = []
        # more lines than six cannot be told apart
        for group, color in zip(report.groups(), LINE_COLORS, strict=False):
            points = [(index[p], float(v)) for p, v in report.series(figure, group)]
            if points:
                points = downsample(points, width)
                values += [y for _, y in points]
                plt.plot([x for x, _ in points], [y for _, y in points], color=color,
                         marker="braille")
        if periods:
            step = max(1, len(periods) // 4)
            ticks = list(range(0, len(periods), step))
            plt.xticks(ticks, [periods[i].strftime("%m-%d") for i in ticks])
        if values:
            ticks, labels = axis_ticks(min(values), max(values), figure)
            plt.ylim(ticks[0], ticks[-1])
            plt.yticks(ticks, labels)
        self.refresh()


def legend(report: monitoring.Report) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    for group, (r, g, b) in zip(report.groups(), LINE_COLORS, strict=False):
        text.append("⣿ ", style=f"rgb({r},{g},{b})")
        text.append(f"{group[:18]}  ")
    return text


class MonitoringScreen(FtuiScreen):
    DEFAULT_CSS = """
    #mon-head { height: 1; padding: 0 1; }
    #mon-legend { height: 1; padding: 0 1; }
    #mon-plot { height: 1fr; min-height: 8; }
    #mon-table { height: 1fr; min-height: 5; }
    """
    BINDINGS = [
        Binding("m", "next_figure", "Figure"),
        Binding("b", "next_grouping", "By"),
        Binding("p", "next_period", "Day/week"),
        Binding("w", "next_window", "Window"),
        Binding("r", "recompute", "Recompute"),
    ]
    HELP_GROUPS = {"next_figure": "Monitoring", "next_grouping": "Monitoring",
                   "next_period": "Monitoring", "next_window": "Monitoring",
                   "recompute": "Monitoring"}

    def __init__(self) -> None:
        super().__init__()
        self.figure = 0
        self.by = "model"
        self.period = "week"
        self.window = 0
        self.refresh_next = False  # r: compute the kept figures again
        self.report: monitoring.Report | None = None
        self.took_s = 0.0

    def compose(self) -> ComposeResult:
        yield SectionBar("monitoring")
        yield Static("", id="mon-head")
        yield Static("", id="mon-legend")
        yield TrendPlot(id="mon-plot")
        yield RecordTable(*COLUMNS, id="mon-table",
                          empty_text="no interactions yet: import some (ftui import FILE) or "
                                     "route the chat app through ftui proxy")
        yield KeyFooter()

    def on_mount(self) -> None:
        saved = self.recall("monitoring.view", {}, dict)
        self.by = saved.get("by") if saved.get("by") in monitoring.GROUPINGS else "model"
        self.period = saved.get("period") if saved.get("period") in monitoring.PERIODS else "week"
        self.figure = saved.get("figure") if saved.get("figure") in range(len(FIGURES)) else 0
        self.every(REFRESH_S, self.poll)
        self.poll()
        self.query_one("#mon-table").focus()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.poll()

    # ------------------------------------------------------------ reading (worker thread)

    def since(self) -> datetime | None:
        return monitoring.default_since(WINDOWS[self.window][1])

    def poll(self) -> None:
        if not self.is_current:
            return
        by, period, since = self.by, self.period, self.since()
        refresh, self.refresh_next = self.refresh_next, False

        def first_time(n: int, unit: str) -> None:  # worker thread: the head is the UI's
            self._from_thread(self.query_one("#mon-head", Static).update,
                              f"computing the figures of {n} {unit}s, by {by}: first time only "
                              "(then kept in the store)…")

        def fetch():
            started = datetime.now()
            report = monitoring.compute(self.store, period=period, by=by, since=since,
                                        refresh=refresh, progress=first_time)
            return report, (datetime.now() - started).total_seconds()

        if self.report is None or (self.report.by, self.report.period) != (by, period):
            self.query_one("#mon-head", Static).update(
                f"computing the figures per {period}, by {by}… (a big store takes a while "
                "the first time)")
        self.gather(fetch, self.show, group="monitoring", latest=True)

    def show(self, result) -> None:
        self.report, self.took_s = result
        self.render_view()

    def render_view(self) -> None:
        report = self.report
        if report is None:
            return
        name, title, _ = FIGURES[self.figure]
        if not report.exact_percentiles and name.startswith("latency"):
            title = title.replace(")", ", ~2%)")  # estimated percentiles; short, to fit 80
        self.query_one("#mon-head", Static).update(
            f"{WINDOWS[self.window][0]} · per {report.period} · by {report.by} · "
            f"m: {title} · {self.took_s:.2f} s")
        self.query_one("#mon-legend", Static).update(legend(report))
        self.query_one(TrendPlot).show(report, name, title)
        rows = sorted(report.rows, key=lambda r: (r.period, r.group), reverse=True)
        self.query_one(RecordTable).show_rows(
            (f"{r.period}|{r.group}", table_cells(r)) for r in rows)

    # ------------------------------------------------------------ keys

    def _changed(self, recompute: bool = True) -> None:
        self.remember("monitoring.view", {"by": self.by, "period": self.period,
                                          "figure": self.figure})
        if recompute:
            self.poll()
        else:
            self.render_view()

    def action_next_figure(self) -> None:
        self.figure = (self.figure + 1) % len(FIGURES)
        self._changed(recompute=False)

    def action_next_grouping(self) -> None:
        self.by = monitoring.GROUPINGS[(monitoring.GROUPINGS.index(self.by) + 1)
                                       % len(monitoring.GROUPINGS)]
        self._changed()

    def action_next_period(self) -> None:
        self.period = "day" if self.period == "week" else "week"
        self._changed()

    def action_next_window(self) -> None:
        self.window = (self.window + 1) % len(WINDOWS)
        self._changed()

    def action_recompute(self) -> None:
        self.refresh_next = True
        self.poll()
