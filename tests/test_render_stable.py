"""The picture of a chart or a table depends on its data and its final size only: not on the
order in which the frames, the idle measurement and the resizes happened, nor on the process's
string hash seed. Each of these was seen as a flaky snapshot (tests/test_snapshots.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ftui.widgets.run_plots import LossPlot
from ftui.widgets.table import RecordTable
from textual.app import App, ComposeResult

# ---------------------------------------------------------------- charts and the hash seed

CHARTS = r"""
import json
from ftui.widgets.ab_plots import RatingPlot
from ftui.widgets.dataset_plots import ModeBars, RatingBars
from ftui.widgets.run_plots import LossPlot

def picture(chart, width=35, height=12):
    chart.plt.plotsize(width, height)
    return chart.plt.build()

steps = list(range(1, 41))
train = [(s, 2.8 - 0.02 * s + 0.05 * (s % 3)) for s in steps]
pictures = []
bars = ModeBars()
bars.show({"agent": 15, "auto": 11, "chain_of_thought": 25, "multi_step": 19, "standard": 27})
pictures.append(picture(bars))
stars = RatingBars()
stars.show({"4": 40, "5": 62, "None": 3})
pictures.append(picture(stars))
loss = LossPlot()
loss.show(train, [(10, 2.5), (20, 2.3), (30, 2.1), (40, 1.9)])
pictures.append(picture(loss, 70, 20))
rating = RatingPlot()
rating.show([(i, 3 + (i % 5) / 10) for i in range(1, 60)], [(i, 3.5 + (i % 3) / 10)
                                                            for i in range(1, 60)])
pictures.append(picture(rating, 60, 14))
print(json.dumps(pictures))
"""


def _pictures(seed: int) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    out = subprocess.run([sys.executable, "-c", CHARTS], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return json.loads(out)


def test_charts_are_the_same_whatever_the_hash_seed():
    """plotext drops duplicate ticks and points through a set: the order it then draws them in
    (and so which label is shifted aside, which marker covers another) followed the string hash
    seed, different in every process ("agent  auto" / " agent auto" in F2)."""
    first = _pictures(0)
    for seed in (1, 2, 3):
        assert _pictures(seed) == first, f"PYTHONHASHSEED={seed} draws another picture than 0"


# ---------------------------------------------------------------- charts and resizes

STEPS = [(s, 3.0 - s / 200) for s in range(1, 401)]


class ChartApp(App):
    def __init__(self, early: bool) -> None:
        super().__init__()
        self.early = early

    def compose(self) -> ComposeResult:
        plot = LossPlot()
        if self.early:  # data before the widget has a size (a worker faster than the layout)
            plot.show(STEPS, [])
        yield plot


async def _chart_text(early: bool, sizes: list[tuple[int, int]]) -> str:
    app = ChartApp(early)
    async with app.run_test(size=sizes[0]) as pilot:
        await pilot.pause()
        plot = app.query_one(LossPlot)
        if not early:
            plot.show(STEPS, [])
        for size in sizes[1:]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
        await pilot.pause()
        return plot.render().plain


async def test_a_chart_is_drawn_for_its_final_size():
    """Ticks and downsampling follow the width: a chart shown before its layout (width unknown)
    or before a resize is drawn again for the size it ends with."""
    settled = await _chart_text(False, [(150, 20)])
    assert await _chart_text(True, [(150, 20)]) == settled
    assert await _chart_text(False, [(60, 20), (150, 20)]) == settled


# ---------------------------------------------------------------- tables


class TableApp(App):
    CSS = "RecordTable { height: 1fr; }"  # its size does not change with its rows (as in F8)

    def compose(self) -> ComposeResult:
        yield RecordTable("period", "group", "answers", id="t")


async def test_a_table_frame_drawn_before_measuring_does_not_stay():
    """DataTable measures new rows when idle but reuses the lines it drew before that (its line
    cache does not know the widths changed: textual#3533, #4470). A frame drawn in between (a
    busy machine) left every column at its header's width: "2026-1", "smoll"."""
    app = TableApp()
    async with app.run_test(size=(80, 10)) as pilot:
        table = app.query_one(RecordTable)
        await pilot.pause()
        table.show_rows([(1, ["2026-11-16", "smollm2:135m", "69"]),
                         (2, ["2026-11-16", "qwen2.5:7b-instruct", "64"])])
        app.screen._compositor.render_update(full=True)  # the frame a busy machine draws first
        await pilot.pause()  # idle: the columns are measured
        await pilot.pause()
        lines = [table.render_line(y).text for y in range(3)]
        assert "2026-11-16  smollm2:135m" in lines[1], lines
        assert "qwen2.5:7b-instruct" in lines[2], lines
